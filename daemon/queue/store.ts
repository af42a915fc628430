// The queue: one row per message (metadata and the sealed body) and one row per recipient
// with its own state (ARCHITECTURE.md principle 5). All writes go through the group
// committer, so each change commits together with its audit entry.
// Inputs: accepted messages, operator actions. Outputs: rows, QueueEntry/QueueDetail views.

import { randomBytes } from 'node:crypto';
import { messageStateOf, type AttemptInfo, type MessageState, type QueueDetail, type QueueEntry, type RecipientInfo, type RecipientState, type Stream } from '../../shared/domain.js';
import { ControlError } from '../../shared/errors.js';
import type { Decision } from '../protect/engine.js';
import type { GroupCommitter, UnitContext } from '../store/committer.js';
import type { Db } from '../store/db.js';

const ID_ALPHABET = '0123456789BCDFGHJKLMNPQRSTVWXYZ';

/** A 14-character queue id: 6 characters of time (sortable) and 8 of randomness. */
export function newQueueId(now = Date.now()): string {
  let t = Math.floor(now / 1000);
  let head = '';
  for (let i = 0; i < 6; i++) {
    head = ID_ALPHABET[t % ID_ALPHABET.length] + head;
    t = Math.floor(t / ID_ALPHABET.length);
  }
  const rnd = randomBytes(8);
  let tail = '';
  for (const b of rnd) tail += ID_ALPHABET[b % ID_ALPHABET.length];
  return head + tail;
}

export interface NewMessage {
  id: string;
  app: string;
  stream: Stream;
  sender: string;
  recipients: string[];
  size: number;
  messageId: string;
  clientIp: string;
  sealed: Buffer;
  /** 'mail' from an app; 'dsn' and 'notice' are Sealpost's own content-free messages. */
  kind?: MessageKind;
  /** The protection decision (absent for Sealpost's own messages: TLS, opportunistic for content-free kinds). */
  decision?: Decision;
}

export type MessageKind = 'mail' | 'dsn' | 'notice';

export interface QueueFilter {
  state?: MessageState | RecipientState;
  domain?: string;
  /** Only messages accepted at least this many seconds ago. */
  min_age_s?: number;
  /** Only messages whose id or a recipient address contains this text. */
  text?: string;
}

interface MessageRow {
  id: string;
  received_at: number;
  app: string;
  stream: Stream;
  sender: string;
  size: number;
  message_id: string;
}

interface RecipientRow {
  id: number;
  message_id: string;
  address: string;
  state: RecipientState;
  attempts: number;
  next_attempt_at: number | null;
  last_error: string | null;
  hold_reason: string | null;
}

