// Delivery workers: claim due recipients with a lease, per stream (transactional and
// marketing have their own pools, so bulk mail never takes a transactional slot) and within
// per-domain concurrency and rate limits; group them by message and domain; deliver each
// group in one SMTP transaction; apply the outcome per recipient (delivered / deferred with
// the retry table / bounced / expired / held) together with its attempt row, the domain's
// TLS record, DSNs and audit entries, in one unit. A crash mid-delivery leaves rows
// `active`; at start they go back to `queued`, so delivery is at least once (the in-flight
// recipients may get a copy twice).
// Inputs: recipient rows. Outputs: state changes, attempts, DSNs, audit. Side effects: SMTP.

import { Headers } from 'mailsplit';
import addressparser from 'nodemailer/lib/addressparser';
import { readFileSync } from 'node:fs';
import { hashPassword } from '../apps/passwords.js';
import type { Statement } from 'better-sqlite3';
import type { Stream } from '../../shared/domain.js';
import type { Config } from '../config/schema.js';
import { splitMessage } from '../intake/message.js';
import type { Log } from '../log.js';
import { DEFAULT_GIVE_UP_MS, retryDelay } from '../queue/retry.js';
import { newQueueId, type MessageKind, type QueueStore } from '../queue/store.js';
import type { GroupCommitter, UnitContext } from '../store/committer.js';
import type { Db } from '../store/db.js';
import type { Vault } from '../store/vault.js';
import { pgpMime, smimeEnvelope } from '../protect/encrypt.js';
import type { KeyStore } from '../protect/keys.js';
import type { SigningKeys } from '../protect/signing-keys.js';
import type { WkdLookup } from '../protect/wkd.js';
import { buildNotice, senderNameOf, type PortalItems } from '../protect/portal-items.js';
import type { DkimKeys } from './dkim.js';
import { buildDsn, type DsnRecipient } from './dsn.js';
import { StreamLimits, type Limit } from './limits.js';
import type { Route, Router } from './route.js';
import type { TlsRecord } from './tls-record.js';
import { SmtpTransport, type DeliveryResult, type RecipientResult, type TlsFacts } from './transport.js';

interface Claimed {
  id: number;
  message_id: string;
  address: string;
  domain: string;
  attempts: number;
  delay_notified: number;
  sender: string;
  received_at: number;
  kind: MessageKind;
  original_id: string;
  /** What policy requires: tls, e2e or portal. */
  protection: 'tls' | 'e2e' | 'portal';
  /** Set by the deciding rule; else portal.expiry_days. */
  portal_expiry_days: number | null;
}

/** One recipient's outcome, with the transaction it came from and how it was protected. */
interface RecipientOutcome {
  result: RecipientResult;
  host: string;
  tls: TlsFacts;
  /** tls, e2e-pgp, e2e-smime, portal */
  via: string;
}

interface Planned {
  row: Claimed;
  result: RecipientResult;
  host: string;
  tls: TlsFacts;
  via: string;
  state: string;
  next: number | null;
  dsn: 'failed' | 'delayed' | null;
}

const LEASE_MS = 10 * 60_000;
const STREAMS: readonly Stream[] = ['transactional', 'marketing'];
/** Headers an application may set for Sealpost; never passed on (CONTRACT.md). */
const PRIVATE_HEADERS = ['x-sealpost-protect', 'x-sealpost-list', 'x-sealpost-notice-subject', 'x-sealpost-portal-passphrase'];

/** The message as it leaves: private headers removed; the From: domain, for DKIM; the notice subject the app chose. */
export function outgoingMessage(data: Buffer): { message: Buffer; fromDomain: string | null; noticeSubject: string | null; passphrase: string | null } {
  const { header, body } = splitMessage(data);
  const headers = new Headers(header);
  const noticeSubject = headers.getFirst('x-sealpost-notice-subject').replace(/^x-sealpost-notice-subject:\s*/i, '').replace(/[\r\n\t]+/g, ' ').trim().slice(0, 120) || null;
  const passphrase = headers.getFirst('x-sealpost-portal-passphrase').replace(/^x-sealpost-portal-passphrase:\s*/i, '').replace(/[\r\n]+\s*/g, ' ').trim() || null;
  for (const h of PRIVATE_HEADERS) headers.remove(h);
  const from = headers.getFirst('from');
  const first = addressparser(from.replace(/^from:/i, '')).find((a) => 'address' in a && a.address) as { address?: string } | undefined;
  const at = first?.address?.lastIndexOf('@') ?? -1;
  return { message: Buffer.concat([headers.build(), body]), fromDomain: at > 0 ? first!.address!.slice(at + 1).toLowerCase() : null, noticeSubject, passphrase };
}

