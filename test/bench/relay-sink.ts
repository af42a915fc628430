// The relay bench's receiving MX, in its own process so it does not share the load client's
// event loop: an smtp-server with STARTTLS that discards messages and records when each
// `X-Bench-Seq` arrived. Asked over IPC ("report"), it answers with the arrivals.
//
//   forked by test/bench/relay.ts with the port as argv[2]

import { SMTPServer } from 'smtp-server';
import { generateSelfSigned } from '../../daemon/tls/certificate.js';

const port = Number(process.argv[2]);
const arrivals: Array<[number, number]> = [];
let tlsSessions = 0;
let plainMessages = 0;
const pair = await generateSelfSigned('sink.bench');
const server = new SMTPServer({
  key: pair.key,
  cert: pair.cert,
  disabledCommands: ['AUTH'],
  authOptional: true,
  disableReverseLookup: true,
  logger: false,
  size: 64 * 1024 * 1024,
  onData(stream, session, cb) {
    let head = '';
    stream.on('data', (c: Buffer) => {
      if (head.length < 4096) head += c.toString('latin1', 0, Math.min(c.length, 4096));
    });
    stream.on('end', () => {
      if (!session.secure) plainMessages++;
      const seq = /^X-Bench-Seq: (-?\d+)\r?$/m.exec(head)?.[1];
      if (seq !== undefined) arrivals.push([Number(seq), Date.now()]);
      cb();
    });
  },
  onSecure(_socket, _session, cb) {
    tlsSessions++;
    cb();
  },
} as ConstructorParameters<typeof SMTPServer>[0]);
server.on('error', () => undefined);
server.listen(port, '127.0.0.1', () => process.send?.({ ready: true }));
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'report') process.send?.({ arrivals, tlsSessions, plainMessages });
  if (m.cmd === 'reset') arrivals.length = 0;
  if (m.cmd === 'stop') server.close(() => process.exit(0));
});
