// test/bench/console: with 100,000 messages in the queue, the console's time to first frame
// (home with the queue counts) and keypress-to-frame latency in the queue table (j: next
// row; G: the last row, which needs a new page from the daemon). The console runs in tmux
// and the screen is read with capture-pane every 5 ms, so figures carry about 5 ms of
// sampling error.
//
//   npm run bench:console

import Database from 'better-sqlite3';
import { join } from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { TmuxSession } from '../helpers/tmux.js';
import { machine } from './load.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const PRESSES = 30;
const SESSION = `sealpost-bench-console-${process.pid}`;
let term: TmuxSession | null = null;
/** Milliseconds until the screen matches, sampled every 5 ms. */
const until = async (match: (t: string) => boolean): Promise<number> => (await term!.until(match, 'the expected screen', { timeoutMs: 30_000, pollMs: 5 })).ms;

const d = new TestDaemon();
await d.start();
try {
  const db = new Database(join(d.dir, 'var', 'sealpost.db'));
  db.pragma('busy_timeout = 10000');
  db.transaction(() => {
    const m = db.prepare("INSERT INTO messages (id, received_at, app, stream, sender, size, message_id, client_ip) VALUES (?, ?, 'bench', 'transactional', 'doc@clinic.test', 10240, '<m@x>', '127.0.0.1')");
    const r = db.prepare("INSERT INTO recipients (message_id, address, domain, state, next_attempt_at, updated_at) VALUES (?, ?, 'example.org', 'deferred', ?, 0)");
    const far = Date.now() + 86_400_000;
    for (let i = 0; i < ROWS; i++) {
      const id = `B${String(i).padStart(13, '0')}`;
      m.run(id, 1_700_000_000_000 + i);
      r.run(id, `patient${i}@example.org`, far);
    }
  })();
  db.close();

  const t0 = performance.now();
  term = new TmuxSession(SESSION, `${process.execPath} ${join(process.cwd(), 'dist', 'console', 'bin.js')} console --socket ${d.socket}`, { cols: 140, rows: 40 });
  await until((t) => new RegExp(`depth ${ROWS}\\b`).test(t));
  const firstFrame = performance.now() - t0;
  term.keys(':queue', 'Enter');
  const queueFrame = await until((t) => t.includes(`1/${ROWS}`) && t.includes('B0000000000000'));
  const latencies: number[] = [];
  for (let i = 2; i <= PRESSES + 1; i++) {
    term.keys('j');
    latencies.push(await until((t) => t.includes(` ${i}/${ROWS}`) || t.includes(`\n${i}/${ROWS}`)));
  }
  term.keys('G');
  const last = `B${String(ROWS - 1).padStart(13, '0')}`;
  const jump = await until((t) => t.includes(`${ROWS}/${ROWS}`) && t.includes(last));
  latencies.sort((a, b) => a - b);
  console.log(`console bench: ${ROWS.toLocaleString('en')} queued messages, tmux 140x40; ${machine()}`);
  console.log(`first frame (home with queue counts) ${firstFrame.toFixed(0)} ms; :queue to first table ${queueFrame.toFixed(0)} ms`);
  console.log(`keypress j to frame: p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(0)} ms, p99 ${latencies[latencies.length - 1]!.toFixed(0)} ms (${PRESSES} presses); G to the last row (new page) ${jump.toFixed(0)} ms`);
} finally {
  term?.kill();
  await d.cleanup();
}
process.exit(0);