export interface DeliveryDeps {
  config: Config;
  log: Log;
  db: Db;
  committer: GroupCommitter;
  vault: Vault;
  queue: QueueStore;
  router: Router;
  dkim: DkimKeys;
  tlsRecord: TlsRecord;
  keys: KeyStore;
  portal: PortalItems;
  /** Web Key Directory lookups, when enabled (keys.wkd). */
  wkd: WkdLookup | null;
  /** The practice's signing keys, when PGP/MIME is signed (keys.pgp_sign). */
  signing: SigningKeys | null;
}

export class DeliveryWorker {
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private started = false;
  private readonly scanning: Record<Stream, boolean> = { transactional: false, marketing: false };
  private readonly inflight = new Set<Promise<void>>();
  private readonly limits: Record<Stream, StreamLimits>;
  private readonly transport = new SmtpTransport();
  private readonly ca: string | undefined;
  private readonly giveUpMs: number;
  private readonly delayNoticeMs: number;

  constructor(private readonly deps: DeliveryDeps) {
    const d = deps.config.delivery;
    this.ca = d.tls.ca_file ? readFileSync(d.tls.ca_file, 'utf8') : undefined;
    this.giveUpMs = d.give_up_hours * 3_600_000 || DEFAULT_GIVE_UP_MS;
    this.delayNoticeMs = d.delay_notice_hours * 3_600_000;
    const domainLimit = (domain: string): Limit => ({
      concurrency: d.domain_limits[domain]?.concurrency ?? d.domain_concurrency,
      perMinute: d.domain_limits[domain]?.per_minute ?? d.domain_per_minute,
    });
    this.limits = {
      transactional: new StreamLimits({ concurrency: d.transactional.concurrency, perMinute: d.transactional.per_minute }, domainLimit),
      marketing: new StreamLimits({ concurrency: d.marketing.concurrency, perMinute: d.marketing.per_minute }, domainLimit),
    };
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
    this.transport.close();
  }

  /** Looks for due work now (after intake commits, releases, retries); transactional first. */
  kick(): void {
    if (!this.started || this.stopping) return;
    for (const stream of STREAMS) {
      if (this.scanning[stream]) continue;
      this.scanning[stream] = true;
      void this.scan(stream)
        .catch((err: Error) => this.deps.log.error({ err: err.message, stream }, 'delivery scan failed'))
        .finally(() => {
          this.scanning[stream] = false;
        });
    }
  }

  private async scan(stream: Stream): Promise<void> {
    const limits = this.limits[stream];
    const free = limits.free();
    if (free <= 0) return;
    const groups = await this.deps.committer.submit(() => this.claim(stream, free, limits));
    for (const group of groups) {
      const domain = group[0]!.domain;
      limits.start(domain);
      const p = this.deliverGroup(stream, group)
        .catch((err: Error) => this.deps.log.error({ err: err.message, id: group[0]!.message_id }, 'delivery failed unexpectedly'))
        .finally(() => {
          limits.finish(domain);
          this.inflight.delete(p);
          this.kick();
        });
      this.inflight.add(p);
    }
  }

  private claimStatements: { select: Statement<unknown[]>; lease: Statement<unknown[]> } | null = null;

