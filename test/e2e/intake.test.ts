// SMTP intake through its real interfaces: nodemailer over STARTTLS and implicit TLS, and a
// raw client for what a well-behaved client never sends. Each refusal has its own code and
// queues nothing.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { QueueEntry } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { RawSmtp, transport } from '../helpers/smtp.js';

const FROM = 'frontdesk@clinic.test';

async function sendError(p: Promise<unknown>): Promise<{ responseCode?: number; response?: string; code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { responseCode?: number; response?: string };
  }
  assert.fail('expected the submission to be refused');
}

describe('SMTP intake', () => {
  const d = new TestDaemon({ smtpToml: 'max_message_bytes = 65536\nmax_recipients = 5\nauth_failures_per_ip = 1000' });
  let pass = '';
  const queued = async () => (await d.cliJson<QueueEntry[]>(['queue', 'list'])).length;

  before(async () => {
    await d.start();
    pass = await d.addApp('ehr', ['--from', '*@clinic.test']);
  });
  after(() => d.cleanup());

  it('accepts over STARTTLS (587-style) with 250 and a queue id', async () => {
    const info = await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({
      from: FROM,
      to: 'patient@example.org',
      subject: 'Appointment',
      text: 'See you Tuesday.',
    });
    assert.match(info.response, /^250 2\.0\.0 queued as [0-9A-Z]{14}$/);
    const id = info.response.split(' ').pop()!;
    const show = await d.cliJson<{ recipients: string[]; state: string }>(['queue', 'show', id]);
    assert.deepEqual(show.recipients, ['patient@example.org']);
    assert.equal(show.state, 'queued');
  });

  it('accepts over implicit TLS (465-style), TLS 1.2 or newer', async () => {
    const t = transport(d.ports.submission_tls, { secure: true, user: 'ehr', pass });
    const info = await t.sendMail({ from: FROM, to: ['a@example.org', 'b@example.net'], subject: 's', text: 't' });
    assert.match(info.response, /^250 /);
    const id = info.response.split(' ').pop()!;
    const show = await d.cliJson<{ recipients: string[] }>(['queue', 'show', id]);
    assert.deepEqual(show.recipients.sort(), ['a@example.org', 'b@example.net']);
  });

  it('refuses a wrong password with 535 and queues nothing', async () => {
    const before = await queued();
    const err = await sendError(transport(d.ports.submission, { secure: false, user: 'ehr', pass: 'wrong' }).sendMail({ from: FROM, to: 'x@example.org', text: 'x' }));
    assert.equal(err.responseCode, 535);
    assert.equal(await queued(), before);
  });

  it('refuses MAIL without AUTH (no relaying) with 530', async () => {
    const c = await RawSmtp.open(d.ports.submission_tls);
    assert.equal((await c.cmd('EHLO relay.test')).code, 250);
    const mail = await c.cmd('MAIL FROM:<frontdesk@clinic.test>');
    assert.equal(mail.code, 530);
    c.close();
  });

  it('refuses AUTH before STARTTLS on the submission port with 538', async () => {
    const { createConnection } = await import('node:net');
    const s = createConnection(d.ports.submission, '127.0.0.1');
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (x: string) => (text += x));
    const waitFor = async (re: RegExp) => {
      while (!re.test(text)) await new Promise((r) => s.once('data', r));
    };
    await waitFor(/^220 /m);
    s.write('EHLO plain.test\r\n');
    await waitFor(/^250 /m);
    assert.match(text, /STARTTLS/);
    s.write(`AUTH PLAIN ${Buffer.from(`\0ehr\0${pass}`).toString('base64')}\r\n`);
    await waitFor(/^538 /m);
    s.destroy();
  });

  it('refuses a foreign envelope sender and a foreign From header with 553', async () => {
    const t = transport(d.ports.submission, { secure: false, user: 'ehr', pass });
    const before = await queued();
    const env = await sendError(t.sendMail({ envelope: { from: 'ceo@other.example', to: 'x@example.org' }, from: FROM, to: 'x@example.org', text: 'x' }));
    assert.equal(env.responseCode, 553);
    const hdr = await sendError(t.sendMail({ envelope: { from: FROM, to: 'x@example.org' }, from: 'ceo@other.example', to: 'x@example.org', text: 'x' }));
    assert.equal(hdr.responseCode, 553);
    assert.equal(await queued(), before);
    const audit = await d.cliJson<Array<{ action: string; detail: { where?: string } }>>(['audit', 'tail', '--limit', '50']);
    const refused = audit.filter((e) => e.action === 'smtp.sender_refused').map((e) => e.detail.where);
    assert.deepEqual(refused.sort(), ['envelope', 'header']);
  });

  it('refuses an oversized message with 552 (SIZE at MAIL, and DATA past the limit)', async () => {
    const before = await queued();
    const t = transport(d.ports.submission, { secure: false, user: 'ehr', pass });
    const big = await sendError(t.sendMail({ from: FROM, to: 'x@example.org', text: 'y'.repeat(200_000) }));
    assert.equal(big.responseCode, 552);
    const c = await RawSmtp.open(d.ports.submission_tls);
    await c.login('ehr', pass);
    assert.equal((await c.cmd('MAIL FROM:<frontdesk@clinic.test> SIZE=999999999')).code, 552);
    await c.beginData('frontdesk@clinic.test', ['x@example.org']);
    c.write(`From: ${FROM}\r\n\r\n`);
    for (let i = 0; i < 100; i++) c.write('z'.repeat(998) + '\r\n');
    assert.equal((await c.cmd('.')).code, 552);
    c.close();
    assert.equal(await queued(), before);
  });

  it('answers 452 4.5.3 past the recipient cap and keeps the earlier recipients', async () => {
    const c = await RawSmtp.open(d.ports.submission_tls);
    await c.login('ehr', pass);
    assert.equal((await c.cmd('MAIL FROM:<frontdesk@clinic.test>')).code, 250);
    for (let i = 0; i < 5; i++) assert.equal((await c.cmd(`RCPT TO:<r${i}@example.org>`)).code, 250);
    const sixth = await c.cmd('RCPT TO:<r5@example.org>');
    assert.equal(sixth.code, 452);
    assert.match(sixth.lines[0]!, /4\.5\.3/);
    assert.equal((await c.cmd('DATA')).code, 354);
    const done = await c.cmd(`From: ${FROM}\r\nSubject: cap\r\n\r\nbody\r\n.`);
    assert.equal(done.code, 250);
    const id = done.lines[0]!.split(' ').pop()!;
    assert.equal((await d.cliJson<{ recipients: string[] }>(['queue', 'show', id])).recipients.length, 5);
    c.close();
  });

  it('rejects control characters in MAIL parameters with 501', async () => {
    const c = await RawSmtp.open(d.ports.submission_tls);
    await c.login('ehr', pass);
    const r = await c.cmd('MAIL FROM:<frontdesk@clinic.test> BODY=8BITMIME\rX');
    assert.equal(r.code, 501);
    c.close();
  });

  it('adds Received and Message-ID, and refuses a message without From', async () => {
    const c = await RawSmtp.open(d.ports.submission_tls);
    await c.login('ehr', pass);
    await c.beginData('frontdesk@clinic.test', ['x@example.org']);
    assert.equal((await c.cmd('Subject: no from\r\n\r\nbody\r\n.')).code, 550);
    c.close();
  });
});
