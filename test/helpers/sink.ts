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
}

export interface Sink {
  port: number;
  received: Received[];
  sessions: number;
  close: () => Promise<void>;
}

export async function startSink(opts: { starttls: boolean; reply?: (n: number) => { code: number; message: string } | null }): Promise<Sink> {
  const pair = await generateSelfSigned('mx.test');
  const sink: Sink = { port: 0, received: [], sessions: 0, close: async () => undefined };
  let n = 0;
  const server = new SMTPServer({
    key: pair.key,
    cert: pair.cert,
    hideSTARTTLS: !opts.starttls,
    disabledCommands: opts.starttls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onConnect: (_s, cb) => {
      sink.sessions++;
      cb();
    },
    onData: (stream, session, cb) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const reply = opts.reply?.(n++) ?? null;
        if (reply && reply.code >= 400) return cb(Object.assign(new Error(reply.message), { responseCode: reply.code }));
        sink.received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks),
          secure: session.secure,
        });
        cb();
      });
    },
  } as ConstructorParameters<typeof SMTPServer>[0]);
  server.on('error', () => undefined);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  sink.port = (server.server.address() as AddressInfo).port;
  sink.close = () => new Promise((res) => server.close(() => res()));
  return sink;
}