  /** Inside a unit: picks up to `free` message+domain groups of this stream, within domain limits, and leases them. */
  private claim(stream: Stream, free: number, limits: StreamLimits): Claimed[][] {
    const now = Date.now();
    this.claimStatements ??= {
      // one index range per state (recipients_stream_due), each already in next_attempt_at order
      select: this.deps.db.prepare(
        `SELECT r.id, r.message_id, r.address, r.domain, r.attempts, r.delay_notified, r.next_attempt_at, m.sender, m.received_at, m.kind, m.message_id AS original_id, r.protection, r.portal_expiry_days
           FROM recipients r JOIN messages m ON m.id = r.message_id
          WHERE r.stream = ? AND r.state = ? AND r.next_attempt_at <= ?
            AND r.domain NOT IN (SELECT value FROM json_each(?))
          ORDER BY r.next_attempt_at LIMIT ?`,
      ),
      lease: this.deps.db.prepare("UPDATE recipients SET state = 'active', lease_until = ?, first_attempt_at = coalesce(first_attempt_at, ?) WHERE id = ?"),
    };
    const { select, lease } = this.claimStatements;
    const blocked = JSON.stringify(limits.blockedDomains(now));
    const want = free * 4 + 8; // groups are usually one row: a little slack for blocked domains
    const rows = [...(select.all(stream, 'queued', now, blocked, want) as Array<Claimed & { next_attempt_at: number }>), ...(select.all(stream, 'deferred', now, blocked, want) as Array<Claimed & { next_attempt_at: number }>)]
      .sort((a, b) => a.next_attempt_at - b.next_attempt_at)
      .slice(0, want);
    const groups = new Map<string, Claimed[]>();
    for (const r of rows) {
      // TLS recipients of one domain share a transaction; e2e and portal are per recipient
      const key = `${r.message_id}\0${r.domain}\0${r.protection === 'tls' ? '' : r.address}`;
      const g = groups.get(key);
      if (g) g.push(r);
      else groups.set(key, [r]);
    }
    const picked: Claimed[][] = [];
    const taken = new Map<string, number>();
    for (const g of groups.values()) {
      if (picked.length >= free) break;
      const domain = g[0]!.domain;
      const used = taken.get(domain) ?? 0;
      if (limits.domainFree(domain, now) - used <= 0) continue;
      taken.set(domain, used + 1);
      picked.push(g);
      for (const r of g) lease.run(now + LEASE_MS, now, r.id);
    }
    return picked;
  }

  private async deliverGroup(stream: Stream, group: Claimed[]): Promise<void> {
    const first = group[0]!;
    const settings = this.deps.config.delivery[stream];
    const route = await this.deps.router.route(first.domain);
    const none: TlsFacts = { version: null, cipher: null, verified: null, certValid: null };
    let outcome: DeliveryResult;
    const perRecipient = new Map<number, RecipientOutcome>();
    if (route.kind !== 'hosts') {
      outcome = {
        host: '-',
        tls: none,
        starttls: null,
        tlsFailure: route.kind === 'defer' ? (route.tlsFailure ?? null) : null,
        results: group.map((g) => ({ address: g.address, code: null, response: route.reason, outcome: route.kind === 'bounce' ? 'bounced' : 'deferred' })),
      };
    } else {
      const sealed = this.deps.queue.sealedBody(first.message_id);
      if (!sealed) {
        outcome = { host: '-', tls: none, starttls: null, tlsFailure: null, results: group.map((g) => ({ address: g.address, code: null, response: 'message body missing', outcome: 'held' })) };
      } else {
        const out = outgoingMessage(this.deps.vault.open(sealed, first.message_id));
        if (first.protection === 'tls' || first.kind !== 'mail') {
          const signed = out.fromDomain ? await this.deps.dkim.sign(out.message, out.fromDomain) : out.message;
          outcome = await this.tryHosts(route, first.sender, group, signed, settings, first.kind === 'mail');
          // the MX cannot do TLS: the fallback chain (PGP, S/MIME, portal), never clear text
          if (first.kind === 'mail' && outcome.tlsFailure === 'starttls-not-supported') {
            for (const g of group) perRecipient.set(g.id, await this.secureDelivery(route, g, out, settings, 'e2e', 'no STARTTLS at the MX'));
          }
        } else {
          outcome = { host: '-', tls: none, starttls: null, tlsFailure: null, results: [] };
          perRecipient.set(first.id, await this.secureDelivery(route, first, out, settings, first.protection, null));
        }
      }
    }
    const planned = this.plan(group, outcome, perRecipient);
    const dsns = await this.buildDsns(planned);
    const queuedDsn = await this.deps.committer.submit((ctx) => this.apply(planned, outcome, route, dsns, ctx));
    if (queuedDsn) this.kick();
  }

