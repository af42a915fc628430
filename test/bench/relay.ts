// test/bench/relay: end-to-end messages per second and accept-to-delivered latency (p50,
// p99), from the intake bench's load client (10 pooled STARTTLS connections, 10 KB) through
// Sealpost to a STARTTLS sink, beside Postfix (smtpd and smtp both at the `encrypt` level,
// TLS connection reuse on) relaying the same load to the same sink in the same run.
// Sealpost runs as shipped: encryption at rest, group commit, DKIM (RSA + Ed25519) and the
// audit chain, info-level logging. BENCH_DKIM_ED25519=1 adds the Ed25519 signature.
//
//   npm run bench:relay
//   BENCH_MESSAGES=3000 BENCH_SKIP_POSTFIX=1 node dist/test/bench/relay.js
//   BENCH_RATE=20 BENCH_MESSAGES=600 node dist/test/bench/relay.js   (latency at a fixed 20 msg/s)

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TestDaemon } from '../helpers/daemon.js';
import { machine, processCpuSeconds, runLoad } from './load.js';
import { startPostfix } from './postfix.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 5000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined;
const SINK_PORT = 10026;

interface Report {
  arrivals: Array<[number, number]>;
  tlsSessions: number;
  plainMessages: number;
}

class SinkProcess {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<SinkProcess> {
    const child = fork(fileURLToPath(new URL('./relay-sink.js', import.meta.url)), [String(SINK_PORT)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`sink exited ${code}`)));
    });
    return new SinkProcess(child);
  }

  report(): Promise<Report> {
    return new Promise((resolve) => {
      this.child.once('message', (m) => resolve(m as Report));
      this.child.send({ cmd: 'report' });
    });
  }

  reset(): void {
    this.child.send({ cmd: 'reset' });
  }

  pid(): number {
    return this.child.pid!;
  }

  stop(): void {
    this.child.send({ cmd: 'stop' });
  }
}

interface Figures {
  rate: number;
  p50: number;
  p99: number;
  delivered: number;
  seconds: number;
  acceptRate: number;
  plain: number;
  serverCpuMsPerMsg: number | null;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function measure(sink: SinkProcess, port: number, auth: { user: string; pass: string } | null, from: string, serverPid: (() => number) | null): Promise<Figures> {
  const accepted = new Map<number, number>();
  let t0 = 0;
  let cpu0 = 0;
  const load = await runLoad({
    port,
    ...(auth ?? {}),
    connections: CONNECTIONS,
    messages: MESSAGES,
    from,
    sequence: true,
    ...(RATE ? { ratePerSecond: RATE } : {}),
    onWarm: () => {
      sink.reset();
      t0 = Date.now();
      if (serverPid) cpu0 = processCpuSeconds(serverPid());
    },
    onAccepted: (i) => accepted.set(i, Date.now()),
  });
  if (load.failed > 0) throw new Error(`${load.failed} submissions failed: ${load.firstError}`);
  // the sink is another process: ask it until every accepted message has arrived (or 120 s)
  let report = await sink.report();
  const deadline = Date.now() + 120_000;
  while (report.arrivals.filter(([s]) => s >= 0).length < accepted.size && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    report = await sink.report();
  }
  const arrivals = report.arrivals.filter(([s]) => s >= 0);
  const last = Math.max(...arrivals.map(([, t]) => t));
  const latencies = arrivals.map(([s, t]) => t - (accepted.get(s) ?? t)).sort((a, b) => a - b);
  const seconds = (last - t0) / 1000;
  return {
    rate: arrivals.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    delivered: arrivals.length,
    seconds,
    acceptRate: load.rate,
    plain: report.plainMessages,
    serverCpuMsPerMsg: serverPid ? ((processCpuSeconds(serverPid()) - cpu0) / arrivals.length) * 1000 : null,
  };
}

function line(name: string, f: Figures): string {
  const cpu = f.serverCpuMsPerMsg === null ? '' : `, server CPU ${f.serverCpuMsPerMsg.toFixed(2)} ms/msg`;
  return `${name.padEnd(9)} ${f.rate.toFixed(0).padStart(5)} msgs/s end to end  latency p50 ${f.p50} ms  p99 ${f.p99} ms  (${f.delivered}/${MESSAGES} delivered in ${f.seconds.toFixed(2)} s; accepted at ${f.acceptRate.toFixed(0)}/s; ${f.plain} in clear${cpu})`;
}

console.log(`relay bench: ${MESSAGES} messages of 10 KB, ${CONNECTIONS} pooled STARTTLS connections in, STARTTLS out to one sink${RATE ? `, offered at ${RATE} msgs/s` : ""}; ${machine()}`);
const sink = await SinkProcess.start();
try {
  const d = new TestDaemon({
    ...(process.env.BENCH_DKIM_ED25519 === '1' ? { extraToml: '[dkim]\ned25519 = true' } : {}),
    deliveryToml: ['paused = false', 'domain_concurrency = 20', '[delivery.transactional]', 'concurrency = 20', '[delivery.routes]', `"*" = "127.0.0.1:${SINK_PORT}"`].join('\n'),
  });
  await d.start();
  let sp: Figures;
  try {
    const pass = await d.addApp('bench');
    sp = await measure(sink, d.ports.submission, { user: 'bench', pass }, 'bench@clinic.test', () => d.child!.pid!);
  } finally {
    await d.cleanup();
  }
  console.log(line('sealpost', sp));
  if (!process.env.BENCH_SKIP_POSTFIX) {
    const pf = await startPostfix('/tmp/sealpost-bench-postfix', 10587, SINK_PORT, { sinkTls: true, externalSink: true });
    let pfFig: Figures;
    try {
      pfFig = await measure(sink, pf.port, null, 'bench@bench.localdomain', null);
    } finally {
      await pf.stop();
    }
    console.log(line('postfix', pfFig));
    console.log(`ratio     ${(sp.rate / pfFig.rate).toFixed(2)}x end-to-end rate (sealpost / postfix, same client, same sink, same run)`);
  }
} finally {
  sink.stop();
}
process.exit(0);
