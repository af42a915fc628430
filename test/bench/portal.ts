// test/bench/portal: requests per second and latency (p50, p99) for the portal's pick-up
// page (the notice link: item lookup, a session, the page, an audit entry) under 50
// concurrent HTTPS clients with keep-alive, for BENCH_SECONDS.
//
//   npm run bench:portal

import { Agent, request } from 'node:https';
import { TestDaemon } from '../helpers/daemon.js';
import { startSink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';
import { machine, processCpuSeconds } from './load.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);

const patient = await startSink({ starttls: true });
const d = new TestDaemon({
  portalToml: 'requests_per_minute = 1000000',
  deliveryToml: ['paused = false', '[delivery.routes]', `"patient.test" = "127.0.0.1:${patient.port}"`].join('\n'),
});
await d.start();
try {
  const pass = await d.addApp('bench');
  await transport(d.ports.submission, { secure: false, user: 'bench', pass }).sendMail({ from: 'doc@clinic.test', to: 'pat@patient.test', subject: '[secure] results', text: 'x' });
  const notice = await patient.next((r) => /sent you a secure message/.test(r.data.toString()));
  const path = /https:\/\/127\.0\.0\.1:8443(\/m\/[A-Za-z0-9_-]+)/.exec(notice.data.toString())![1]!;
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS, rejectUnauthorized: false });
  const get = () =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: d.ports.portal, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  for (let i = 0; i < CLIENTS; i++) await get(); // warm: open the connections
  const latencies: number[] = [];
  let bad = 0;
  const pid = d.child!.pid!;
  const cpu0 = processCpuSeconds(pid);
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const status = await get();
        latencies.push(performance.now() - t0);
        if (status !== 200) bad++;
      }
    }),
  );
  const cpu = processCpuSeconds(pid) - cpu0;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1);
  console.log(`portal bench: pick-up page, ${CLIENTS} concurrent HTTPS clients (keep-alive), ${SECONDS} s; ${machine()}`);
  console.log(`${(latencies.length / SECONDS).toFixed(0)} requests/s  latency p50 ${pct(50)} ms  p99 ${pct(99)} ms  (${latencies.length} requests, ${bad} not 200, daemon CPU ${((cpu / latencies.length) * 1000).toFixed(2)} ms/request)`);
  agent.destroy();
} finally {
  await d.cleanup();
  await patient.close();
}
process.exit(0);