/** Message-level names (CONTRACT.md) to the recipient states they stand for. */
const STATE_FILTER: Partial<Record<MessageState | RecipientState, RecipientState[]>> = {
  sent: ['delivered'],
  queued: ['queued', 'active'],
  bounced: ['bounced', 'expired'],
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export class QueueStore {
  private readonly insertMessage;
  private readonly insertBody;
  private readonly insertRecipient;
  private readonly insertDecision;

  constructor(
    private readonly db: Db,
    private readonly committer: GroupCommitter,
  ) {
    this.insertMessage = db.prepare(
      'INSERT INTO messages (id, received_at, app, stream, sender, size, message_id, client_ip, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertBody = db.prepare('INSERT INTO bodies (message_id, sealed) VALUES (?, ?)');
    this.insertDecision = db.prepare('INSERT INTO decisions (message_id, policy_version, facts, findings, unscanned, scan_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.selectBody = db.prepare('SELECT sealed FROM bodies WHERE message_id = ?');
    this.selectOpen = db.prepare("SELECT 1 FROM recipients WHERE message_id = ? AND state IN ('queued','deferred','held','active')");
    this.deleteBody = db.prepare('DELETE FROM bodies WHERE message_id = ?');
    this.insertRecipient = db.prepare(
      "INSERT INTO recipients (message_id, address, domain, state, next_attempt_at, updated_at, stream, protection, protection_rule, protection_trace, hold_reason, portal_expiry_days) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
  }

  /** The intake's one write: message, body, recipients and the audit entry, in one unit. */
  insertUnit(m: NewMessage, ctx: UnitContext): void {
    const now = Date.now();
    this.insertMessage.run(m.id, now, m.app, m.stream, m.sender, m.size, m.messageId, m.clientIp, m.kind ?? 'mail');
    this.insertBody.run(m.id, m.sealed);
    const d = m.decision;
    m.recipients.forEach((r, i) => {
      const disp = d?.dispositions[i];
      const hold = d?.scan.overBudget ? 'dlp: scan exceeded its time budget; review and release' : disp?.action === 'quarantine' ? `quarantine: rule ${disp.rule}` : null;
      const protection = disp && disp.action !== 'quarantine' && disp.action !== 'block' ? disp.action : 'tls';
      this.insertRecipient.run(m.id, r, r.slice(r.lastIndexOf('@') + 1).toLowerCase(), hold ? 'held' : 'queued', now, now, m.stream, disp?.action === 'quarantine' ? 'quarantine' : protection, disp ? disp.rule + (disp.raisedBy ? ` (raised by ${disp.raisedBy})` : '') : null, disp ? JSON.stringify(disp.trace) : null, hold, disp?.portalExpiryDays ?? null);
    });
    if (d) {
      this.insertDecision.run(
        m.id,
        d.policyVersion,
        JSON.stringify({ message: d.facts, recipients: d.recipientFacts }),
        JSON.stringify(d.scan.findings),
        JSON.stringify(d.scan.unscanned),
        Math.round(d.scan.ms * 10) / 10,
        now,
      );
    }
    ctx.audit({
      actor: m.kind && m.kind !== 'mail' ? 'delivery' : `app:${m.app}`,
      action: m.kind && m.kind !== 'mail' ? `${m.kind}.queued` : 'intake.accepted',
      subject: m.id,
      detail: {
        recipients: m.recipients.length,
        size: m.size,
        stream: m.stream,
        client_ip: m.clientIp,
        message_id: m.messageId,
        ...(d
          ? {
              policy_version: d.policyVersion,
              protection: d.dispositions.map((x) => x.action),
              findings: Object.fromEntries(Object.entries(d.facts.findings)),
              ...(d.scan.overBudget ? { held: 'dlp-budget' } : {}),
            }
          : {}),
      },
    });
  }

  private readonly selectBody;
  private readonly selectOpen;
  private readonly deleteBody;

  sealedBody(id: string): Buffer | null {
    const r = this.selectBody.get(id) as { sealed: Buffer } | undefined;
    return r?.sealed ?? null;
  }

  depth(): { depth: number; by_state: Partial<Record<RecipientState, number>> } {
    const rows = this.db.prepare('SELECT state, count(*) AS n FROM recipients GROUP BY state').all() as Array<{ state: RecipientState; n: number }>;
    const by_state: Partial<Record<RecipientState, number>> = {};
    let depth = 0;
    for (const r of rows) {
      by_state[r.state] = r.n;
      if (['queued', 'active', 'deferred', 'held'].includes(r.state)) depth += r.n;
    }
    return { depth, by_state };
  }

  private recipientsOf(id: string): RecipientRow[] {
    return this.db.prepare('SELECT * FROM recipients WHERE message_id = ? ORDER BY id').all(id) as RecipientRow[];
  }

  private entry(m: MessageRow, rcpts: Pick<RecipientRow, 'address' | 'state'>[]): QueueEntry {
    return {
      id: m.id,
      state: messageStateOf(rcpts.map((r) => r.state)),
      received_at: new Date(m.received_at).toISOString(),
      app: m.app,
      stream: m.stream,
      sender: m.sender,
      size: m.size,
      recipients: rcpts.map((r) => r.address),
    };
  }

  /** The SQL condition on recipients (r) for a filter, with its arguments. */
  private recipientMatch(filter: QueueFilter): { match: string; args: unknown[] } {
    let match = "r.state <> 'deleted'";
    const args: unknown[] = [];
    if (filter.domain) {
      match += ' AND r.domain = ?';
      args.push(filter.domain.toLowerCase());
    }
    if (filter.state) {
      const states = STATE_FILTER[filter.state] ?? [filter.state];
      match += ` AND r.state IN (${states.map(() => '?').join(',')})`;
      args.push(...states);
    }
    return { match, args };
  }

  /** Message condition (m) for a filter: age and a text that the id or a recipient contains. */
  private messageMatch(filter: QueueFilter): { where: string; args: unknown[] } {
    const r = this.recipientMatch(filter);
    const before = filter.min_age_s ? Date.now() - filter.min_age_s * 1000 : Number.MAX_SAFE_INTEGER;
    let where = `m.received_at <= ? AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND ${r.match})`;
    const args: unknown[] = [before, ...r.args];
    if (filter.text) {
      const like = `%${filter.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where += " AND (m.id LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM recipients r2 WHERE r2.message_id = m.id AND r2.address LIKE ? ESCAPE '\\'))";
      args.push(like, like);
    }
    return { where, args };
  }

  /**
   * Messages with at least one recipient matching the filter, oldest first. One query; the
   * filters run in SQL, so the limit counts matching messages.
   */
  list(filter: QueueFilter & { limit?: number; offset?: number; order?: 'oldest' | 'newest' } = {}): QueueEntry[] {
    const dir = filter.order === 'newest' ? 'DESC' : 'ASC';
    const { where, args } = this.messageMatch(filter);
    const limit = Math.min(Math.max(filter.limit ?? 1000, 1), 100_000);
    const rows = this.db
      .prepare(
        `WITH sel AS (
           SELECT * FROM messages m WHERE ${where}
           ORDER BY received_at ${dir}, id ${dir} LIMIT ? OFFSET ?)
         SELECT sel.*, r.address AS r_address, r.state AS r_state
           FROM sel JOIN recipients r ON r.message_id = sel.id
          ORDER BY sel.received_at ${dir}, sel.id ${dir}, r.id`,
      )
      .all(...args, limit, Math.max(0, filter.offset ?? 0)) as Array<MessageRow & { r_address: string; r_state: RecipientState }>;
    const out: QueueEntry[] = [];
    let current: { m: MessageRow; rcpts: Pick<RecipientRow, 'address' | 'state'>[] } | null = null;
    const flush = () => current && out.push(this.entry(current.m, current.rcpts));
    for (const row of rows) {
      if (current?.m.id !== row.id) {
        flush();
        current = { m: row, rcpts: [] };
      }
      current.rcpts.push({ address: row.r_address, state: row.r_state });
    }
    flush();
    return out;
  }

  /** One page of the filtered queue and how many messages match in all (for tables that show a window). */
  page(filter: QueueFilter & { offset: number; limit: number; order?: 'oldest' | 'newest' }): { total: number; offset: number; rows: QueueEntry[] } {
    const { where, args } = this.messageMatch(filter);
    const total = (this.db.prepare(`SELECT count(*) AS n FROM messages m WHERE ${where}`).get(...args) as { n: number }).n;
    const offset = Math.min(Math.max(0, filter.offset), Math.max(0, total - 1));
    return { total, offset, rows: this.list({ ...filter, offset, limit: filter.limit }) };
  }

  show(id: string): QueueDetail {
    const m = this.db.prepare('SELECT * FROM messages WHERE id = ?').get(id) as MessageRow | undefined;
    if (!m) throw new ControlError('NOT_FOUND', `no message ${id}`);
    const rcpts = this.recipientsOf(id);
    const history = this.db.prepare(
      'SELECT a.recipient_id, a.at, a.host, a.outcome, a.code, a.response, a.tls_version, a.tls_cipher, a.tls_verified FROM attempts a JOIN recipients r ON r.id = a.recipient_id WHERE r.message_id = ? ORDER BY a.id',
    ).all(id) as Array<Omit<AttemptInfo, 'at'> & { recipient_id: number; at: number }>;
    const recipient_rows: RecipientInfo[] = rcpts.map((r) => ({
      id: r.id,
      address: r.address,
      state: r.state,
      attempts: r.attempts,
      next_attempt_at: iso(r.next_attempt_at),
      last_error: r.last_error,
      hold_reason: r.hold_reason,
      history: history.filter((a) => a.recipient_id === r.id).map(({ recipient_id: _, at, ...a }) => ({ ...a, at: new Date(at).toISOString() })),
    }));
    return { ...this.entry(m, rcpts), message_id: m.message_id, recipient_rows };
  }

  /** Moves recipients of `id` in `from` states; audited; fails when none moved. */
  private async transition(
    actor: string,
    id: string,
    action: string,
    from: RecipientState[],
    set: string,
    args: unknown[],
    detail: Record<string, unknown>,
    after?: () => void,
  ): Promise<QueueDetail> {
    await this.committer.submit((ctx) => {
      if (!this.db.prepare('SELECT 1 FROM messages WHERE id = ?').get(id)) throw new ControlError('NOT_FOUND', `no message ${id}`);
      const res = this.db
        .prepare(`UPDATE recipients SET ${set}, updated_at = ? WHERE message_id = ? AND state IN (${from.map(() => '?').join(',')})`)
        .run(...args, Date.now(), id, ...from);
      if (res.changes === 0) throw new ControlError('CONFLICT', `message ${id} has no recipient in state ${from.join('/')}`);
      ctx.audit({ actor, action, subject: id, detail: { ...detail, recipients: res.changes } });
      after?.();
    });
    return this.show(id);
  }

  /**
   * Inside a unit: destroys the sealed body once no recipient can still need it (crypto-
   * shredding the message). Called by operator deletes and by delivery.
   */
  shredIfDone(id: string): void {
    if (!this.selectOpen.get(id)) this.deleteBody.run(id);
  }

  hold(actor: string, id: string, reason = 'held by operator'): Promise<QueueDetail> {
    return this.transition(actor, id, 'queue.hold', ['queued', 'deferred'], "state = 'held', hold_reason = ?", [reason], { reason });
  }

  release(actor: string, id: string, reason: string): Promise<QueueDetail> {
    // a quarantined recipient released after review goes out under the default chain (TLS, else PGP / S/MIME / portal)
    return this.transition(actor, id, 'queue.release', ['held'], "state = 'queued', hold_reason = NULL, next_attempt_at = ?, protection = CASE protection WHEN 'quarantine' THEN 'tls' ELSE protection END", [Date.now()], { reason });
  }

  retry(actor: string, id: string): Promise<QueueDetail> {
    return this.transition(actor, id, 'queue.retry', ['queued', 'deferred'], "state = 'queued', next_attempt_at = ?", [Date.now()], {});
  }

  /** Deletes recipients that are not final, and shreds the body in the same unit. */
  delete(actor: string, id: string, reason: string): Promise<QueueDetail> {
    return this.transition(actor, id, 'queue.delete', ['queued', 'deferred', 'held', 'active'], "state = 'deleted', next_attempt_at = NULL", [], { reason }, () =>
      this.shredIfDone(id),
    );
  }
}
