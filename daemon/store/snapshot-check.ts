// What a store snapshot holds, after SQLite's integrity_check: message and audit counts and
// when it was taken. With `stampAt`, first records that time in the snapshot itself (its own
// copy, never the live store), so a restore can say how old the backup is.
// Inputs: a database file. Outputs: its summary, or a StoreError.

import Database from 'better-sqlite3';
import { StoreError } from './db.js';

export interface SnapshotSummary {
  messages: number;
  audit_entries: number;
  created_at: string | null;
}

export function checkSnapshot(path: string, stampAt?: string): SnapshotSummary {
  const db = new Database(path, { readonly: stampAt === undefined });
  try {
    if (stampAt !== undefined) db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('backup.snapshot_at', ?)").run(stampAt);
    const check = db.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new StoreError(`the snapshot failed its integrity check (${String(check)})`);
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    const made = db.prepare("SELECT value FROM meta WHERE key = 'backup.snapshot_at'").get() as { value: string } | undefined;
    return { messages: count('SELECT count(*) AS n FROM messages'), audit_entries: count('SELECT count(*) AS n FROM audit'), created_at: made?.value ?? null };
  } finally {
    db.close();
  }
}
