// The benches' load client: nodemailer's pooled SMTP transport (STARTTLS, optional AUTH),
// a fixed number of connections kept busy, 10 KB messages. Reports messages per second
// accepted (250 received) and the client's own CPU time.

import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { transport } from '../helpers/smtp.js';

export interface LoadResult {
  messages: number;
  failed: number;
  seconds: number;
  rate: number;
  clientCpuS: number;
  firstError: string | null;
}

const BODY_10K = (() => {
  const line = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n';
  return line.repeat(Math.ceil(10_240 / line.length)).slice(0, 10_240);
})();

export async function runLoad(opts: {
  port: number;
  user?: string;
  pass?: string;
  connections: number;
  messages: number;
  from: string;
  /** Recipient of message i (default patient<i % 500>@example.org). */
  to?: (i: number) => string;
  /** Adds an `X-Bench-Seq: i` header, so a sink can match arrivals to submissions. */
  sequence?: boolean;
  /** Called with each message's index when its 250 arrives. */
  onAccepted?: (i: number, response: string) => void;
  /** Send at most this many messages per second (a paced run, for latency at a fixed load); default: as fast as possible. */
  ratePerSecond?: number;
  /** Messages sent before the clock starts, one per connection (default true). */
  warm?: boolean;
  onWarm?: () => void;
}): Promise<LoadResult> {
  const t = transport(opts.port, { secure: false, user: opts.user, pass: opts.pass, pool: true, maxConnections: opts.connections });
  // One pre-built 10 KB message sent raw: the client spends its CPU on SMTP and TLS, not on
  // composing MIME, so the figure is the server's.
  const raw = Buffer.from(
    `From: <${opts.from}>\r\nTo: <patient@example.org>\r\nSubject: bench\r\nDate: ${new Date().toUTCString()}\r\n` +
      `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${BODY_10K}`,
  );
  const to = opts.to ?? ((i: number) => `patient${i % 500}@example.org`);
  const mail = (i: number) => ({ envelope: { from: opts.from, to: [to(i)] }, raw: opts.sequence ? Buffer.concat([Buffer.from(`X-Bench-Seq: ${i}\r\n`), raw]) : raw });
  // warm up: open every connection (TLS handshake, AUTH) before the clock starts
  if (opts.warm !== false) await Promise.all(Array.from({ length: opts.connections }, (_, i) => t.sendMail(mail(-1 - i))));
  opts.onWarm?.();
  let next = 0;
  let failed = 0;
  let firstError: string | null = null;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const started = performance.now();
  const worker = async () => {
    while (next < opts.messages) {
      const i = next++;
      if (opts.ratePerSecond) {
        // message i is due at i / rate seconds: a fixed offered load, not a closed loop
        const wait = started + (i * 1000) / opts.ratePerSecond - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      try {
        const info = await t.sendMail(mail(i));
        opts.onAccepted?.(i, info.response);
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.connections * 2 }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  t.close();
  return { messages: opts.messages, failed, seconds, rate: (opts.messages - failed) / seconds, clientCpuS: (cpu.user + cpu.system) / 1e6, firstError };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

export function machine(): string {
  return `${cpus().length} cores, ${cpus()[0]?.model ?? '?'}, node ${process.version}`;
}
