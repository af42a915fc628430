// Delivery to real SMTP servers on loopback acting as recipient MXes (delivery.routes):
// STARTTLS used; a server without STARTTLS receives nothing (held, never cleartext);
// 4xx then 250 is deferred then delivered; 5xx bounces. Private X-Sealpost-* headers never
// leave; every attempt is audited with its TLS version.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEntry, QueueDetail } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { startSink, type Sink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';

describe('delivery', () => {
  let tlsSink: Sink;
  let plainSink: Sink;
  let flakySink: Sink;
  let rejectSink: Sink;
  let d: TestDaemon;
  let pass = '';
  const send = async (to: string, headers: Record<string, string> = {}) =>
    (await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({ from: 'doc@clinic.test', to, subject: 'Results', text: 'Your results are ready.', headers })).response.split(' ').pop()!;
  const show = (id: string) => d.cliJson<QueueDetail>(['queue', 'show', id]);
  /** Awaits the daemon's delivery log line for this message and state, then reads the queue. */
  const settled = async (id: string, state: string) => {
    await d.waitForLog((r) => r.msg === 'delivery' && r.id === id && r.state === state);
    return show(id);
  };

  before(async () => {
    tlsSink = await startSink({ starttls: true });
    plainSink = await startSink({ starttls: false });
    flakySink = await startSink({ starttls: true, reply: (n) => (n === 0 ? { code: 451, message: '4.3.0 try again later' } : null) });
    rejectSink = await startSink({ starttls: true, reply: () => ({ code: 550, message: '5.1.1 no such user' }) });
    d = new TestDaemon({
      deliveryToml: [
        'paused = false',
        '[delivery.routes]',
        `"tls.test" = "127.0.0.1:${tlsSink.port}"`,
        `"plain.test" = "127.0.0.1:${plainSink.port}"`,
        `"flaky.test" = "127.0.0.1:${flakySink.port}"`,
        `"reject.test" = "127.0.0.1:${rejectSink.port}"`,
      ].join('\n'),
    });
    await d.start();
    pass = await d.addApp('ehr');
  });
  after(async () => {
    await d.cleanup();
    await Promise.all([tlsSink, plainSink, flakySink, rejectSink].map((s) => s.close()));
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

  it('never sends in clear to a server without STARTTLS: the recipient is held', async () => {
    const id = await send('patient@plain.test');
    const held = await settled(id, 'held');
    assert.match(held.recipient_rows[0]!.hold_reason ?? '', /starttls-not-supported/);
    assert.equal(plainSink.received.length, 0, 'no message reached the cleartext server');
  });

  it('defers on 4xx with a retry time, then delivers on retry', async () => {
    const id = await send('patient@flaky.test');
    const deferred = await settled(id, 'deferred');
    const r = deferred.recipient_rows[0]!;
    assert.equal(r.attempts, 1);
    assert.match(r.last_error ?? '', /451/);
    assert.ok(Date.parse(r.next_attempt_at!) > Date.now() + 30_000, 'next attempt follows the retry table (1 minute)');
    await d.cliJson(['queue', 'retry', id]);
    await settled(id, 'delivered');
    assert.equal(flakySink.received.length, 1);
  });

  it('bounces on 5xx without retrying', async () => {
    const id = await send('nobody@reject.test');
    const bounced = await settled(id, 'bounced');
    assert.equal(bounced.recipient_rows[0]!.attempts, 1);
    assert.match(bounced.recipient_rows[0]!.last_error ?? '', /550/);
    assert.equal(bounced.state, 'bounced');
  });
});
