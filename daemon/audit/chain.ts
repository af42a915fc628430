// Audit chain: append-only, tamper-evident log of everything the appliance does.
// Each entry carries the HMAC-SHA256 of (previous hash, its own fields) under a key derived
// from the master key, which lives outside the database: whoever edits the database cannot
// recompute the chain. An anchor file (outside the database too) records the newest sequence
// number and hash, so truncating the tail is detected as well.
// Entries hold identifiers and decisions, never message content.
// Inputs: events. Outputs: rows in `audit`. Side effects: writes rows and the anchor file.

import { createHmac } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { AuditEntry, AuditVerifyResult } from '../../shared/domain.js';
import type { Db } from '../store/db.js';

export const GENESIS = '0'.repeat(64);

export interface AuditEvent {
  actor: string;
  action: string;
  subject?: string | null;
  detail?: Record<string, unknown>;
}

interface Row {
  seq: number;
  ts: string;
  actor: string;
  action: string;
  subject: string | null;
  detail: string;
  prev_hash: string;
  hash: string;
}

/** Deterministic JSON: keys sorted at every depth. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
    .join(',')}}`;
}

export class AuditChain {
  private readonly insert;
  private readonly last;
  private readonly key: Buffer;
  private newest: AuditEntry | null = null;
  private anchorTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    key: Buffer,
    private readonly anchorPath: string,
  ) {
    this.key = key;
    this.insert = db.prepare(
      'INSERT INTO audit (seq, ts, actor, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.last = db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
  }

  private digest(prev: string, r: Omit<Row, 'hash' | 'prev_hash'>): string {
    return createHmac('sha256', this.key)
      .update(prev)
      .update('\n')
      .update(canonicalJson([r.seq, r.ts, r.actor, r.action, r.subject, r.detail]))
      .digest('hex');
  }

  /** Appends inside the caller's transaction (so the event commits with what it describes). */
  append(event: AuditEvent): AuditEntry {
    const prev = (this.last.get() as { seq: number; hash: string } | undefined) ?? { seq: 0, hash: GENESIS };
    const row = {
      seq: prev.seq + 1,
      ts: new Date().toISOString(),
      actor: event.actor,
      action: event.action,
      subject: event.subject ?? null,
      detail: canonicalJson(event.detail ?? {}),
    };
    const hash = this.digest(prev.hash, row);
    this.insert.run(row.seq, row.ts, row.actor, row.action, row.subject, row.detail, prev.hash, hash);
    const entry: AuditEntry = { ...row, detail: JSON.parse(row.detail) as Record<string, unknown>, hash };
    return entry;
  }

  /** Called after the transaction that holds these entries has committed. */
  committed(entries: AuditEntry[]): void {
    if (entries.length === 0) return;
    this.newest = entries[entries.length - 1]!;
    // The anchor trails the chain by at most a second: written from a timer, not per commit.
    this.anchorTimer ??= setTimeout(() => this.flushAnchor(), 1000).unref();
  }

  /** Writes the anchor now (also on stop). */
  flushAnchor(): void {
    if (this.anchorTimer) clearTimeout(this.anchorTimer);
    this.anchorTimer = null;
    if (this.newest) this.writeAnchor(this.newest.seq, this.newest.hash);
  }

  private writeAnchor(seq: number, hash: string): void {
    const tmp = `${this.anchorPath}.tmp`;
    writeFileSync(tmp, `${seq} ${hash}\n`, { mode: 0o600 });
    renameSync(tmp, this.anchorPath);
  }

  private readAnchor(): { seq: number; hash: string } | null {
    try {
      const [seq, hash] = readFileSync(this.anchorPath, 'utf8').trim().split(' ');
      return { seq: Number(seq), hash: hash ?? '' };
    } catch {
      return null;
    }
  }

  /** Walks the whole chain; names the first entry that does not verify. */
  verify(): AuditVerifyResult {
    this.flushAnchor();
    let prev = GENESIS;
    let expectSeq = 1;
    let entries = 0;
    const anchor = this.readAnchor();
    let anchorSeen = anchor === null || anchor.seq === 0;
    for (const r of this.db.prepare('SELECT * FROM audit ORDER BY seq').iterate() as IterableIterator<Row>) {
      entries++;
      const bad = (problem: string): AuditVerifyResult => ({ ok: false, entries, first_bad: r.seq, problem });
      if (r.seq !== expectSeq) return { ok: false, entries, first_bad: expectSeq, problem: `entry ${expectSeq} is missing` };
      if (r.prev_hash !== prev) return bad('previous-hash link broken');
      if (this.digest(prev, r) !== r.hash) return bad('entry content does not match its hash');
      if (anchor && r.seq === anchor.seq) {
        if (r.hash !== anchor.hash) return bad('entry differs from the anchored hash');
        anchorSeen = true;
      }
      prev = r.hash;
      expectSeq++;
    }
    if (!anchorSeen && anchor) {
      return { ok: false, entries, first_bad: expectSeq, problem: `chain ends before the anchored entry ${anchor.seq} (truncated)` };
    }
    return { ok: true, entries, first_bad: null, problem: null };
  }

  tail(limit: number, after?: number): AuditEntry[] {
    const rows = (
      after !== undefined
        ? this.db.prepare('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').all(after, limit)
        : this.db.prepare('SELECT * FROM (SELECT * FROM audit ORDER BY seq DESC LIMIT ?) ORDER BY seq').all(limit)
    ) as Row[];
    return rows.map((r) => ({
      seq: r.seq,
      ts: r.ts,
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      detail: JSON.parse(r.detail) as Record<string, unknown>,
      hash: r.hash,
    }));
  }
}
