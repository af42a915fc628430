// Recipient MX stand-ins: real SMTP servers (smtp-server) on loopback, with or without
// STARTTLS, answering as scripted, recording what they received and whether it came over TLS.

import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { generateSelfSigned } from '../../daemon/tls/certificate.js';

export interface Received {
  from: string;
  to: string[];
  data: Buffer;
  secure: boolean;
  /** The name the client gave in EHLO/HELO. */
  helo: string;
  /** The client's address (which source IP the sender used). */
  remote: string;
  /** MAIL FROM parameters (BODY=8BITMIME ...). */
  mailArgs: Record<string, unknown>;
}

export interface SinkOptions {
  starttls: boolean;
  reply?: (n: number) => { code: number; message: string } | null;
  /** PEM certificate and key to present (default: a fresh self-signed one for mx.test). */
  tls?: { key: string; cert: string };
  host?: string;
  port?: number;
  /** Leave 8BITMIME out of the EHLO answer (a 7-bit-only server). */
  no8BitMime?: boolean;
  /** Called when a message's data has fully arrived, before answering; the answer waits for it. */
  beforeReply?: (r: Received) => Promise<void> | void;
}

export interface Sink {
  port: number;
  received: Received[];
  sessions: number;
  /** Connections open now, and the most ever open at once. */
  open: number;
  maxOpen: number;
  /** Resolves with the first message (already received, or still to come) that matches. */
  next: (match: (r: Received) => boolean) => Promise<Received>;
  close: () => Promise<void>;
}

export async function startSink(opts: SinkOptions): Promise<Sink> {
  const pair = opts.tls ?? (await generateSelfSigned('mx.test'));
  const waiters = new Set<{ match: (r: Received) => boolean; resolve: (r: Received) => void }>();
  const sink: Sink = {
    port: 0,
    received: [],
    sessions: 0,
    open: 0,
    maxOpen: 0,
    close: async () => undefined,
    next: (match) => {
      const seen = sink.received.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.add({ match, resolve }));
    },
  };
  let n = 0;
  const server = new SMTPServer({
    key: pair.key,
    cert: pair.cert,
    hideSTARTTLS: !opts.starttls,
    hide8BITMIME: opts.no8BitMime ?? false,
    disabledCommands: opts.starttls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onConnect: (_s, cb) => {
      sink.sessions++;
      sink.open++;
      sink.maxOpen = Math.max(sink.maxOpen, sink.open);
      cb();
    },
    onClose: () => {
      sink.open--;
    },
    onData: (stream, session, cb) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const got: Received = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks),
          secure: session.secure,
          helo: session.hostNameAppearsAs,
          remote: session.remoteAddress.replace(/^::ffff:/, ''),
          mailArgs: ((session.envelope.mailFrom as { args?: Record<string, unknown> } | false) || { args: {} }).args ?? {},
        };
        void Promise.resolve(opts.beforeReply?.(got)).then(() => {
          const reply = opts.reply?.(n++) ?? null;
          if (reply && reply.code >= 400) return cb(Object.assign(new Error(reply.message), { responseCode: reply.code }));
          sink.received.push(got);
          for (const w of [...waiters]) {
            if (w.match(got)) {
              waiters.delete(w);
              w.resolve(got);
            }
          }
          cb();
        });
      });
    },
  } as ConstructorParameters<typeof SMTPServer>[0]);
  server.on('error', () => undefined);
  await new Promise<void>((res, rej) => {
    server.server.once('error', rej);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => res());
  });
  sink.port = (server.server.address() as AddressInfo).port;
  sink.close = () => new Promise((res) => server.close(() => res()));
  return sink;
}
