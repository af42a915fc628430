// A crash in the middle of a send: the daemon is killed (SIGKILL) after the recipient's MX
// has the whole message but before it answered. After a restart the recipient is
// delivered again (at least once: the MX now holds two copies, as documented), the
// recovery is audited and nothing is left active.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEntry, QueueDetail } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { startSink, type Received, type Sink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';

describe('delivery crash', () => {
  let sink: Sink;
  let d: TestDaemon;
  let arrived: (r: Received) => void = () => undefined;
  const firstCopy = new Promise<Received>((resolve) => (arrived = resolve));
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  let copies = 0;

  before(async () => {
    sink = await startSink({
      starttls: true,
      beforeReply: async (r) => {
        copies++;
        if (copies === 1) {
          arrived(r);
          await released; // hold the answer until the daemon is dead
        }
      },
    });
    d = new TestDaemon({ deliveryToml: ['paused = false', '[delivery.routes]', `"mx.test" = "127.0.0.1:${sink.port}"`].join('\n') });
    await d.start();
  });
  after(async () => {
    release();
    await d.cleanup();
    await sink.close();
  });

  it('re-delivers the in-flight recipient after kill -9 (at least once)', async () => {
    const pass = await d.addApp('ehr');
    const info = await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({ from: 'doc@clinic.test', to: 'patient@mx.test', subject: 'Lab', text: 'Crash test body' });
    const id = info.response.split(' ').pop()!;
    const got = await firstCopy;
    assert.match(got.data.toString(), /Crash test body/);
    await d.kill9();
    release();

    await d.start();
    await d.waitForLog((r) => r.msg === 'delivery' && r.id === id && r.state === 'delivered');
    assert.equal(copies, 2, 'the MX holds the copy from before the crash and the re-delivery');
    const detail = await d.cliJson<QueueDetail>(['queue', 'show', id]);
    assert.equal(detail.recipient_rows[0]!.state, 'delivered');
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '50']);
    assert.ok(audit.some((e) => e.action === 'delivery.recovered' && e.detail.recipients === 1));
    assert.equal((await d.cliJson<{ ok: boolean }>(['audit', 'verify'])).ok, true);
  });
});
