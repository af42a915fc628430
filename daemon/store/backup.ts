// Backups: an online snapshot of the whole store (SQLite's backup API through better-sqlite3:
// pages are copied in steps while the daemon keeps serving), checked (integrity_check) and
// encrypted as an OpenPGP message (openpgp: AES-256, SEIPD with MDC, so `gpg --decrypt`
// reads it too) under a passphrase derived from the master key. Bodies inside are sealed
// already; the encryption also covers addresses and the audit trail. Restoring therefore
// needs the master key (the key escrow): without it, nothing is written.
// Restore (daemon stopped) decrypts to a temporary file, checks it, holds every recipient
// that was still to be delivered (an operator decides what to send again), records the gap
// in the audit chain and re-anchors it, then swaps the file in, keeping the old one aside.
// Inputs: the open store (backup) or the data directory (restore). Outputs: files, summaries.

import { createReadStream, createWriteStream, existsSync, fsyncSync, openSync, closeSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as openpgp from 'openpgp';
import { AuditChain } from '../audit/chain.js';
import { BudgetedWorker } from '../threads/budgeted-worker.js';
import { openDb, StoreError, type Db } from './db.js';
import { checkSnapshot, type SnapshotSummary } from './snapshot-check.js';
import type { Vault } from './vault.js';

import type { BackupInfo, RestoreInfo } from '../../shared/domain.js';

const passphrase = (vault: Vault) => vault.deriveKey('backup').toString('hex');

function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function removeDb(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true });
}

/** The snapshot's check in a worker thread (the daemon's event loop keeps serving meanwhile). */
async function checkOffLoop(path: string, stampAt: string): Promise<SnapshotSummary> {
  const worker = new BudgetedWorker<{ path: string; stampAt: string }, SnapshotSummary>(new URL('./snapshot-check-worker.js', import.meta.url), { heapMb: 128 });
  try {
    const o = await worker.run({ path, stampAt }, CHECK_BUDGET_MS);
    if (o.kind === 'done') return o.result;
    throw new StoreError(o.kind === 'failed' ? o.error : `the snapshot check ${o.kind === 'timeout' ? 'took over 30 minutes' : 'stopped'}`);
  } finally {
    await worker.close();
  }
}

const CHECK_BUDGET_MS = 30 * 60_000;

/** Snapshot, check and encrypt the store into `out` (written whole, then renamed into place). */
export async function createBackup(db: Db, vault: Vault, dataDir: string, out: string): Promise<BackupInfo> {
  const t0 = performance.now();
  const snapshot = join(dataDir, `backup-${process.pid}-${Date.now()}.db`);
  const partial = join(dirname(out), `.${basename(out)}.partial`);
  const createdAt = new Date().toISOString();
  try {
    await db.backup(snapshot);
    const s = await checkOffLoop(snapshot, createdAt);
    const message = await openpgp.createMessage({ binary: Readable.toWeb(createReadStream(snapshot)) as unknown as ReadableStream<Uint8Array>, format: 'binary' });
    const encrypted = (await openpgp.encrypt({ message, passwords: [passphrase(vault)], format: 'binary', config: { aeadProtect: false } })) as unknown as WebReadableStream<Uint8Array>;
    await pipeline(Readable.fromWeb(encrypted), createWriteStream(partial, { mode: 0o600 }));
    fsyncFile(partial);
    renameSync(partial, out);
    return { path: out, bytes: statSync(out).size, created_at: createdAt, messages: s.messages, audit_entries: s.audit_entries, ms: Math.round(performance.now() - t0) };
  } finally {
    removeDb(snapshot);
    rmSync(partial, { force: true });
  }
}

/** Decrypts a backup into `dest`; a wrong key or a damaged file leaves nothing behind. */
async function decryptBackup(file: string, vault: Vault, dest: string): Promise<void> {
  try {
    const message = await openpgp.readMessage({ binaryMessage: Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array> });
    const { data } = await openpgp.decrypt({ message, passwords: [passphrase(vault)], format: 'binary' });
    await pipeline(Readable.fromWeb(data as unknown as WebReadableStream<Uint8Array>), createWriteStream(dest, { mode: 0o600 }));
  } catch (err) {
    removeDb(dest);
    const why = (err as Error).message;
    if (/decrypt|session key|password/i.test(why)) throw new StoreError(`${file} does not open with this master key: restore needs the key the backup was made with (the key escrow)`);
    throw new StoreError(`${file} is not a readable Sealpost backup (${why})`);
  }
}

/** Restores (or with `checkOnly`, only checks) a backup into the data directory. The daemon must be stopped. */
export async function restoreBackup(file: string, vault: Vault, dataDir: string, opts: { checkOnly: boolean; actor: string }): Promise<RestoreInfo> {
  if (!existsSync(file)) throw new StoreError(`no backup at ${file}`);
  const live = join(dataDir, 'sealpost.db');
  const staged = join(dataDir, `restore-${process.pid}.db`);
  await decryptBackup(file, vault, staged);
  try {
    const s = checkSnapshot(staged); // the CLI's own process: nothing else waits on it
    if (opts.checkOnly) return { backup: file, created_at: s.created_at, messages: s.messages, audit_entries: s.audit_entries, held: 0, previous: null, checked_only: true };
    const db = openDb(staged); // migrates a backup made by an older Sealpost
    let held = 0;
    try {
      const chain = new AuditChain(db, vault.deriveKey('audit-chain'), join(dataDir, 'keys', 'audit.anchor'));
      const entry = db.transaction(() => {
        held = db
          .prepare("UPDATE recipients SET state = 'held', hold_reason = 'restored from backup: review, then release', updated_at = ? WHERE state IN ('queued','deferred','active')")
          .run(Date.now()).changes;
        return chain.append({ actor: opts.actor, action: 'backup.restored', detail: { backup: basename(file), backup_created_at: s.created_at, audit_entries_in_backup: s.audit_entries, held } });
      })();
      // the chain now ends here: the anchor follows it, and the entry above records the gap
      chain.committed([entry]);
      chain.flushAnchor();
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
    const previous = existsSync(live) ? `${live}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}` : null;
    const moved: string[] = [];
    try {
      if (previous) {
        for (const suffix of ['', '-wal', '-shm']) {
          if (!existsSync(live + suffix)) continue;
          renameSync(live + suffix, previous + suffix);
          moved.push(suffix);
        }
      }
      renameSync(staged, live);
    } catch (err) {
      // put the old store back as it was: a failed restore must not leave the box without one
      for (const suffix of moved) renameSync(previous! + suffix, live + suffix);
      throw new StoreError(`restore could not put the backup in place (${(err as Error).message}); the store is unchanged`);
    }
    return { backup: file, created_at: s.created_at, messages: s.messages, audit_entries: s.audit_entries, held, previous, checked_only: false };
  } finally {
    removeDb(staged);
  }
}