  /**
   * End-to-end or portal delivery of one recipient: PGP/MIME to a PGP key, else S/MIME to a
   * certificate, else (or when encryption fails) a portal item and its content-free notice.
   * Encrypted mail and notices may use a server without TLS; content in clear never does.
   */
  private async secureDelivery(
    route: Extract<Route, { kind: 'hosts' }>,
    row: Claimed,
    out: ReturnType<typeof outgoingMessage>,
    settings: Config['delivery']['transactional'],
    want: 'e2e' | 'portal',
    why: string | null,
  ): Promise<RecipientOutcome> {
    let message: Buffer | null = null;
    let via = 'portal';
    if (want === 'e2e') {
      try {
        let keys = await this.deps.keys.lookup(row.address);
        if (!keys.pgp && !keys.smime && this.deps.wkd && (await this.deps.wkd.fetch(row.address))) keys = await this.deps.keys.lookup(row.address);
        if (keys.pgp) {
          message = await pgpMime(out.message, keys.pgp, this.deps.signing ? await this.deps.signing.forDomain(out.fromDomain) : null);
          via = 'e2e-pgp';
        } else if (keys.smime) {
          message = await smimeEnvelope(out.message, keys.smime.pem, this.deps.config.keys.smime_key_transport);
          via = 'e2e-smime';
        }
      } catch (err) {
        this.deps.log.warn({ id: row.message_id, rcpt: row.id, err: (err as Error).message }, 'encryption failed: falling back to the portal');
        message = null;
      }
    }
    if (!message) {
      via = 'portal';
      const sender = senderNameOf(out.message);
      const passphraseHash = out.passphrase ? await hashPassword(out.passphrase) : null;
      const item = await this.deps.committer.submit((ctx) =>
        this.deps.portal.ensure({ recipientId: row.id, messageId: row.message_id, address: row.address, senderName: sender.name, senderAddress: row.sender, passphraseHash, expiryDays: row.portal_expiry_days }, out.message, ctx),
      );
      message = await buildNotice({
        fromLine: sender.fromLine,
        to: row.address,
        senderName: sender.name,
        practiceName: this.deps.config.name,
        safeSubject: out.noticeSubject,
        link: `${this.deps.config.portal.public_url.replace(/\/$/, '')}/m/${item.token}`,
        expiresAt: item.expiresAt,
        hostname: this.deps.config.hostname,
      });
    }
    const signed = out.fromDomain ? await this.deps.dkim.sign(message, out.fromDomain) : message;
    const r = await this.tryHosts(route, row.sender, [row], signed, settings, false);
    const result = r.results[0]!;
    if (why) result.response = `${why}; sent as ${via}: ${result.response}`.slice(0, 500);
    return { result, host: r.host, tls: r.tls, via };
  }

  private async tryHosts(route: Extract<Route, { kind: 'hosts' }>, sender: string, group: Claimed[], message: Buffer, settings: Config['delivery']['transactional'], requireTls: boolean): Promise<DeliveryResult> {
    let last: DeliveryResult | null = null;
    for (const target of route.hosts) {
      last = await this.transport.deliver(
        {
          host: target.host,
          serverName: target.name,
          port: target.port,
          heloName: settings.helo || this.deps.config.hostname,
          ...(settings.source_ip ? { localAddress: settings.source_ip } : {}),
          ...(this.ca ? { ca: this.ca } : {}),
          timeoutMs: 30_000,
          check: target.check,
          requireTls,
        },
        { from: sender, to: group.map((g) => g.address) },
        message,
      );
      // the next MX only when this one could not take the transaction at all
      if (!last.results.every((x) => x.code === null && x.outcome !== 'delivered')) break;
    }
    return last!;
  }

  private plan(group: Claimed[], outcome: DeliveryResult, perRecipient: Map<number, RecipientOutcome>): Planned[] {
    const now = Date.now();
    return group.map((row) => {
      const own = perRecipient.get(row.id);
      const result = own?.result ?? outcome.results.find((x) => x.address === row.address) ?? { address: row.address, code: null, response: 'no result', outcome: 'deferred' as const };
      const via = own?.via ?? (row.kind === 'mail' ? 'tls' : row.kind);
      let state: string = result.outcome;
      if (state === 'delivered' && via === 'portal') state = 'portal';
      let next: number | null = null;
      let dsn: Planned['dsn'] = null;
      if (result.outcome === 'deferred') {
        if (now - row.received_at > this.giveUpMs) state = 'expired';
        else next = now + retryDelay(row.attempts + 1);
      }
      const notifiable = row.kind === 'mail' && row.sender !== '';
      if (notifiable && (state === 'bounced' || state === 'expired')) dsn = 'failed';
      else if (notifiable && state === 'deferred' && this.delayNoticeMs > 0 && !row.delay_notified && now - row.received_at >= this.delayNoticeMs) dsn = 'delayed';
      return { row, result, host: own?.host ?? outcome.host, tls: own?.tls ?? outcome.tls, via, state, next, dsn };
    });
  }

