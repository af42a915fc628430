import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AuditChain } from '../../daemon/audit/chain.js';
import { QueueStore } from '../../daemon/queue/store.js';
import { GroupCommitter } from '../../daemon/store/committer.js';
import { openDb } from '../../daemon/store/db.js';

describe('queue list', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-queue-'));
  const db = openDb(join(dir, 'db.sqlite'));
  const committer = new GroupCommitter(db, new AuditChain(db, Buffer.alloc(32, 1), join(dir, 'anchor')));
  const queue = new QueueStore(db, committer);
  const N = 40_000; // more than SQLite's 32,766 bound parameters

  db.transaction(() => {
    const m = db.prepare("INSERT INTO messages (id, received_at, app, stream, sender, size, message_id, client_ip) VALUES (?, ?, 'a', 'transactional', 's@x', 1, '<m@x>', '127.0.0.1')");
    const r = db.prepare('INSERT INTO recipients (message_id, address, domain, state, updated_at) VALUES (?, ?, ?, ?, 0)');
    for (let i = 0; i < N; i++) {
      const id = `M${String(i).padStart(8, '0')}`;
      m.run(id, i);
      r.run(id, `a${i}@one.test`, 'one.test', i % 100 === 0 ? 'held' : 'queued');
      if (i % 2 === 0) r.run(id, `b${i}@two.test`, 'two.test', 'delivered');
    }
  })();

  it('pages the queue: total, offset, newest first, and a text filter in SQL', () => {
    const first = queue.page({ offset: 0, limit: 3 });
    assert.equal(first.total, N);
    assert.deepEqual(first.rows.map((r) => r.id), ['M00000000', 'M00000001', 'M00000002']);
    const newest = queue.page({ offset: 0, limit: 2, order: 'newest' });
    assert.deepEqual(newest.rows.map((r) => r.id), [`M${String(N - 1).padStart(8, '0')}`, `M${String(N - 2).padStart(8, '0')}`]);
    const late = queue.page({ offset: N + 50, limit: 5 });
    assert.equal(late.offset, N - 1, 'an offset past the end shows the last message');
    const found = queue.page({ offset: 0, limit: 10, text: 'a1234@' });
    assert.deepEqual(found.rows.map((r) => r.id), ['M00001234']);
    assert.equal(queue.page({ offset: 0, limit: 10, text: '%' }).total, 0, 'LIKE wildcards are literal');
  });

  it('lists a queue larger than the bound-parameter limit, with every recipient', () => {
    const all = queue.list({ limit: 100_000 });
    assert.equal(all.length, N);
    assert.deepEqual(all[0]!.recipients, ['a0@one.test', 'b0@two.test']);
    assert.equal(all[0]!.state, 'held');
    assert.equal(all[1]!.state, 'queued');
  });

  it('filters by state and domain in SQL, so the limit counts matching messages', () => {
    const held = queue.list({ state: 'held', limit: 10 });
    assert.equal(held.length, 10);
    assert.ok(held.every((e) => e.state === 'held'));
    assert.equal(queue.list({ state: 'held', limit: 100_000 }).length, N / 100);
    assert.equal(queue.list({ state: 'sent', limit: 100_000 }).length, N / 2);
    assert.equal(queue.list({ domain: 'TWO.test', limit: 100_000 }).length, N / 2);
  });
});
