// test/bench/portal-timing: does the answer's timing tell an attacker whether a portal link
// exists? Sends code guesses (POST /m/TOKEN/verify) for three kinds of target, interleaved:
// a live item with a wrong code, an unknown token, and a recalled (crypto-shredded) item;
// prints each kind's status and latency p50/p90 and the largest p50 difference. Each guess
// comes from its own loopback address (127.0.x.y), as a distributed attacker's would, so
// the per-IP rate limit does not turn the figures into 429s.
//
//   npm run bench:portal-timing        (BENCH_ROUNDS=300 by default)

import { request } from 'node:https';
import { TestDaemon } from '../helpers/daemon.js';
import { startSink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';
import { machine } from './load.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);

interface Answer {
  status: number;
  body: string;
  cookies: string[];
}

function https(port: number, method: string, path: string, opts: { cookie?: string; form?: Record<string, string>; from?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        rejectUnauthorized: false,
        ...(opts.from ? { localAddress: opts.from } : {}),
        headers: { ...(opts.cookie ? { cookie: opts.cookie } : {}), ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, cookies: (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const patient = await startSink({ starttls: true });
const d = new TestDaemon({ deliveryToml: ['paused = false', '[delivery.routes]', `"patient.test" = "127.0.0.1:${patient.port}"`].join('\n') });
await d.start();
try {
  const pass = await d.addApp('bench');
  const link = async (to: string) => {
    const info = await transport(d.ports.submission, { secure: false, user: 'bench', pass }).sendMail({ from: 'doc@clinic.test', to, subject: '[secure] results', text: 'x' });
    const notice = await patient.next((r) => r.to[0] === to && /sent you a secure message/.test(r.data.toString()));
    return { id: info.response.split(' ').pop()!, path: /https:\/\/127\.0\.0\.1:8443(\/m\/[A-Za-z0-9_-]+)/.exec(notice.data.toString())![1]! };
  };
  const live = await link('live@patient.test');
  const recalled = await link('gone@patient.test');
  await d.cliJson(['portal', 'recall', recalled.id, '--reason', 'timing bench']);

  // a browser session on the live item with a code requested, as an attacker holding the link would have
  const landing = await https(d.ports.portal, 'GET', live.path);
  const cookie = landing.cookies.join('; ');
  const csrf = /name="csrf" value="([^"]+)"/.exec(landing.body)![1]!;
  await https(d.ports.portal, 'POST', `${live.path}/code`, { cookie, form: { csrf } });

  const targets = { 'wrong code': `${live.path}/verify`, 'unknown link': '/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/verify', 'recalled link': `${recalled.path}/verify` };
  const kinds = Object.keys(targets) as Array<keyof typeof targets>;
  const times: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, []]));
  const statuses: Record<string, Set<number>> = Object.fromEntries(kinds.map((k) => [k, new Set<number>()]));
  for (let round = 0; round < ROUNDS; round++) {
    // a different order each round, so drift in the machine's load falls on every kind alike
    const order = [...kinds].sort(() => Math.random() - 0.5);
    for (const [i, kind] of order.entries()) {
      const from = `127.0.${1 + (round % 250)}.${1 + ((Math.floor(round / 250) * 3 + i) % 250)}`;
      const t0 = performance.now();
      const a = await https(d.ports.portal, 'POST', targets[kind], { cookie, form: { csrf, code: '000000' }, from });
      times[kind]!.push(performance.now() - t0);
      statuses[kind]!.add(a.status);
    }
  }
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  console.log(`portal timing bench: ${ROUNDS} guesses of each kind, interleaved, each from its own address; ${machine()}`);
  for (const k of kinds) console.log(`${k.padEnd(14)} status ${[...statuses[k]!].join(',')}  p50 ${pct(times[k]!, 50).toFixed(2)} ms  p90 ${pct(times[k]!, 90).toFixed(2)} ms`);
  const p50s = kinds.map((k) => pct(times[k]!, 50));
  console.log(`largest p50 difference: ${(Math.max(...p50s) - Math.min(...p50s)).toFixed(2)} ms`);
} finally {
  await d.cleanup();
  await patient.close();
}
process.exit(0);
