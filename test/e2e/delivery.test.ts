// Delivery to real SMTP servers on loopback acting as recipient MXes (delivery.routes):
// STARTTLS used; a server without STARTTLS receives nothing (held, never cleartext);
// 4xx then 250 is deferred then delivered; 5xx bounces with an RFC 3464 DSN to the sender
// (without the content). Private X-Sealpost-* headers never leave; DKIM signatures verify
// with Debian's dkimpy against the records `dkim show` prints; every attempt is audited
// and listed by `queue show` with its TLS facts; `tls` shows what each domain offered.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { AuditEntry, DkimRecord, QueueDetail, TlsDomainRecord } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { startSink, type Sink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';

/** dkimpy (python3-dkim) verifies every DKIM-Signature, answering DNS from the given records. */
const DKIM_VERIFY = `
import sys, json, dkim
records = json.loads(sys.argv[1])
msg = sys.stdin.buffer.read()
def dnsfunc(name, timeout=5):
    return records.get(name.decode().rstrip('.'), '').encode() or None
d = dkim.DKIM(msg)
n = len([l for l in msg.split(b'\\r\\n\\r\\n', 1)[0].split(b'\\r\\n') if l.lower().startswith(b'dkim-signature:')])
def check(i):
    try:
        return bool(d.verify(idx=i, dnsfunc=dnsfunc))
    except dkim.DKIMException:
        return False
print(json.dumps([check(i) for i in range(n)]))
`;

async function dkimVerify(message: Buffer, records: Record<string, string>): Promise<boolean[]> {
  const child = execFile('/usr/bin/python3', ['-c', DKIM_VERIFY, JSON.stringify(records)]);
  const out = new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`dkimpy exited ${code}`))));
  });
  child.stdin!.end(message);
  return JSON.parse(await out) as boolean[];
}

