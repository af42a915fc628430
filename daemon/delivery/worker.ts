// Delivery workers: claim due recipients with a lease, group them by message and domain,
// deliver each group in one SMTP transaction over STARTTLS, and apply the outcome per
// recipient (delivered / deferred with the retry table / bounced / held) together with its
// attempt row and audit entry. A crash mid-delivery leaves rows `active`; at start they go
// back to `queued`, so delivery is at least once (the in-flight recipients may get a copy twice).
// Inputs: recipient rows. Outputs: state changes, attempts, audit. Side effects: SMTP.

import { Headers } from 'mailsplit';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { splitMessage } from '../intake/message.js';
import type { Log } from '../log.js';
import { DEFAULT_GIVE_UP_MS, retryDelay } from '../queue/retry.js';
import type { GroupCommitter, UnitContext } from '../store/committer.js';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.js';
import type { Vault } from '../store/vault.js';
import type { QueueStore } from '../queue/store.js';
import { Router } from './route.js';
import { deliver, type RecipientResult } from './transport.js';

interface Claimed {
  id: number;
  message_id: string;
  address: string;
  domain: string;
  attempts: number;
  sender: string;
  received_at: number;
}

const LEASE_MS = 10 * 60_000;
/** Headers an application may set for Sealpost; never passed on (CONTRACT.md). */
const PRIVATE_HEADERS = ['x-sealpost-protect', 'x-sealpost-list'];

export function stripPrivateHeaders(data: Buffer): Buffer {
  const { header, body } = splitMessage(data);
  const headers = new Headers(header);
  for (const h of PRIVATE_HEADERS) headers.remove(h);
  return Buffer.concat([headers.build(), body]);
}

export class DeliveryWorker {
  private timer: NodeJS.Timeout | null = null;
  private running = 0;
  private stopping = false;
  private started = false;
  private scanning = false;
  private inflight = new Set<Promise<void>>();
  private readonly router: Router;
  private readonly ca: string | undefined;

  constructor(
    private readonly deps: { config: Config; log: Log; db: Db; committer: GroupCommitter; vault: Vault; queue: QueueStore; concurrency?: number; giveUpMs?: number },
  ) {
    this.router = new Router(deps.config.delivery.routes);
    this.ca = deps.config.delivery.tls.ca_file ? readFileSync(deps.config.delivery.tls.ca_file, 'utf8') : undefined;
  }

