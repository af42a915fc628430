// test/bench/intake: submissions per second accepted durably by Sealpost (STARTTLS + AUTH,
// 10 KB messages, 20 pooled connections), beside Postfix on loopback (STARTTLS, relaying to
// smtp-sink) under the same load client in the same run. Prints both figures and the ratio.
//
//   npm run build && node dist/test/bench/intake.js
//   BENCH_MESSAGES=8000 BENCH_CONNECTIONS=20 BENCH_SKIP_POSTFIX=1 node dist/test/bench/intake.js

import { TestDaemon } from '../helpers/daemon.js';
import { machine, processCpuSeconds, runLoad, type LoadResult } from './load.js';
import { startPostfix } from './postfix.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 6000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);

function line(name: string, r: LoadResult, serverCpu: number | null): string {
  const perMsg = serverCpu === null ? '' : `, server CPU ${((serverCpu / (r.messages - r.failed)) * 1000).toFixed(2)} ms/msg`;
  return `${name.padEnd(9)} ${r.rate.toFixed(0).padStart(6)} msgs/s  (${r.messages - r.failed}/${r.messages} in ${r.seconds.toFixed(2)} s, client CPU ${r.clientCpuS.toFixed(1)} s${perMsg})${r.firstError ? ` first error: ${r.firstError}` : ''}`;
}

async function benchSealpost(): Promise<{ r: LoadResult; cpu: number; batches: string }> {
  const d = new TestDaemon();
  await d.start();
  try {
    const pass = await d.addApp('bench');
    const pid = d.child!.pid!;
    let cpu0 = 0;
    const r = await runLoad({
      port: d.ports.submission,
      user: 'bench',
      pass,
      connections: CONNECTIONS,
      messages: MESSAGES,
      from: 'bench@clinic.test',
      onWarm: () => (cpu0 = processCpuSeconds(pid)),
    });
    const cpu = processCpuSeconds(pid) - cpu0;
    const s = await d.cliJson<{ queue: { depth: number }; commits: { batches: number; units: number } }>(['status']);
    return { r, cpu, batches: `queue depth after run ${s.queue.depth}, ${(s.commits.units / s.commits.batches).toFixed(1)} units per commit` };
  } finally {
    await d.cleanup();
  }
}

async function benchPostfix(): Promise<LoadResult | null> {
  if (process.env.BENCH_SKIP_POSTFIX) return null;
  const pf = await startPostfix('/tmp/sealpost-bench-postfix', 10587, 10025);
  try {
    return await runLoad({ port: pf.port, connections: CONNECTIONS, messages: MESSAGES, from: 'bench@bench.localdomain' });
  } finally {
    await pf.stop();
  }
}

console.log(`intake bench: ${MESSAGES} messages of 10 KB, ${CONNECTIONS} pooled STARTTLS connections; ${machine()}`);
const sp = await benchSealpost();
console.log(line('sealpost', sp.r, sp.cpu), `; ${sp.batches}`);
const pf = await benchPostfix();
if (pf) {
  console.log(line('postfix', pf, null));
  console.log(`ratio     ${(sp.r.rate / pf.rate).toFixed(2)}x  (sealpost / postfix, same client, same run)`);
}
process.exit(0);
