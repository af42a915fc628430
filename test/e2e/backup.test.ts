// Backup and restore through the CLI against a real daemon: an online backup taken during a
// flood holds every message acknowledged before it began and passes integrity_check; the
// file is an OpenPGP message that gpg decrypts with the key derived from the master key, and
// holds no address in clear; restore refuses a running daemon and a foreign master key
// (writing nothing), then brings the store back with undelivered recipients held, the gap
// recorded in an audit chain that still verifies.

import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditEntry, AuditVerifyResult, BackupInfo, HealthResult, QueueDetail, QueueEntry, RestoreInfo } from '../../shared/domain.js';
import { Vault } from '../../daemon/store/vault.js';
import { TestDaemon } from '../helpers/daemon.js';
import { transport } from '../helpers/smtp.js';

describe('backup and restore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-backup-'));
  const file = join(dir, 'sealpost.backup');
  let d: TestDaemon;
  let pass = '';
  const acked: Array<{ id: string; at: number }> = [];
  const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

  before(async () => {
    d = new TestDaemon(); // delivery paused: everything accepted stays queued
    await d.start();
    pass = await d.addApp('ehr');
  });
  after(async () => {
    await d.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes an online backup during a flood that holds every message acknowledged before it began', async () => {
    const smtp = transport(d.ports.submission, { secure: false, user: 'ehr', pass, pool: true, maxConnections: 4 });
    let flooding = true;
    const flood = (async () => {
      for (let i = 0; flooding; i++) {
        const info = await smtp.sendMail({ from: 'doc@clinic.test', to: `patient${i}@example.org`, subject: 'Reminder', text: `Visit ${i}` });
        acked.push({ id: info.response.split(' ').pop()!, at: Date.now() });
      }
    })();
    while (acked.length < 20) await new Promise((r) => setImmediate(r));
    const started = Date.now();
    const backup = await d.cliJson<BackupInfo>(['backup', '--out', file]);
    flooding = false;
    await flood;
    smtp.close();
    const before = acked.filter((a) => a.at < started).map((a) => a.id);
    assert.ok(backup.messages >= before.length, `${backup.messages} messages in the backup, ${before.length} acked before it`);

    // an independent reader: gpg decrypts it with the passphrase derived from the master key
    const passphrase = Vault.open(join(d.dir, 'var', 'keys', 'master.key')).deriveKey('backup').toString('hex');
    const plain = join(dir, 'decrypted.db');
    execFileSync('gpg', ['--batch', '--quiet', '--homedir', dir, '--pinentry-mode', 'loopback', '--passphrase', passphrase, '--output', plain, '--decrypt', file], { stdio: 'ignore' });
    const db = new Database(plain, { readonly: true });
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    const ids = new Set((db.prepare('SELECT id FROM messages').all() as Array<{ id: string }>).map((r) => r.id));
    db.close();
    const missing = before.filter((id) => !ids.has(id));
    assert.deepEqual(missing, [], 'acknowledged before the backup began, but not in it');
    assert.doesNotMatch(readFileSync(file).toString('latin1'), /patient\d+@example\.org|SQLite format/, 'nothing in clear');

    const health = await d.cliJson<HealthResult>(['health']);
    assert.equal(health.last_backup_at, backup.created_at);
    assert.equal(typeof health.checkpoint_age_s, 'number', 'the WAL is checkpointed from the start');
    assert.ok(!health.alerts.some((a) => /backup/.test(a)), health.alerts.join('; '));
    const again = await d.cli(['backup', '--out', file]);
    assert.match(again.stderr, /CONFLICT: .* exists/);
  });

  it('restores: refuses a running daemon and a foreign key, then brings the store back with its queue held', async () => {
    const running = await d.cli(['restore', file, '--config', d.configPath]);
    assert.equal(running.code, 1);
    assert.match(running.stderr, /the daemon is running .*stop it before restoring/);
    const later = (await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({ from: 'doc@clinic.test', to: 'late@example.org', subject: 'After', text: 'x' })).response.split(' ').pop()!;
    await d.stop();

    const checked = await d.cliJson<RestoreInfo>(['restore', file, '--check', '--config', d.configPath]);
    assert.equal(checked.checked_only, true);

    // a box whose master key is not the one the backup was made with: a clear refusal, nothing written
    const keyPath = join(d.dir, 'var', 'keys', 'master.key');
    const dbPath = join(d.dir, 'var', 'sealpost.db');
    const liveBefore = sha(dbPath);
    renameSync(keyPath, `${keyPath}.escrow`);
    const noKey = await d.cli(['restore', file, '--config', d.configPath]);
    assert.match(noKey.stderr, /master key .* is missing/);
    Vault.open(keyPath); // a fresh, different key
    const foreign = await d.cli(['restore', file, '--config', d.configPath]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /does not open with this master key/);
    assert.equal(sha(dbPath), liveBefore, 'the store is untouched');
    assert.deepEqual(readdirSync(join(d.dir, 'var')).filter((n) => n.startsWith('restore-')), [], 'no partial file left');
    renameSync(`${keyPath}.escrow`, keyPath);

    const restored = await d.cliJson<RestoreInfo>(['restore', file, '--config', d.configPath]);
    assert.equal(restored.held, checked.messages, 'every undelivered recipient is held');
    assert.ok(restored.previous && restored.previous.includes('before-restore'));

    await d.start();
    const queue = await d.cliJson<QueueEntry[]>(['queue', 'list', '--limit', '10000']);
    assert.equal(queue.length, checked.messages);
    assert.ok(queue.every((q) => q.state === 'held'));
    assert.ok(!queue.some((q) => q.id === later), 'a message accepted after the backup is not in it');
    const one = await d.cliJson<QueueDetail>(['queue', 'show', queue[0]!.id]);
    assert.match(one.recipient_rows[0]!.hold_reason ?? '', /restored from backup/);
    const verify = await d.cliJson<AuditVerifyResult>(['audit', 'verify']);
    assert.equal(verify.ok, true, JSON.stringify(verify));
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '5']);
    const entry = audit.find((e) => e.action === 'backup.restored');
    assert.equal(entry?.detail.held, restored.held);
  });
});
