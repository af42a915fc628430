// test/bench/portal-timing: does the answer's timing tell an attacker whether a portal link
// exists? Sends guesses, interleaved in random order: one-time codes (POST /m/TOKEN/verify)
// to a live item, an unknown link and a recalled (crypto-shredded) item, and passphrases
// (POST /m/TOKEN/passphrase) to live passphrase items (a fresh one before the 5-try lock)
// and an unknown link; prints each
// kind's status and latency p50/p90 and the largest p50 difference within each group. Each
// guess comes from its own loopback address (127.0.x.y), as a distributed attacker's would,
// so the per-IP rate limit does not turn the figures into 429s.
//
//   npm run bench:portal-timing        (BENCH_ROUNDS=300 by default)

import { TestDaemon } from '../helpers/daemon.js';
import { PortalClient } from '../helpers/portal-client.js';
import { startSink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';
import { machine } from './load.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);
const UNKNOWN = '/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

const patient = await startSink({ starttls: true });
const d = new TestDaemon({ deliveryToml: ['paused = false', '[delivery.routes]', `"patient.test" = "127.0.0.1:${patient.port}"`].join('\n') });
await d.start();
try {
  const pass = await d.addApp('bench');
  const link = async (to: string, headers: Record<string, string> = {}) => {
    const info = await transport(d.ports.submission, { secure: false, user: 'bench', pass }).sendMail({ from: 'doc@clinic.test', to, subject: '[secure] results', text: 'x', headers });
    const notice = await patient.next((r) => r.to[0] === to && /sent you a secure message/.test(r.data.toString()));
    return { id: info.response.split(' ').pop()!, path: /https:\/\/127\.0\.0\.1:8443(\/m\/[A-Za-z0-9_-]+)/.exec(notice.data.toString())![1]! };
  };
  const live = await link('live@patient.test');
  // five wrong passphrases lock an item for 15 minutes (429): a fresh passphrase item for every four rounds
  const passphraseItems: string[] = [];
  for (let i = 0; i < Math.ceil(ROUNDS / 4); i++) passphraseItems.push((await link(`pp${i}@patient.test`, { 'X-Sealpost-Portal-Passphrase': 'correct horse battery' })).path);
  const recalled = await link('gone@patient.test');
  await d.cliJson(['portal', 'recall', recalled.id, '--reason', 'timing bench']);

  // one browser, holding the live link and a code requested for it, as an attacker with the link would
  const browser = new PortalClient(d.ports.portal);
  await browser.get(live.path);
  await browser.post(`${live.path}/code`);

  const kinds: Array<{ group: string; name: string; path: (round: number) => string; fields: Record<string, string> }> = [
    { group: 'code', name: 'wrong code', path: () => `${live.path}/verify`, fields: { code: '000000' } },
    { group: 'code', name: 'unknown link', path: () => `${UNKNOWN}/verify`, fields: { code: '000000' } },
    { group: 'code', name: 'recalled link', path: () => `${recalled.path}/verify`, fields: { code: '000000' } },
    { group: 'passphrase', name: 'wrong passphrase', path: (round) => `${passphraseItems[Math.floor(round / 4)]!}/passphrase`, fields: { passphrase: 'guess' } },
    { group: 'passphrase', name: 'unknown link', path: () => `${UNKNOWN}/passphrase`, fields: { passphrase: 'guess' } },
  ];
  const times = kinds.map(() => [] as number[]);
  const statuses = kinds.map(() => new Set<number>());
  for (let round = 0; round < ROUNDS; round++) {
    // a different order each round, so drift in the machine's load falls on every kind alike
    const order = kinds.map((_, i) => i).sort(() => Math.random() - 0.5);
    for (const [slot, k] of order.entries()) {
      browser.from = `127.0.${1 + (round % 250)}.${1 + ((Math.floor(round / 250) * kinds.length + slot) % 250)}`;
      const t0 = performance.now();
      const a = await browser.post(kinds[k]!.path(round), kinds[k]!.fields);
      times[k]!.push(performance.now() - t0);
      statuses[k]!.add(a.status);
    }
  }
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  console.log(`portal timing bench: ${ROUNDS} guesses of each kind, interleaved, each from its own address; ${machine()}`);
  for (const group of ['code', 'passphrase']) {
    const inGroup = kinds.map((k, i) => ({ k, i })).filter(({ k }) => k.group === group);
    for (const { k, i } of inGroup) console.log(`${group.padEnd(11)} ${k.name.padEnd(17)} status ${[...statuses[i]!].join(',')}  p50 ${pct(times[i]!, 50).toFixed(2)} ms  p90 ${pct(times[i]!, 90).toFixed(2)} ms`);
    const p50s = inGroup.map(({ i }) => pct(times[i]!, 50));
    console.log(`${group.padEnd(11)} largest p50 difference: ${(Math.max(...p50s) - Math.min(...p50s)).toFixed(2)} ms`);
  }
} finally {
  await d.cleanup();
  await patient.close();
}
process.exit(0);