  private async buildDsns(planned: Planned[]): Promise<Map<string, { raw: Buffer; messageId: string }>> {
    const out = new Map<string, { raw: Buffer; messageId: string }>();
    for (const action of ['failed', 'delayed'] as const) {
      const items = planned.filter((p) => p.dsn === action);
      if (items.length === 0) continue;
      const first = items[0]!.row;
      const recipients: DsnRecipient[] = items.map((p) => ({
        address: p.row.address,
        action,
        diagnostic: p.result.response,
        code: p.result.code,
        remoteMta: p.host === '-' ? null : p.host,
        lastAttemptAt: Date.now(),
      }));
      out.set(
        action,
        await buildDsn({
          hostname: this.deps.config.hostname,
          fromDomain: this.deps.config.domains[0] ?? this.deps.config.hostname,
          name: this.deps.config.name,
          originalSender: first.sender,
          queueId: first.message_id,
          originalMessageId: first.original_id,
          arrivalDate: first.received_at,
          willRetryUntil: first.received_at + this.giveUpMs,
          recipients,
        }),
      );
    }
    return out;
  }

  private cached: { attempt: Statement<unknown[]>; update: Statement<unknown[]> } | null = null;

  private statements() {
    this.cached ??= {
      attempt: this.deps.db.prepare('INSERT INTO attempts (recipient_id, at, host, tls_version, tls_cipher, tls_verified, code, response, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      update: this.deps.db.prepare(
        // only rows still leased to us: an operator may have deleted one meanwhile
        "UPDATE recipients SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, hold_reason = ?, lease_until = NULL, updated_at = ?, delay_notified = delay_notified OR ?, delivered_as = coalesce(?, delivered_as) WHERE id = ? AND state = 'active'",
      ),
    };
    return this.cached;
  }

  /** Inside a unit. Returns whether a DSN was queued. */
  private apply(planned: Planned[], outcome: DeliveryResult, route: Route, dsns: Map<string, { raw: Buffer; messageId: string }>, ctx: UnitContext): boolean {
    const now = Date.now();
    const { attempt, update } = this.statements();
    const first = planned[0]!.row;
    const applied = new Set<string>();
    for (const p of planned) {
      const { result: r, host, tls } = p;
      const final = r.outcome === 'delivered';
      const changed = update.run(p.state, p.next, final ? null : r.response, r.outcome === 'held' ? r.response : null, now, p.dsn === 'delayed' ? 1 : 0, final ? p.via : null, p.row.id).changes;
      if (changed === 0) continue;
      if (p.dsn) applied.add(p.dsn);
      attempt.run(p.row.id, now, host, tls.version, tls.cipher, tls.verified, r.code, r.response, r.outcome);
      // one line per recipient and attempt, like Postfix's status= lines; identifiers, not addresses
      this.deps.log.info({ id: p.row.message_id, rcpt: p.row.id, state: p.state, via: p.via, host, code: r.code, tls: tls.version, verified: tls.verified }, 'delivery');
      ctx.audit({
        actor: 'delivery',
        action: `delivery.${p.state}`,
        subject: p.row.message_id,
        detail: { recipient: p.row.id, via: p.via, host, tls_version: tls.version, tls_verified: tls.verified, tls_failure: outcome.tlsFailure, code: r.code, attempt: p.row.attempts + 1 },
      });
    }
    if (outcome.host !== '-' || outcome.tlsFailure) this.observeTls(first.domain, outcome, route, outcome.tls, ctx);
    let queued = false;
    for (const [action, dsn] of dsns) {
      if (!applied.has(action)) continue;
      const id = newQueueId();
      this.deps.queue.insertUnit(
        { id, app: 'sealpost', stream: 'transactional', sender: '', recipients: [first.sender], size: dsn.raw.length, messageId: dsn.messageId, clientIp: '127.0.0.1', sealed: this.deps.vault.seal(dsn.raw, id), kind: 'dsn' },
        ctx,
      );
      ctx.audit({ actor: 'delivery', action: `dsn.${action}`, subject: first.message_id, detail: { dsn: id } });
      queued = true;
    }
    this.deps.queue.shredIfDone(first.message_id);
    return queued;
  }

  private observeTls(domain: string, outcome: DeliveryResult, route: Route, tls: TlsFacts, ctx: UnitContext): void {
    if (outcome.starttls === null && !outcome.tlsFailure) return; // never reached a server: nothing learned
    const facts = route.kind === 'hosts' ? route.facts : { mtaSts: null, dane: null };
    const worse = this.deps.tlsRecord.observe(
      {
        domain,
        starttls: outcome.starttls,
        version: tls.version,
        cipher: tls.cipher,
        certValid: tls.certValid,
        mtaSts: facts.mtaSts,
        dane: tls.verified === 'dane' ? 'verified' : facts.dane,
        result: outcome.tlsFailure ?? 'success',
      },
      ctx,
    );
    if (worse) this.deps.log.warn({ domain, reason: worse }, 'recipient domain TLS degraded');
  }
}
