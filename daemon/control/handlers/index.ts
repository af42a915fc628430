// One handler per control method. The mapped type makes a method of shared/api.ts without
// a handler a compile error. Handlers validate their params and attribute changes to the
// caller (actor "user:NAME").

import { z } from 'zod';
import type { Method, ParamsOf, ResultOf } from '../../../shared/api.js';
import { RECIPIENT_STATES, ROLES, STREAMS, type Listener } from '../../../shared/domain.js';
import { ControlError } from '../../../shared/errors.js';
import type { AppRegistry } from '../../apps/registry.js';
import type { AuditChain } from '../../audit/chain.js';
import type { Config } from '../../config/schema.js';
import type { DkimKeys } from '../../delivery/dkim.js';
import type { TlsRecord } from '../../delivery/tls-record.js';
import type { ProtectionEngine } from '../../protect/engine.js';
import { explainMessage } from '../../protect/explain.js';
import type { KeyStore } from '../../protect/keys.js';
import type { PortalItems } from '../../protect/portal-items.js';
import type { SigningKeys } from '../../protect/signing-keys.js';
import type { Health } from '../health.js';
import type { QueueStore } from '../../queue/store.js';
import type { GroupCommitter } from '../../store/committer.js';
import type { Db } from '../../store/db.js';
import type { UserRegistry } from '../../users/registry.js';
import type { Identity } from '../identity.js';

export type Handlers = { [M in Method]: (params: ParamsOf<M>, who: Identity) => Promise<ResultOf<M>> };

export interface HandlerDeps {
  config: Config;
  version: string;
  startedAt: number;
  db: Db;
  apps: AppRegistry;
  users: UserRegistry;
  queue: QueueStore;
  chain: AuditChain;
  committer: GroupCommitter;
  dkim: DkimKeys;
  tlsRecord: TlsRecord;
  keys: KeyStore;
  protection: ProtectionEngine;
  portalItems: PortalItems;
  health: Health;
  commitStats: () => { batches: number; units: number };
  /** Writes a backup to `out` and records it (audit entry, last-backup time). */
  backup: (out: string, actor: string) => Promise<ResultOf<'backup.create'>>;
  signing: SigningKeys;
  listeners: () => Listener[];
}

