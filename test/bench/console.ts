// test/bench/console: with 100,000 messages in the queue, the console's time to first frame
// (home with the queue counts) and keypress-to-frame latency in the queue table (j: next
// row; G: the last row, which needs a new page from the daemon). The console runs in tmux
// and the screen is read with capture-pane every 5 ms, so figures carry about 5 ms of
// sampling error.
//
//   npm run bench:console

import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { TestDaemon } from '../helpers/daemon.js';
import { machine } from './load.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const PRESSES = 30;
const SESSION = `sealpost-bench-console-${process.pid}`;
const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });

async function until(match: (t: string) => boolean): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (match(tmux('capture-pane', '-p', '-t', SESSION))) return performance.now() - t0;
    if (performance.now() - t0 > 30_000) throw new Error('the console did not draw the expected screen in 30 s');
    await delay(5);
  }
}

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
  tmux('new-session', '-d', '-s', SESSION, '-x', '140', '-y', '40', `${process.execPath} ${join(process.cwd(), 'dist', 'console', 'bin.js')} console --socket ${d.socket}`);
  await until((t) => new RegExp(`depth ${ROWS}\\b`).test(t));
  const firstFrame = performance.now() - t0;
  tmux('send-keys', '-t', SESSION, ':queue', 'Enter');
  const queueFrame = await until((t) => t.includes(`1/${ROWS}`) && t.includes('B0000000000000'));
  const latencies: number[] = [];
  for (let i = 2; i <= PRESSES + 1; i++) {
    tmux('send-keys', '-t', SESSION, 'j');
    latencies.push(await until((t) => t.includes(` ${i}/${ROWS}`) || t.includes(`\n${i}/${ROWS}`)));
  }
  tmux('send-keys', '-t', SESSION, 'G');
  const last = `B${String(ROWS - 1).padStart(13, '0')}`;
  const jump = await until((t) => t.includes(`${ROWS}/${ROWS}`) && t.includes(last));
  latencies.sort((a, b) => a - b);
  console.log(`console bench: ${ROWS.toLocaleString('en')} queued messages, tmux 140x40; ${machine()}`);
  console.log(`first frame (home with queue counts) ${firstFrame.toFixed(0)} ms; :queue to first table ${queueFrame.toFixed(0)} ms`);
  console.log(`keypress j to frame: p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(0)} ms, p99 ${latencies[latencies.length - 1]!.toFixed(0)} ms (${PRESSES} presses); G to the last row (new page) ${jump.toFixed(0)} ms`);
} finally {
  try {
    tmux('kill-session', '-t', SESSION);
  } catch {
    // gone
  }
  await d.cleanup();
}
process.exit(0);
