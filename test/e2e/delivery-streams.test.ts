// Two streams and per-domain limits, observed with real SMTP servers: with 5,000 marketing
// messages queued to one slow domain, a transactional message to another domain (and to
// the slow domain itself) is delivered within 2 seconds; the slow receiver never sees more
// connections than the domain limit allows; each stream uses its own HELO name.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { StatusResult } from '../../shared/domain.js';
import { runLoad } from '../bench/load.js';
import { TestDaemon } from '../helpers/daemon.js';
import { startSink, type Sink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';

const MARKETING = 5000;
const SLOW_REPLY_MS = 500; // a receiver that takes half a second per message

describe('delivery streams', () => {
  let slow: Sink;
  let fast: Sink;
  let d: TestDaemon;
  let ehr = '';
  let news = '';

  before(async () => {
    slow = await startSink({ starttls: true, beforeReply: () => delay(SLOW_REPLY_MS) });
    fast = await startSink({ starttls: true });
    d = new TestDaemon({
      deliveryToml: [
        'paused = false',
        'domain_concurrency = 3',
        '[delivery.marketing]',
        'concurrency = 10',
        'helo = "bulk.clinic.test"',
        'source_ip = "127.0.0.9"',
        '[delivery.routes]',
        `"slow.test" = "127.0.0.1:${slow.port}"`,
        `"fast.test" = "127.0.0.1:${fast.port}"`,
      ].join('\n'),
    });
    await d.start();
    ehr = await d.addApp('ehr');
    news = await d.addApp('news', ['--stream', 'marketing']);
  });
  after(async () => {
    await d.cleanup();
    await Promise.all([slow.close(), fast.close()]);
  });

  it('delivers transactional mail within 2 s while 5,000 marketing messages wait for a slow domain; each stream has its HELO and source IP', async (tc) => {
    const load = await runLoad({ port: d.ports.submission, user: 'news', pass: news, connections: 10, messages: MARKETING, from: 'news@clinic.test', to: (i) => `patient${i}@slow.test`, warm: false });
    assert.equal(load.failed, 0, load.firstError ?? '');
    const status = await d.cliJson<StatusResult>(['status']);
    assert.ok(status.queue.depth > MARKETING - 200, `marketing backlog is queued (depth ${status.queue.depth})`);

    const t = transport(d.ports.submission, { secure: false, user: 'ehr', pass: ehr });
    for (const to of ['reset@fast.test', 'reset@slow.test']) {
      const info = await t.sendMail({ from: 'doc@clinic.test', to, subject: 'Password reset', text: 'Your code is on its way.' });
      const accepted = Date.now();
      const id = info.response.split(' ').pop()!;
      await d.waitForLog((r) => r.msg === 'delivery' && r.id === id && r.state === 'delivered');
      const ms = Date.now() - accepted;
      tc.diagnostic(`transactional to ${to}: accepted to delivered ${ms} ms, marketing backlog ${MARKETING - slow.received.length}`);
      assert.ok(ms < 2000, `transactional to ${to} delivered in ${ms} ms`);
    }
    t.close();
    // the slow receiver: at most 3 marketing connections (domain limit) plus transactional's own
    assert.ok(slow.maxOpen <= 4, `slow.test saw at most ${slow.maxOpen} connections at once`);
    assert.ok(slow.received.length < MARKETING / 2, 'the marketing backlog is still draining');
    // each stream introduces itself with its own HELO name
    assert.equal(fast.received[0]!.helo, 'mail.clinic.test');
    assert.ok(slow.received.some((r) => r.to[0] !== 'reset@slow.test' && r.helo === 'bulk.clinic.test'));
    assert.equal(slow.received.find((r) => r.to[0] === 'reset@slow.test')?.helo, 'mail.clinic.test');
    // and from its own source address (delivery.marketing.source_ip)
    assert.ok(slow.received.filter((r) => r.to[0] !== 'reset@slow.test').every((r) => r.remote === '127.0.0.9'), [...new Set(slow.received.map((r) => r.remote))].join());
    assert.equal(slow.received.find((r) => r.to[0] === 'reset@slow.test')?.remote, '127.0.0.1');
  });
});
