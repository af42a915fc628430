import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AuditChain } from '../../daemon/audit/chain.js';
import { GroupCommitter } from '../../daemon/store/committer.js';
import { openDb } from '../../daemon/store/db.js';
import { Vault } from '../../daemon/store/vault.js';

const dir = () => mkdtempSync(join(tmpdir(), 'sealpost-store-'));

describe('vault', () => {
  it('creates a 0600 master key and round-trips sealed data', () => {
    const d = dir();
    const v = Vault.open(join(d, 'keys/master.key'));
    assert.equal(statSync(join(d, 'keys/master.key')).mode & 0o777, 0o600);
    const sealed = v.seal(Buffer.from('hello'), 'MSG1');
    assert.equal(sealed.indexOf('hello'), -1);
    assert.equal(v.open(sealed, 'MSG1').toString(), 'hello');
  });

  it('refuses a blob moved to another id, tampered, or opened with another key', () => {
    const d = dir();
    const v = Vault.open(join(d, 'k1'));
    const sealed = v.seal(Buffer.from('hello'), 'MSG1');
    assert.throws(() => v.open(sealed, 'MSG2'), /does not authenticate/);
    const t = Buffer.from(sealed);
    t[t.length - 1]! ^= 1;
    assert.throws(() => v.open(t, 'MSG1'), /does not authenticate/);
    assert.throws(() => Vault.open(join(d, 'k2')).open(sealed, 'MSG1'), /does not authenticate/);
  });
});

describe('database', () => {
  it('opens at synchronous=FULL in WAL mode, every time', () => {
    const p = join(dir(), 'db.sqlite');
    for (let i = 0; i < 2; i++) {
      const db = openDb(p);
      assert.equal(db.pragma('synchronous', { simple: true }), 2);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      db.close();
    }
  });
});

describe('group commit and audit chain', () => {
  it('commits many units in one transaction; a failing unit rolls back alone', async () => {
    const d = dir();
    const db = openDb(join(d, 'db.sqlite'));
    const chain = new AuditChain(db, Buffer.alloc(32, 7), join(d, 'anchor'));
    const c = new GroupCommitter(db, chain);
    const results = await Promise.allSettled([
      c.audit({ actor: 't', action: 'a1' }),
      c.submit((ctx) => {
        ctx.audit({ actor: 't', action: 'doomed' });
        throw new Error('unit failed');
      }),
      c.audit({ actor: 't', action: 'a2' }),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal(c.stats().batches, 1);
    const tail = chain.tail(10);
    assert.deepEqual(tail.map((e) => [e.seq, e.action]), [[1, 'a1'], [2, 'a2']]);
    assert.deepEqual(chain.verify(), { ok: true, entries: 2, first_bad: null, problem: null });
  });

  it('detects a deleted tail entry through the anchor, and a re-hashed chain through the key', async () => {
    const d = dir();
    const db = openDb(join(d, 'db.sqlite'));
    const chain = new AuditChain(db, Buffer.alloc(32, 7), join(d, 'anchor'));
    const c = new GroupCommitter(db, chain);
    for (let i = 0; i < 5; i++) await c.audit({ actor: 't', action: `e${i}` });
    db.exec('DROP TRIGGER audit_no_delete');
    db.prepare('DELETE FROM audit WHERE seq = 5').run();
    const truncated = chain.verify();
    assert.equal(truncated.ok, false);
    assert.equal(truncated.first_bad, 5);
    // whoever holds only the database cannot forge: a chain made with another key fails
    const forger = new AuditChain(db, Buffer.alloc(32, 9), join(d, 'anchor2'));
    db.exec('DROP TRIGGER audit_no_update');
    db.prepare('DELETE FROM audit').run();
    forger.append({ actor: 'mallory', action: 'forged' });
    assert.equal(chain.verify().ok, false);
  });
});