function parse<T>(schema: z.ZodType<T>, params: unknown): T {
  const r = schema.safeParse(params ?? {});
  if (!r.success) {
    throw new ControlError('INVALID_PARAMS', r.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; '));
  }
  return r.data;
}

const name = z.object({ name: z.string().min(1).max(64) }).strict();
const id = z.object({ id: z.string().regex(/^[0-9A-Z]{6,32}$/, 'a queue id') }).strict();
const reason = z.string().trim().min(3, 'a reason of at least 3 characters is required').max(500);
const none = z.object({}).strict();
const actor = (who: Identity) => `user:${who.user}`;

export function createHandlers(d: HandlerDeps): Handlers {
  return {
    status: async (p) => {
      parse(none, p);
      return {
        name: d.config.name,
        hostname: d.config.hostname,
        version: d.version,
        node: process.version,
        uptime_s: Math.round((Date.now() - d.startedAt) / 1000),
        queue: d.queue.depth(),
        listeners: d.listeners(),
        data_dir: d.config.data_dir,
        sqlite: {
          version: (d.db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v,
          journal_mode: d.db.pragma('journal_mode', { simple: true }) as string,
          synchronous: d.db.pragma('synchronous', { simple: true }) as number,
        },
        commits: d.commitStats(),
      };
    },
    health: async (p) => {
      parse(none, p);
      return d.health.get();
    },
    whoami: async (p, who) => {
      parse(none, p);
      return who;
    },
    'app.add': async (p, who) => {
      const q = parse(
        z.object({ name: z.string(), stream: z.enum(STREAMS).optional(), from: z.array(z.string().max(320)).max(100).optional() }).strict(),
        p,
      );
      const { password, app } = await d.apps.add(actor(who), q.name, q.stream, q.from);
      return { username: app.name, password, app };
    },
    'app.list': async (p) => {
      parse(none, p);
      return d.apps.list();
    },
    'app.disable': async (p, who) => d.apps.disable(actor(who), parse(name, p).name),
    'app.rotate': async (p, who) => {
      const n = parse(name, p).name;
      return { username: n, password: await d.apps.rotate(actor(who), n) };
    },
    'user.add': async (p, who) => {
      const q = parse(z.object({ name: z.string(), role: z.enum(ROLES) }).strict(), p);
      return d.users.add(actor(who), q.name, q.role);
    },
    'user.list': async (p) => {
      parse(none, p);
      return d.users.list();
    },
    'user.remove': async (p, who) => {
      const n = parse(name, p).name;
      await d.users.remove(actor(who), n);
      return { removed: n };
    },
    'queue.list': async (p) => {
      const q = parse(
        z
          .object({
            state: z.enum([...RECIPIENT_STATES, 'sent'] as [string, ...string[]]).optional(),
            domain: z.string().max(255).optional(),
            min_age_s: z.number().int().min(0).max(10 * 365 * 86_400).optional(),
            limit: z.number().int().min(1).max(100_000).optional(),
          })
          .strict(),
        p,
      );
      return d.queue.list(q as ParamsOf<'queue.list'>);
    },
    'queue.page': async (p) => {
      const q = parse(
        z
          .object({
            state: z.enum([...RECIPIENT_STATES, 'sent'] as [string, ...string[]]).optional(),
            domain: z.string().max(255).optional(),
            text: z.string().max(320).optional(),
            order: z.enum(['oldest', 'newest']).optional(),
            offset: z.number().int().min(0),
            limit: z.number().int().min(1).max(1000),
          })
          .strict(),
        p,
      );
      return d.queue.page(q as ParamsOf<'queue.page'>);
    },
    'queue.show': async (p) => d.queue.show(parse(id, p).id),
    'queue.hold': async (p, who) => {
      const q = parse(id.extend({ reason: reason.optional() }), p);
      return d.queue.hold(actor(who), q.id, q.reason);
    },
    'queue.release': async (p, who) => {
      const q = parse(id.extend({ reason }), p);
      return d.queue.release(actor(who), q.id, q.reason);
    },
    'queue.retry': async (p, who) => d.queue.retry(actor(who), parse(id, p).id),
    'queue.delete': async (p, who) => {
      const q = parse(id.extend({ reason }), p);
      return d.queue.delete(actor(who), q.id, q.reason);
    },
    'dkim.show': async (p) => {
      const q = parse(z.object({ domain: z.string().min(1).max(253).optional() }).strict(), p);
      return d.dkim.show(q.domain?.toLowerCase());
    },
    'dkim.rotate': async (p, who) => {
      const q = parse(z.object({ domain: z.string().min(1).max(253) }).strict(), p);
      return d.dkim.rotate(q.domain.toLowerCase(), actor(who));
    },
    'tls.domains': async (p) => {
      const q = parse(z.object({ domain: z.string().min(1).max(253).optional() }).strict(), p);
      return d.tlsRecord.list(q.domain);
    },
    'policy.list': async (p) => {
      parse(none, p);
      return { ...d.protection.policy(), history: d.protection.history() };
    },
    'policy.set': async (p, who) => {
      const q = parse(z.object({ rules: z.array(z.unknown()), comment: z.string().trim().min(3, 'a comment of at least 3 characters is required').max(300) }).strict(), p);
      return d.protection.set(q.rules, actor(who), q.comment);
    },
    'policy.add': async (p, who) => {
      const q = parse(z.object({ rule: z.unknown(), position: z.number().int().min(1).max(1000).optional() }).strict(), p);
      return d.protection.addRule(q.rule, q.position, actor(who));
    },
    'policy.remove': async (p, who) => d.protection.removeRule(parse(name, p).name, actor(who)),
    'policy.test': async (p) => {
      const q = parse(
        z
          .object({
            eml_base64: z.string().min(1).max(1_000_000),
            recipients: z.array(z.string().email()).max(1000).optional(),
            app: z.string().min(1).max(64).optional(),
            sender: z.string().max(320).optional(),
            stream: z.enum(STREAMS as unknown as [string, ...string[]]).optional(),
          })
          .strict(),
        p,
      );
      const raw = Buffer.from(q.eml_base64, 'base64');
      return d.protection.test(Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'), {
        ...(q.recipients ? { recipients: q.recipients } : {}),
        ...(q.app ? { app: q.app } : {}),
        ...(q.sender ? { sender: q.sender } : {}),
        ...(q.stream ? { stream: q.stream as 'transactional' | 'marketing' } : {}),
      });
    },
    'policy.replay': async (p) => {
      const q = parse(z.object({ rules: z.array(z.unknown()).optional(), days: z.number().min(0.001).max(3650).optional() }).strict(), p);
      return d.protection.replay(q.rules ?? d.protection.policy().rules, q.days ?? 30);
    },
    'message.explain': async (p) => explainMessage(d.db, d.queue, parse(id, p).id),
    'keys.import': async (p, who) => {
      const q = parse(z.object({ material: z.string().min(1).max(200_000), email: z.string().email().optional() }).strict(), p);
      return d.keys.import(q.material, actor(who), q.email);
    },
    'keys.list': async (p) => {
      parse(none, p);
      return d.keys.list();
    },
    'keys.remove': async (p, who) => d.keys.remove(parse(z.object({ id: z.string().regex(/^K[0-9A-F]{11}$/, 'a key id') }).strict(), p).id, actor(who)),
    'dlp.keywords': async (p) => {
      parse(none, p);
      return d.protection.keywords();
    },
    'dlp.keywords.edit': async (p, who) => {
      const term = z.string().trim().min(3).max(80);
      const q = parse(z.object({ add: z.array(term).max(10_000).optional(), remove: z.array(term).max(10_000).optional() }).strict(), p);
      return d.protection.editKeywords(q.add ?? [], q.remove ?? [], actor(who));
    },
    'portal.items': async (p) => {
      const q = parse(z.object({ unopened: z.boolean().optional(), message: z.string().regex(/^[0-9A-Z]{6,32}$/).optional() }).strict(), p);
      return d.portalItems.list({ ...(q.unopened ? { unopened: true } : {}), ...(q.message ? { message: q.message } : {}) });
    },
    'portal.recall': async (p, who) => {
      const q = parse(id.extend({ reason }), p);
      const recalled = await d.committer.submit((ctx) => d.portalItems.recall(q.id, actor(who), ctx));
      if (recalled === 0) throw new ControlError('NOT_FOUND', `no active portal item for ${q.id}`);
      return { recalled };
    },
    'keys.practice': async (p) => {
      const q = parse(z.object({ domain: z.string().min(1).max(253).optional() }).strict(), p);
      return d.signing.list(q.domain);
    },
    'backup.create': async (p, who) => {
      const q = parse(z.object({ out: z.string().min(2).max(4096).refine((v) => v.startsWith('/'), 'an absolute path') }).strict(), p);
      return d.backup(q.out, actor(who));
    },
    'audit.verify': async (p) => {
      parse(none, p);
      return d.chain.verify();
    },
    'audit.tail': async (p) => {
      const q = parse(z.object({ limit: z.number().int().min(1).max(10_000).optional(), after: z.number().int().min(0).optional() }).strict(), p);
      return d.chain.tail(q.limit ?? 50, q.after);
    },
  };
}