describe('delivery', () => {
  let mailbox: Sink;
  let tlsSink: Sink;
  let plainSink: Sink;
  let flakySink: Sink;
  let rejectSink: Sink;
  let sevenBitSink: Sink;
  let d: TestDaemon;
  let pass = '';
  const send = async (to: string, headers: Record<string, string> = {}) =>
    (await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({ from: 'doc@clinic.test', to, subject: 'Results', text: 'Your results are ready.', headers })).response.split(' ').pop()!;
  const show = (id: string) => d.cliJson<QueueDetail>(['queue', 'show', id]);
  const settled = (id: string, state: string) => d.settled(id, state);

  before(async () => {
    mailbox = await startSink({ starttls: true });
    tlsSink = await startSink({ starttls: true });
    plainSink = await startSink({ starttls: false });
    flakySink = await startSink({ starttls: true, reply: (n) => (n === 0 ? { code: 451, message: '4.3.0 try again later' } : null) });
    rejectSink = await startSink({ starttls: true, reply: () => ({ code: 550, message: '5.1.1 no such user' }) });
    sevenBitSink = await startSink({ starttls: true, no8BitMime: true });
    d = new TestDaemon({
      extraToml: '[dkim]\ned25519 = true',
      deliveryToml: [
        'paused = false',
        '[delivery.routes]',
        `"clinic.test" = "127.0.0.1:${mailbox.port}"`,
        `"tls.test" = "127.0.0.1:${tlsSink.port}"`,
        `"plain.test" = "127.0.0.1:${plainSink.port}"`,
        `"flaky.test" = "127.0.0.1:${flakySink.port}"`,
        `"reject.test" = "127.0.0.1:${rejectSink.port}"`,
        `"seven.test" = "127.0.0.1:${sevenBitSink.port}"`,
      ].join('\n'),
    });
    await d.start();
    pass = await d.addApp('ehr');
  });
  after(async () => {
    await d.cleanup();
    await Promise.all([mailbox, tlsSink, plainSink, flakySink, rejectSink, sevenBitSink].map((s) => s.close()));
  });

  it('delivers over STARTTLS, without the private X-Sealpost headers', async () => {
    const id = await send('patient@tls.test', { 'X-Sealpost-Protect': 'tls' });
    await settled(id, 'delivered');
    assert.equal(tlsSink.received.length, 1);
    const got = tlsSink.received[0]!;
    assert.equal(got.secure, true);
    assert.deepEqual(got.to, ['patient@tls.test']);
    assert.equal(got.from, 'doc@clinic.test');
    assert.match(got.data.toString(), /Your results are ready\./);
    assert.doesNotMatch(got.data.toString(), /X-Sealpost/i);
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '20']);
    const entry = audit.find((e) => e.action === 'delivery.delivered' && e.subject === id);
    assert.match(String(entry?.detail.tls_version), /^TLSv1\.[23]$/);
  });

  it('signs with RSA and Ed25519 DKIM keys that an independent verifier accepts against `dkim show`', async () => {
    const shown = await d.cliJson<DkimRecord>(['dkim', 'show']);
    assert.equal(shown.domain, 'clinic.test');
    assert.equal(shown.dns_name, `${shown.selector}._domainkey.clinic.test`);
    assert.match(shown.txt, /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/);
    assert.deepEqual(shown.records.map((r) => r.algorithm).sort(), ['ed25519', 'rsa']);
    const records = Object.fromEntries(shown.records.map((r) => [r.dns_name, r.txt]));
    const message = tlsSink.received[0]!.data;
    assert.deepEqual(await dkimVerify(message, records), [true, true], 'both signatures verify');
    // and a changed body fails: the verifier is really checking
    const tampered = Buffer.from(message.toString().replace('Your results are ready.', 'Your results are READY.'));
    assert.deepEqual(await dkimVerify(tampered, records), [false, false]);
  });

  it('rotates DKIM keys and keeps the old selectors listed as retiring', async () => {
    const before = await d.cliJson<DkimRecord>(['dkim', 'show']);
    const after = await d.cliJson<DkimRecord>(['dkim', 'rotate', 'clinic.test']);
    assert.notEqual(after.selector, before.selector);
    const status = Object.fromEntries(after.records.map((r) => [r.selector, r.status]));
    for (const r of before.records) assert.equal(status[r.selector], 'retiring');
    assert.equal(after.records.filter((r) => r.status === 'active').length, 2);
    const id = await send('second@tls.test');
    await settled(id, 'delivered');
    const records = Object.fromEntries(after.records.map((r) => [r.dns_name, r.txt]));
    const got = tlsSink.received.at(-1)!.data;
    assert.match(got.toString(), new RegExp(`s=${after.selector}`));
    assert.deepEqual(await dkimVerify(got, records), [true, true]);
  });

  it('never sends content in clear to a server without STARTTLS: it gets a portal notice instead', async () => {
    const id = await send('patient@plain.test');
    const done = await settled(id, 'portal');
    assert.match(done.recipient_rows[0]!.history.at(-1)!.response, /no STARTTLS at the MX; sent as portal/);
    assert.equal(plainSink.received.length, 1);
    const notice = plainSink.received[0]!;
    assert.equal(notice.secure, false, 'the notice went without TLS: it carries no content');
    assert.doesNotMatch(notice.data.toString(), /Your results are ready/);
    assert.doesNotMatch(notice.data.toString(), /Subject: Results/);
    assert.match(notice.data.toString(), /https:\/\/127\.0\.0\.1:8443\/m\/[A-Za-z0-9_-]{40,}/);
    const tls = await d.cliJson<TlsDomainRecord[]>(['tls', '--domain', 'plain.test']);
    assert.equal(tls[0]?.starttls, false);
    assert.equal(tls[0]?.last_result, 'starttls-not-supported');
    const good = await d.cliJson<TlsDomainRecord[]>(['tls', '--domain', 'tls.test']);
    assert.equal(good[0]?.starttls, true);
    assert.match(good[0]?.tls_version ?? '', /^TLSv1\.[23]$/);
    assert.equal(good[0]?.last_result, 'success');
    assert.equal(good[0]?.cert_valid, false, 'a self-signed MX certificate is recorded as not valid');
  });

  it('defers on 4xx with a retry time, then delivers on retry', async () => {
    const id = await send('patient@flaky.test');
    const deferred = await settled(id, 'deferred');
    const r = deferred.recipient_rows[0]!;
    assert.equal(r.attempts, 1);
    assert.match(r.last_error ?? '', /451/);
    assert.ok(Date.parse(r.next_attempt_at!) > Date.now() + 30_000, 'next attempt follows the retry table (1 minute)');
    await d.cliJson(['queue', 'retry', id]);
    const delivered = await settled(id, 'delivered');
    assert.equal(flakySink.received.length, 1);
    const history = delivered.recipient_rows[0]!.history;
    assert.deepEqual(history.map((a) => [a.outcome, a.code]), [['deferred', 451], ['delivered', 250]]);
    for (const a of history) {
      assert.match(a.tls_version ?? '', /^TLSv1\.[23]$/);
      assert.ok(a.tls_cipher);
      assert.equal(a.tls_verified, 'none');
    }
  });

  it('sends 8-bit content with BODY=8BITMIME, and never to a server without 8BITMIME (bounced 5.6.3)', async () => {
    const raw = (to: string, body: string) =>
      Buffer.from(`From: doc@clinic.test\r\nTo: ${to}\r\nSubject: Termin\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body}\r\n`, 'utf8');
    const submit = async (to: string, body: string) =>
      (await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({ envelope: { from: 'doc@clinic.test', to: [to] }, raw: raw(to, body) })).response.split(' ').pop()!;
    const eight = await submit('pat@tls.test', 'Grüße aus der Praxis, Ihr Termin ist am Dienstag.');
    await settled(eight, 'delivered');
    const got = tlsSink.received.find((r) => r.data.includes(Buffer.from('Grüße aus der Praxis', 'utf8')))!;
    assert.equal(got.mailArgs.BODY, '8BITMIME');
    const refused = await submit('pat@seven.test', 'Grüße aus der Praxis.');
    const bounced = await settled(refused, 'bounced');
    assert.match(bounced.recipient_rows[0]!.last_error ?? '', /5\.6\.3 .*8BITMIME/);
    assert.equal(sevenBitSink.received.length, 0, 'no 8-bit bytes went to the 7-bit server');
    const ascii = await submit('pat@seven.test', 'Plain ASCII reminder.');
    await settled(ascii, 'delivered');
    assert.equal(sevenBitSink.received[0]!.mailArgs.BODY, undefined);
  });

  it('bounces on 5xx without retrying', async () => {
    const id = await send('nobody@reject.test');
    const bounced = await settled(id, 'bounced');
    assert.equal(bounced.recipient_rows[0]!.attempts, 1);
    assert.match(bounced.recipient_rows[0]!.last_error ?? '', /550/);
    assert.equal(bounced.state, 'bounced');

    // the DSN goes back to the sender (clinic.test's MX), from the null sender, without the content
    const dsn = await mailbox.next((r) => r.from === '' && r.data.includes('Final-Recipient: rfc822; nobody@reject.test'));
    const text = dsn.data.toString();
    assert.equal(dsn.from, '', 'a DSN has the null reverse path');
    assert.deepEqual(dsn.to, ['doc@clinic.test']);
    assert.match(text, /Content-Type: multipart\/report;\s*report-type=delivery-status/i);
    assert.match(text, /Content-Type: message\/delivery-status/i);
    assert.match(text, /Final-Recipient: rfc822; nobody@reject\.test/);
    assert.match(text, /Action: failed/);
    assert.match(text, /Status: 5\.1\.1/);
    assert.match(text, /Content-Type: text\/rfc822-headers/i);
    assert.doesNotMatch(text, /Your results are ready/, 'the body is not returned');
    assert.doesNotMatch(text, /Subject: Results/, 'nor the subject');
    assert.match(text, /^DKIM-Signature:/m, 'the DSN is signed too');
  });
});

