// Hostile clients (RELIABILITY.md B1.10, 15, 17): malformed TLS, garbage after STARTTLS, an
// HTTP request on the SMTP port, over-long command lines. Each gets its answer (or a closed
// connection) and the daemon keeps running: same process, still answering.

import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TestDaemon } from '../helpers/daemon.js';
import { transport } from '../helpers/smtp.js';

function plainSession(port: number): Promise<{ s: Socket; read: (re: RegExp) => Promise<string>; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = createConnection(port, '127.0.0.1');
    let text = '';
    const waiters: Array<() => void> = [];
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      text += d;
      for (const w of waiters.splice(0)) w();
    });
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.on('close', () => {
      for (const w of waiters.splice(0)) w();
    });
    s.on('error', () => undefined);
    const read = async (re: RegExp) => {
      while (!re.test(text) && !s.destroyed) await new Promise<void>((r) => waiters.push(r));
      return text;
    };
    s.once('connect', () => resolve({ s, read, closed }));
    s.once('error', reject);
  });
}

describe('hostile clients', () => {
  const d = new TestDaemon();
  let pid = 0;
  let pass = '';
  before(async () => {
    await d.start();
    pid = d.child!.pid!;
    pass = await d.addApp('ehr');
  });
  after(() => d.cleanup());

  it('survives an SSLv2/SSLv3-style hello and random bytes on the implicit TLS port', async () => {
    for (const junk of [Buffer.from('8003010100000000000000', 'hex'), Buffer.from('16030000ff0100', 'hex'), Buffer.alloc(4096, 0x41)]) {
      const { s, closed } = await plainSession(d.ports.submission_tls);
      s.write(junk);
      s.end();
      await closed;
    }
  });

  it('survives garbage right after STARTTLS', async () => {
    const { s, read, closed } = await plainSession(d.ports.submission);
    await read(/^220 /m);
    s.write('EHLO x.test\r\n');
    await read(/^250 /m);
    s.write('STARTTLS\r\n');
    await read(/220 .*TLS/i);
    s.write(Buffer.from('this is not a TLS record\r\n'.repeat(50)));
    await closed;
  });

  it('answers an HTTP request on the SMTP port with 421 and closes', async () => {
    const { s, read, closed } = await plainSession(d.ports.submission);
    await read(/^220 /m);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(await read(/^421 /m), /^421 /m);
    await closed;
  });

  it('refuses an over-long command line and a megabyte without CRLF', async () => {
    const a = await plainSession(d.ports.submission);
    await a.read(/^220 /m);
    a.s.write(`EHLO ${'x'.repeat(10_000)}\r\n`);
    assert.match(await a.read(/^5\d\d /m), /^5\d\d /m);
    a.s.destroy();
    const b = await plainSession(d.ports.submission);
    await b.read(/^220 /m);
    b.s.write('y'.repeat(1024 * 1024));
    await b.closed;
  });

  it('is still the same process and still accepts mail', async () => {
    assert.equal(d.child?.pid, pid);
    assert.equal(d.child?.exitCode, null);
    const info = await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({ from: 'a@clinic.test', to: 'p@example.org', text: 'still here' });
    assert.match(info.response, /^250 /);
  });
});
