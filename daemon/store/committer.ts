// Group commit: many concurrent sessions' writes share one SQLite transaction, so one
// fsync (synchronous=FULL) makes a whole batch durable. A unit that fails rolls back
// alone (its own savepoint); a commit that fails (disk full, I/O error) fails every unit
// of the batch, and none of their callers acknowledges anything.
// Inputs: units of work (synchronous functions of the db). Outputs: their results, resolved
// only after the commit returned. Side effects: the transaction; the audit anchor after it.

import type { AuditEntry } from '../../shared/domain.js';
import type { AuditChain, AuditEvent } from '../audit/chain.js';
import type { Db } from './db.js';

export interface UnitContext {
  audit(event: AuditEvent): AuditEntry;
}

interface Pending<T> {
  unit: (ctx: UnitContext) => T;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export class GroupCommitter {
  private queue: Pending<unknown>[] = [];
  private scheduled = false;
  private closed = false;
  private batches = 0;
  private units = 0;

  constructor(
    private readonly db: Db,
    private readonly chain: AuditChain,
    private readonly maxBatch = 512,
  ) {}

  submit<T>(unit: (ctx: UnitContext) => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ unit, resolve, reject } as Pending<unknown>);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Convenience for a lone audit event. */
  audit(event: AuditEvent): Promise<AuditEntry> {
    return this.submit((ctx) => ctx.audit(event));
  }

  stats(): { batches: number; units: number } {
    return { batches: this.batches, units: this.units };
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0, this.maxBatch);
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    if (batch.length === 0) return;
    const outcomes: Array<{ ok: true; value: unknown; entries: AuditEntry[] } | { ok: false; error: unknown }> = [];
    const runAll = this.db.transaction(() => {
      for (const p of batch) {
        const entries: AuditEntry[] = [];
        const ctx: UnitContext = { audit: (e) => { const entry = this.chain.append(e); entries.push(entry); return entry; } };
        try {
          const value = this.db.transaction(() => p.unit(ctx))(); // savepoint
          outcomes.push({ ok: true, value, entries });
        } catch (error) {
          // SQLITE_FULL, SQLITE_IOERR and a few others roll back the whole transaction, not
          // just the savepoint: then no unit of this batch can commit, and each learns why.
          if (!this.db.inTransaction) throw error;
          outcomes.push({ ok: false, error });
        }
      }
    });
    try {
      runAll();
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    this.batches++;
    this.units += batch.length;
    const all: AuditEntry[] = [];
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.ok) {
        all.push(...o.entries);
        p.resolve(o.value);
      } else p.reject(o.error);
    });
    try {
      this.chain.committed(all);
    } catch {
      // the anchor is a best-effort extra; the chain itself is committed
    }
  }

  /** Commits what is pending, then refuses new work. */
  close(): void {
    while (this.queue.length > 0) this.flush();
    this.closed = true;
    this.chain.flushAnchor();
  }
}