/**
 * A daemon whose recipient MX (busy.test) answers 451 after a second, and the sender's own
 * MX (clinic.test), for the timing rules of delay notices and give-up; `rule` is the
 * [delivery] line under test, set so short that the first answer already crosses it.
 */
function slowRetryLab(rule: string, answer: string) {
  const lab = {
    mailbox: null as unknown as Sink,
    busy: null as unknown as Sink,
    d: null as unknown as TestDaemon,
    pass: '',
    /** Submits one message to patient@busy.test; resolves with its queue id. */
    send: async (text: string) => {
      const info = await transport(lab.d.ports.submission, { secure: false, user: 'ehr', pass: lab.pass }).sendMail({ from: 'doc@clinic.test', to: 'patient@busy.test', subject: 'Results', text });
      return info.response.split(' ').pop()!;
    },
  };
  before(async () => {
    lab.mailbox = await startSink({ starttls: true });
    lab.busy = await startSink({ starttls: true, beforeReply: () => new Promise((r) => setTimeout(r, 1000)), reply: () => ({ code: 451, message: answer }) });
    lab.d = new TestDaemon({
      deliveryToml: ['paused = false', rule, '[delivery.routes]', `"clinic.test" = "127.0.0.1:${lab.mailbox.port}"`, `"busy.test" = "127.0.0.1:${lab.busy.port}"`].join('\n'),
    });
    await lab.d.start();
    lab.pass = await lab.d.addApp('ehr');
  });
  after(async () => {
    await lab.d.cleanup();
    await Promise.all([lab.mailbox.close(), lab.busy.close()]);
  });
  return lab;
}