  async start(): Promise<void> {
    const recovered = await this.deps.committer.submit((ctx) => {
      const n = this.deps.db.prepare("UPDATE recipients SET state = 'queued', lease_until = NULL, next_attempt_at = ? WHERE state = 'active'").run(Date.now()).changes;
      if (n > 0) ctx.audit({ actor: 'delivery', action: 'delivery.recovered', detail: { recipients: n } });
      return n;
    });
    if (recovered > 0) this.deps.log.warn({ recovered }, 'recipients left active by a crash are queued again (at-least-once)');
    this.started = true;
    this.timer = setInterval(() => this.kick(), 1000);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.inflight]);
  }

  /** Looks for due work now (after intake commits, releases, retries). */
  kick(): void {
    if (!this.started || this.stopping || this.scanning) return;
    this.scanning = true;
    void this.scan().finally(() => {
      this.scanning = false;
    });
  }

  private async scan(): Promise<void> {
    const limit = (this.deps.concurrency ?? 10) - this.running;
    if (limit <= 0) return;
    const claimed = await this.deps.committer.submit(() => this.claim(limit * 20));
    const groups = new Map<string, Claimed[]>();
    for (const c of claimed) {
      const key = `${c.message_id}\0${c.domain}`;
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    for (const group of groups.values()) {
      this.running++;
      const p = this.deliverGroup(group)
        .catch((err: Error) => this.deps.log.error({ err: err.message, message: group[0]!.message_id }, 'delivery failed unexpectedly'))
        .finally(() => {
          this.running--;
          this.inflight.delete(p);
          this.kick();
        });
      this.inflight.add(p);
    }
  }

  private claim(limit: number): Claimed[] {
    const now = Date.now();
    const rows = this.deps.db
      .prepare(
        `SELECT r.id, r.message_id, r.address, r.domain, r.attempts, m.sender, m.received_at
           FROM recipients r JOIN messages m ON m.id = r.message_id
          WHERE r.state IN ('queued','deferred') AND r.next_attempt_at <= ?
          ORDER BY (m.stream = 'transactional') DESC, r.next_attempt_at LIMIT ?`,
      )
      .all(now, limit) as Claimed[];
    const lease = this.deps.db.prepare("UPDATE recipients SET state = 'active', lease_until = ?, first_attempt_at = coalesce(first_attempt_at, ?) WHERE id = ?");
    for (const r of rows) lease.run(now + LEASE_MS, now, r.id);
    return rows;
  }

  private async deliverGroup(group: Claimed[]): Promise<void> {
    const first = group[0]!;
    const route = await this.router.route(first.domain);
    let results: RecipientResult[];
    let host = '-';
    let tls: { version: string | null; cipher: string | null } = { version: null, cipher: null };
    if (route.kind !== 'hosts') {
      const outcome = route.kind === 'bounce' ? 'bounced' : 'deferred';
      results = group.map((g) => ({ address: g.address, code: null, response: route.reason, outcome }));
    } else {
      const sealed = this.deps.queue.sealedBody(first.message_id);
      if (!sealed) {
        results = group.map((g) => ({ address: g.address, code: null, response: 'message body missing', outcome: 'held' }));
      } else {
        const message = stripPrivateHeaders(this.deps.vault.open(sealed, first.message_id));
        results = [];
        for (const target of route.hosts) {
          const r = await deliver(
            { host: target.host, port: target.port, heloName: this.deps.config.hostname, verifyCertificate: false, ...(this.ca ? { ca: this.ca } : {}), timeoutMs: 30_000 },
            { from: first.sender, to: group.map((g) => g.address) },
            message,
          );
          results = r.results;
          host = r.host;
          tls = r.tls;
          // next MX only when this one could not take the transaction at all
          if (!r.results.every((x) => x.outcome === 'deferred' && x.code === null)) break;
        }
      }
    }
    await this.deps.committer.submit((ctx) => this.apply(group, results, host, tls, ctx));
  }

  private cached: { attempt: Statement<unknown[]>; update: Statement<unknown[]> } | null = null;

  private statements() {
    this.cached ??= {
      attempt: this.deps.db.prepare('INSERT INTO attempts (recipient_id, at, host, tls_version, tls_cipher, code, response, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      update: this.deps.db.prepare(
        // only rows still leased to us: an operator may have deleted one meanwhile
        "UPDATE recipients SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, hold_reason = ?, lease_until = NULL, updated_at = ? WHERE id = ? AND state = 'active'",
      ),
    };
    return this.cached;
  }

  private apply(group: Claimed[], results: RecipientResult[], host: string, tls: { version: string | null; cipher: string | null }, ctx: UnitContext): void {
    const now = Date.now();
    const giveUp = this.deps.giveUpMs ?? DEFAULT_GIVE_UP_MS;
    const { attempt, update } = this.statements();
    for (const g of group) {
      const r = results.find((x) => x.address === g.address) ?? { address: g.address, code: null, response: 'no result', outcome: 'deferred' as const };
      let state: string = r.outcome;
      let next: number | null = null;
      if (r.outcome === 'deferred') {
        if (now - g.received_at > giveUp) state = 'expired';
        else next = now + retryDelay(g.attempts + 1);
      }
      update.run(
        state,
        next,
        r.outcome === 'delivered' ? null : r.response,
        r.outcome === 'held' ? r.response : null,
        now,
        g.id,
      );
      attempt.run(g.id, now, host, tls.version, tls.cipher, r.code, r.response, r.outcome);
      // one line per recipient and attempt, like Postfix's status= lines; identifiers, not addresses
      this.deps.log.info({ id: g.message_id, rcpt: g.id, state, host, code: r.code, tls: tls.version }, 'delivery');
      ctx.audit({
        actor: 'delivery',
        action: `delivery.${state}`,
        subject: g.message_id,
        detail: { recipient: g.id, host, tls_version: tls.version, code: r.code, attempt: g.attempts + 1 },
      });
    }
    this.deps.queue.shredIfDone(group[0]!.message_id);
  }
}
