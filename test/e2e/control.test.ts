// The control API through the CLI: the JSON contract, queue operations with reasons,
// roles, and the audit chain (verify passes; fails after a direct edit of the database,
// even with the append-only trigger dropped first).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { AuditEntry, QueueDetail, QueueEntry, StatusResult } from '../../shared/domain.js';
import { BIN, TestDaemon } from '../helpers/daemon.js';
import { transport } from '../helpers/smtp.js';

describe('control API and CLI', () => {
  const d = new TestDaemon();
  let id = '';
  before(async () => {
    await d.start();
    const pass = await d.addApp('billing', ['--stream', 'marketing', '--from', 'billing@clinic.test']);
    const info = await transport(d.ports.submission, { secure: false, user: 'billing', pass }).sendMail({ from: 'billing@clinic.test', to: 'p@example.org', text: 'statement' });
    id = info.response.split(' ').pop()!;
  });
  after(() => d.cleanup());

  it('status --json has queue depth and listeners', async () => {
    const s = await d.cliJson<StatusResult>(['status']);
    assert.equal(s.queue.depth, 1);
    assert.deepEqual(s.listeners.map((l) => l.name).sort(), ['control', 'portal', 'submission', 'submission_tls']);
    assert.equal(s.sqlite.synchronous, 2);
    assert.equal(s.sqlite.journal_mode, 'wal');
  });

  it('app add --json prints username and password; app list shows no secret', async () => {
    const r = await d.cliJson<{ username: string; password: string }>(['app', 'add', 'scheduler']);
    assert.equal(r.username, 'scheduler');
    assert.ok(r.password.length >= 24);
    const list = await d.cli(['app', 'list', '--json']);
    assert.ok(!list.stdout.includes(r.password));
    assert.ok(!list.stdout.includes('scrypt'));
    const dup = await d.cli(['app', 'add', 'scheduler']);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /CONFLICT/);
  });

  it('queue list/show/hold/release/delete, with reasons where required', async () => {
    const list = await d.cliJson<QueueEntry[]>(['queue', 'list']);
    assert.deepEqual(list.map((q) => [q.id, q.state, q.recipients]), [[id, 'queued', ['p@example.org']]]);
    assert.equal((await d.cliJson<QueueEntry[]>(['queue', 'list', '--older-than', '1d'])).length, 0, 'the message is younger than a day');
    assert.equal((await d.cliJson<QueueEntry[]>(['queue', 'list', '--older-than', '0s', '--domain', 'example.org'])).length, 1);
    const badAge = await d.cli(['queue', 'list', '--older-than', 'soon']);
    assert.equal(badAge.code, 2);
    assert.match(badAge.stderr, /not an age/);
    assert.equal((await d.cliJson<QueueDetail>(['queue', 'hold', id, '--reason', 'check address'])).state, 'held');
    assert.equal((await d.cliJson<QueueEntry[]>(['queue', 'list', '--state', 'held'])).length, 1);
    const noReason = await d.cli(['queue', 'release', id]);
    assert.notEqual(noReason.code, 0);
    const shortReason = await d.cli(['queue', 'release', id, '--reason', 'x']);
    assert.notEqual(shortReason.code, 0);
    assert.match(shortReason.stderr, /INVALID_PARAMS/);
    assert.equal((await d.cliJson<QueueDetail>(['queue', 'release', id, '--reason', 'address confirmed'])).state, 'queued');
    const missing = await d.cli(['queue', 'show', 'ZZZZZZZZZZZZZZ']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /NOT_FOUND/);
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '10']);
    const release = audit.find((e) => e.action === 'queue.release');
    assert.equal(release?.detail.reason, 'address confirmed');
    assert.equal(release?.actor, 'user:root');
  });

  it('refuses a Unix user without a role, and lets an auditor read but not change', async () => {
    execFileSync('chmod', ['0755', d.dir]);
    execFileSync('chmod', ['0755', join(d.dir, 'var'), join(d.dir, 'var/run')]);
    execFileSync('chmod', ['0666', d.socket]); // let "nobody" reach the socket so the role check is what refuses
    const unknown = await d.cli(['status'], { asUser: 'nobody' });
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /UNKNOWN_USER/);
    await d.cliJson(['user', 'add', 'nobody', '--role', 'auditor']);
    const ok = await d.cli(['status', '--json'], { asUser: 'nobody' });
    assert.equal(ok.code, 0, ok.stderr);
    const hold = await d.cli(['queue', 'hold', id], { asUser: 'nobody' });
    assert.notEqual(hold.code, 0);
    assert.match(hold.stderr, /FORBIDDEN/);
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '5']);
    assert.ok(audit.some((e) => e.action === 'control.denied' && e.actor === 'user:nobody'));
    execFileSync('chmod', ['0660', d.socket]);
    const blocked = await d.cli(['status'], { asUser: 'nobody' });
    assert.notEqual(blocked.code, 0);
    assert.match(blocked.stderr, /EACCES/);
  });

  it('app disable stops an application from authenticating; rotate replaces its password', async () => {
    const pass = await d.addApp('fax');
    const send = (p: string) => transport(d.ports.submission, { secure: false, user: 'fax', pass: p }).sendMail({ from: 'fax@clinic.test', to: 'p@example.org', text: 'x' });
    const rotated = (await d.cliJson<{ password: string }>(['app', 'rotate', 'fax'])).password;
    await assert.rejects(send(pass), (e: { responseCode?: number }) => e.responseCode === 535, 'the old password no longer works');
    assert.match((await send(rotated)).response, /^250 /);
    const disabled = await d.cliJson<{ enabled: boolean }>(['app', 'disable', 'fax']);
    assert.equal(disabled.enabled, false);
    await assert.rejects(send(rotated), (e: { responseCode?: number }) => e.responseCode === 535);
    const apps = await d.cliJson<Array<{ name: string; last_auth_at: string | null }>>(['app', 'list']);
    assert.ok(apps.find((a) => a.name === 'fax')?.last_auth_at, 'the successful login was recorded');
  });

  it('user list and remove', async () => {
    await d.cliJson(['user', 'add', 'daemon', '--role', 'operator']);
    assert.ok((await d.cliJson<Array<{ name: string; role: string }>>(['user', 'list'])).some((u) => u.name === 'daemon' && u.role === 'operator'));
    assert.deepEqual(await d.cliJson(['user', 'remove', 'daemon']), { removed: 'daemon' });
    const again = await d.cli(['user', 'remove', 'daemon']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /NOT_FOUND/);
  });

  it('audit tail --follow prints new events as they are committed', async () => {
    const follow = spawn(process.execPath, [BIN, '--socket', d.socket, '--json', 'audit', 'tail', '--limit', '1', '--follow'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = createInterface({ input: follow.stdout });
    const seen = new Promise<AuditEntry>((resolve) =>
      lines.on('line', (line) => {
        const e = JSON.parse(line) as AuditEntry;
        if (e.action === 'app.add' && e.subject === 'follower') resolve(e);
      }),
    );
    await new Promise((r) => lines.once('line', r)); // the first (existing) entry: follow is running
    await d.cliJson(['app', 'add', 'follower']);
    const entry = await seen;
    assert.equal(entry.actor, 'user:root');
    follow.kill();
  });

  it('audit verify passes, then names the entry altered directly in the database', async () => {
    const ok = await d.cliJson<{ ok: boolean; entries: number; first_bad: null }>(['audit', 'verify']);
    assert.equal(ok.ok, true);
    assert.ok(ok.entries >= 5);
    const db = new Database(join(d.dir, 'var/sealpost.db'));
    assert.throws(() => db.prepare("UPDATE audit SET actor = 'user:mallory' WHERE seq = 3").run(), /append-only/);
    db.exec('DROP TRIGGER audit_no_update');
    db.prepare("UPDATE audit SET actor = 'user:mallory' WHERE seq = 3").run();
    db.close();
    const bad = await d.cli(['audit', 'verify', '--json']);
    assert.notEqual(bad.code, 0);
    const r = JSON.parse(bad.stdout) as { ok: boolean; first_bad: number };
    assert.equal(r.ok, false);
    assert.equal(r.first_bad, 3);
    assert.match(bad.stderr, /entry 3/);
  });

  it('stops on SIGTERM with exit 0 and records the stop in the audit chain', async () => {
    assert.equal(await d.stop(), 0);
    const db = new Database(join(d.dir, 'var/sealpost.db'), { readonly: true });
    const last = db.prepare('SELECT action FROM audit ORDER BY seq DESC LIMIT 1').get() as { action: string };
    db.close();
    assert.equal(last.action, 'daemon.stop');
  });
});