describe('delivery delay notice', () => {
  const lab = slowRetryLab('delay_notice_hours = 0.0002', '4.3.2 busy, try later');

  it('tells the sender once that a recipient is still being retried', async () => {
    const id = await lab.send('Delayed body');
    await lab.d.waitForLog((r) => r.msg === 'delivery' && r.id === id && r.state === 'deferred');
    await lab.d.waitForLog((r) => r.msg === 'delivery' && r.id !== id && r.state === 'delivered');
    const notice = lab.mailbox.received.at(-1)!;
    const text = notice.data.toString();
    assert.equal(notice.from, '');
    assert.match(text, /Action: delayed/);
    assert.match(text, /Status: 4\.3\.2/);
    assert.match(text, /Will-Retry-Until: /);
    assert.doesNotMatch(text, /Delayed body/);
    const detail = await lab.d.cliJson<QueueDetail>(['queue', 'show', id]);
    assert.equal(detail.recipient_rows[0]!.state, 'deferred', 'the recipient is still queued for retry');
    const audit = await lab.d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '30']);
    assert.equal(audit.filter((e) => e.action === 'dsn.delayed' && e.subject === id).length, 1);
  });
});

describe('delivery give-up', () => {
  const lab = slowRetryLab('give_up_hours = 0.0002', '4.4.1 no answer from host');

  it('expires a recipient still deferred at the give-up age, and sends the sender a failure DSN without the content', async () => {
    const id = await lab.send('Expired body');
    const expired = await lab.d.settled(id, 'expired');
    assert.equal(expired.recipient_rows[0]!.state, 'expired');
    assert.equal(expired.recipient_rows[0]!.next_attempt_at ?? null, null, 'no further retry');
    await lab.d.waitForLog((r) => r.msg === 'delivery' && r.id !== id && r.state === 'delivered');
    const dsn = lab.mailbox.received.at(-1)!;
    const text = dsn.data.toString();
    assert.equal(dsn.from, '');
    assert.match(text, /Final-Recipient: rfc822; patient@busy\.test/);
    assert.match(text, /Action: failed/);
    assert.match(text, /Status: 4\.4\.1/);
    assert.match(text, /Diagnostic-Code: smtp; 451 4\.4\.1 no answer from host/);
    assert.doesNotMatch(text, /Expired body|Subject: Results/);
    const audit = await lab.d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '30']);
    assert.ok(audit.some((e) => e.subject === id && e.action === 'dsn.failed'), audit.map((e) => e.action).join());
  });
});
