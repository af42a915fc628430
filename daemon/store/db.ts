// Opens the SQLite store: WAL, synchronous=FULL asserted on every open (better-sqlite3
// reopens WAL databases at NORMAL), foreign keys on, integrity checked, migrations applied.
// Inputs: a path. Output: a Database. Side effects: creates/migrates the file.

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

/** synchronous=FULL is 2; EXTRA (3) is as durable. Anything less can lose acknowledged mail. */
export function assertDurable(db: Db): void {
  const sync = db.pragma('synchronous', { simple: true }) as number;
  if (sync < 2) throw new StoreError(`PRAGMA synchronous is ${sync}; refusing to run below FULL (2)`);
}

export function openDb(path: string, opts: { readonly?: boolean; skipIntegrity?: boolean; maxBytes?: number } = {}): Db {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new Database(path, { readonly: opts.readonly ?? false });
  if (!opts.readonly) db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  assertDurable(db);
  if (!opts.skipIntegrity) {
    const result = db.pragma('quick_check', { simple: true });
    if (result !== 'ok') {
      db.close();
      throw new StoreError(`database ${path} failed its integrity check (${String(result)}); restore from a backup`);
    }
  }
  if (!opts.readonly) migrate(db);
  if (opts.maxBytes) {
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`max_page_count = ${Math.ceil(opts.maxBytes / pageSize)}`);
  }
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new StoreError(`database schema ${current} is newer than this Sealpost (${MIGRATIONS.length}); upgrade Sealpost`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
