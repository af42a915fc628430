// Storage full (RELIABILITY.md B6.64): when the store cannot take more, intake answers
// 452 4.3.1 (temporary, so clients retry), never 5xx and never a 250 for something not stored;
// every message that got 250 is there; when space returns, intake recovers by itself.
// The store's size cap (store.max_size_mb) stands in for a full disk: SQLite reports the same
// SQLITE_FULL either way.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { QueueEntry } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { transport } from '../helpers/smtp.js';

describe('storage full', () => {
  const d = new TestDaemon({ extraToml: '[store]\nmax_size_mb = 2' });
  let pass = '';
  const acked: string[] = [];
  before(async () => {
    await d.start();
    pass = await d.addApp('ehr');
  });
  after(() => d.cleanup());

  it('answers 452 4.3.1 once the store is full, and keeps every acknowledged message', async () => {
    const t = transport(d.ports.submission, { secure: false, user: 'ehr', pass, pool: true, maxConnections: 2 });
    let refused: { responseCode?: number; response?: string } | null = null;
    for (let i = 0; i < 400 && !refused; i++) {
      try {
        const info = await t.sendMail({ from: 'a@clinic.test', to: `p${i}@example.org`, text: 'z'.repeat(20_000) });
        acked.push(info.response.split(' ').pop()!);
      } catch (err) {
        refused = err as { responseCode?: number; response?: string };
      }
    }
    t.close();
    assert.ok(refused, 'the store filled up');
    assert.equal(refused.responseCode, 452);
    assert.match(refused.response ?? '', /4\.3\.1/);
    const queue = await d.cliJson<QueueEntry[]>(['queue', 'list', '--limit', '100000']);
    const present = new Set(queue.map((q) => q.id));
    assert.deepEqual(acked.filter((id) => !present.has(id)), []);
  });

  it('recovers without a restart when space is freed', async () => {
    for (const id of acked.slice(0, 20)) await d.cliJson(['queue', 'delete', id, '--reason', 'free space for the test']);
    const info = await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({ from: 'a@clinic.test', to: 'p@example.org', text: 'z'.repeat(20_000) });
    assert.match(info.response, /^250 /);
    assert.equal((await d.cliJson<{ ok: boolean }>(['audit', 'verify'])).ok, true);
  });
});
