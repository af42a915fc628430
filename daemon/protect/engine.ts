// The protection decision for a message, made at intake before the 250 (so "block" can
// refuse at DATA): DLP scan, recipient facts (keys, the domain's TLS record), and the
// active ruleset, evaluated per recipient. Also the policy store (versioned, audited
// rulesets), the DLP dictionary, `policy test` and the replay of a candidate ruleset over
// recorded decisions.
// Inputs: message bytes and envelope facts. Outputs: dispositions with their trace.

import type { Statement } from 'better-sqlite3';
import { Headers } from 'mailsplit';
import addressparser from 'nodemailer/lib/addressparser';
import type { FindingInfo, PolicyInfo, PolicyTestResult, ReplayResult } from '../../shared/domain.js';
import { ControlError } from '../../shared/errors.js';
import { splitMessage } from '../intake/message.js';
import type { GroupCommitter } from '../store/committer.js';
import type { Db } from '../store/db.js';
import { availableParallelism } from 'node:os';
import { DEFAULT_KEYWORDS, DEFAULT_MRN_PATTERNS, DetectorSet, type DetectorConfig } from './detectors.js';
import type { KeyStore } from './keys.js';
import { DEFAULT_RULES, evaluate, ruleSchema, rulesetSchema, type Disposition, type MessageFacts, type RecipientFacts, type Rule } from './policy.js';
import { TextExtractor } from './text-extractor.js';
import { ScanPool } from './scan-pool.js';
import { scanMessage, type ScanResult } from './scan.js';

export interface Decision {
  policyVersion: number;
  facts: MessageFacts;
  recipientFacts: RecipientFacts[];
  scan: ScanResult;
  dispositions: Disposition[];
  /** Set when any recipient's disposition is "block": the whole message is refused. */
  blocked: { rule: string; reason: string } | null;
}

export interface Envelope {
  sender: string;
  app: string;
  stream: 'transactional' | 'marketing';
  recipients: string[];
}

const HEADER_PROTECT = new Set(['tls', 'e2e', 'portal']);

export function messageFacts(raw: Buffer, env: Envelope, scan: ScanResult): MessageFacts {
  const headers = new Headers(splitMessage(raw).header);
  const protect = headers.getFirst('x-sealpost-protect').replace(/^x-sealpost-protect:/i, '').trim().toLowerCase();
  const findings: Record<string, number> = {};
  for (const f of scan.findings) findings[f.detector] = (findings[f.detector] ?? 0) + f.count;
  return {
    sender: env.sender,
    app: env.app,
    stream: env.stream,
    subjectTag: /^\s*(?:(?:re|fwd?|aw|wg):\s*)*\[secure\]/i.test(scan.subject),
    headerProtect: HEADER_PROTECT.has(protect) ? (protect as MessageFacts['headerProtect']) : null,
    findings,
    subjectFindings: [...new Set(scan.findings.filter((f) => f.part === 'subject').map((f) => f.detector))],
    unscanned: scan.unscanned.length,
  };
}

export class ProtectionEngine {
  private readonly pool: ScanPool | null;
  private readonly texts = new TextExtractor();
  private inline: DetectorSet;
  private active: { version: number; rules: Rule[] } = { version: 0, rules: DEFAULT_RULES };
  private tlsOf: Statement | null = null;

  constructor(
    private readonly deps: { db: Db; committer: GroupCommitter; keys: KeyStore; budgetMs: number; mrnPatterns?: string[] | undefined; threads?: number | undefined },
  ) {
    // custom MRN patterns are administrator regular expressions: scan them in a worker, which the
    // pool can stop, so a pattern that backtracks badly cannot stall intake
    const threads = deps.threads ?? (availableParallelism() > 2 ? Math.min(4, availableParallelism() - 1) : deps.mrnPatterns ? 1 : 0);
    this.pool = threads > 0 ? new ScanPool(this.detectorConfig(), threads) : null;
    this.inline = new DetectorSet(this.detectorConfig());
  }

  private configure(): void {
    const config = this.detectorConfig();
    this.pool?.configure(config);
    this.inline = new DetectorSet(config);
  }

  private detectorConfig(): DetectorConfig {
    const keywords = (this.deps.db.prepare('SELECT term FROM dlp_keywords ORDER BY term').all() as Array<{ term: string }>).map((r) => r.term);
    return { mrnPatterns: this.deps.mrnPatterns ?? DEFAULT_MRN_PATTERNS, keywords };
  }

  async stop(): Promise<void> {
    await this.pool?.close();
    await this.texts.close();
  }

  /** Seeds the shipped ruleset and dictionary on first start; loads the active version. */
  async start(): Promise<void> {
    await this.deps.committer.submit((ctx) => {
      const seeded = this.deps.db.prepare("SELECT value FROM meta WHERE key = 'protect.seeded'").get();
      if (seeded) return;
      const now = Date.now();
      this.deps.db.prepare('INSERT INTO policies (rules, created_at, actor, comment) VALUES (?, ?, ?, ?)').run(JSON.stringify(DEFAULT_RULES), now, 'daemon', 'shipped default');
      const kw = this.deps.db.prepare('INSERT OR IGNORE INTO dlp_keywords (term, added_at) VALUES (?, ?)');
      for (const t of DEFAULT_KEYWORDS) kw.run(t, now);
      this.deps.db.prepare("INSERT INTO meta (key, value) VALUES ('protect.seeded', ?)").run(new Date(now).toISOString());
      ctx.audit({ actor: 'daemon', action: 'policy.seeded', detail: { rules: DEFAULT_RULES.length, keywords: DEFAULT_KEYWORDS.length } });
    });
    this.load();
    this.configure();
  }

  private load(): void {
    const row = this.deps.db.prepare('SELECT version, rules FROM policies ORDER BY version DESC LIMIT 1').get() as { version: number; rules: string } | undefined;
    if (row) this.active = { version: row.version, rules: rulesetSchema.parse(JSON.parse(row.rules)) };
  }

  recipientFacts(address: string): RecipientFacts {
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    this.tlsOf ??= this.deps.db.prepare('SELECT starttls FROM tls_domains WHERE domain = ?');
    const tls = this.tlsOf.get(domain) as { starttls: number | null } | undefined;
    return {
      address: address.toLowerCase(),
      hasKey: this.deps.keys.has(address),
      tls: tls?.starttls === 1 ? 'supported' : tls?.starttls === 0 ? 'unsupported' : 'unknown',
    };
  }

  async decide(raw: Buffer, env: Envelope, rules = this.active.rules): Promise<Decision> {
    const scan = this.pool ? await this.pool.scan(raw, this.deps.budgetMs) : await scanMessage(raw, this.inline, this.deps.budgetMs, (kind, bytes, maxChars, budgetMs) => this.texts.extract(kind, bytes, maxChars, budgetMs));
    const facts = messageFacts(raw, env, scan);
    const recipientFacts = env.recipients.map((r) => this.recipientFacts(r));
    const dispositions = evaluate(rules, facts, recipientFacts);
    const block = dispositions.find((d) => d.action === 'block');
    return {
      policyVersion: this.active.version,
      facts,
      recipientFacts,
      scan,
      dispositions,
      blocked: block ? { rule: block.rule, reason: block.reason ?? `refused by rule ${block.rule}` } : null,
    };
  }

  // ---- policy store -------------------------------------------------------------------

  policy(): PolicyInfo {
    const row = this.deps.db.prepare('SELECT * FROM policies ORDER BY version DESC LIMIT 1').get() as { version: number; rules: string; created_at: number; actor: string; comment: string };
    return { version: row.version, created_at: new Date(row.created_at).toISOString(), actor: row.actor, comment: row.comment, rules: JSON.parse(row.rules) as Rule[] };
  }

  history(): Array<Omit<PolicyInfo, 'rules'> & { rules: number }> {
    return (this.deps.db.prepare('SELECT version, created_at, actor, comment, rules FROM policies ORDER BY version DESC').all() as Array<{ version: number; created_at: number; actor: string; comment: string; rules: string }>).map((r) => ({
      version: r.version,
      created_at: new Date(r.created_at).toISOString(),
      actor: r.actor,
      comment: r.comment,
      rules: (JSON.parse(r.rules) as unknown[]).length,
    }));
  }

  static validate(rules: unknown): Rule[] {
    const r = rulesetSchema.safeParse(rules);
    if (!r.success) throw new ControlError('INVALID_PARAMS', r.error.issues.map((i) => `${['rules', ...i.path].join('.')}: ${i.message}`).join('; '));
    return r.data;
  }

  async set(rules: unknown, actor: string, comment: string): Promise<PolicyInfo> {
    const valid = ProtectionEngine.validate(rules);
    await this.deps.committer.submit((ctx) => {
      const prev = this.active.version;
      const info = this.deps.db.prepare('INSERT INTO policies (rules, created_at, actor, comment) VALUES (?, ?, ?, ?)').run(JSON.stringify(valid), Date.now(), actor, comment);
      ctx.audit({ actor, action: 'policy.changed', subject: `v${info.lastInsertRowid}`, detail: { from_version: prev, rules: valid.map((r) => `${r.name}:${r.action}`), comment } });
    });
    this.load();
    return this.policy();
  }

  async addRule(rule: unknown, position: number | undefined, actor: string): Promise<PolicyInfo> {
    const parsed = ruleSchema.safeParse(rule);
    if (!parsed.success) throw new ControlError('INVALID_PARAMS', parsed.error.issues.map((i) => `${['rule', ...i.path].join('.')}: ${i.message}`).join('; '));
    const rules = [...this.active.rules];
    if (rules.some((r) => r.name === parsed.data.name)) throw new ControlError('CONFLICT', `a rule named ${parsed.data.name} exists`);
    // by default before the default rule, which must stay last
    const at = position === undefined ? rules.length - 1 : Math.min(Math.max(position - 1, 0), rules.length - 1);
    rules.splice(at, 0, parsed.data);
    return this.set(rules, actor, `add ${parsed.data.name}`);
  }

  async removeRule(name: string, actor: string): Promise<PolicyInfo> {
    const rules = this.active.rules.filter((r) => r.name !== name);
    if (rules.length === this.active.rules.length) throw new ControlError('NOT_FOUND', `no rule ${name}`);
    return this.set(rules, actor, `remove ${name}`);
  }

  // ---- dictionary -------------------------------------------------------------------

  keywords(): string[] {
    return (this.deps.db.prepare('SELECT term FROM dlp_keywords ORDER BY term COLLATE NOCASE').all() as Array<{ term: string }>).map((r) => r.term);
  }

  async editKeywords(add: string[], remove: string[], actor: string): Promise<string[]> {
    await this.deps.committer.submit((ctx) => {
      const ins = this.deps.db.prepare('INSERT OR IGNORE INTO dlp_keywords (term, added_at) VALUES (?, ?)');
      const del = this.deps.db.prepare('DELETE FROM dlp_keywords WHERE term = ?');
      for (const t of add) ins.run(t.trim(), Date.now());
      for (const t of remove) del.run(t.trim());
      // the terms themselves are clinical vocabulary, not patient data; the audit keeps counts
      ctx.audit({ actor, action: 'dlp.keywords_changed', detail: { added: add.length, removed: remove.length } });
    });
    this.configure();
    return this.keywords();
  }

  // ---- test and replay ----------------------------------------------------------------

  async test(raw: Buffer, env: Partial<Envelope>): Promise<PolicyTestResult> {
    const { header } = splitMessage(raw);
    const headers = new Headers(header);
    const listed = ['to', 'cc']
      .flatMap((h) => headers.get(h).map((l) => l.replace(/^[^:]+:/, '')))
      .flatMap((l) => addressparser(l, { flatten: true }) as Array<{ address?: string }>)
      .map((a) => a.address ?? '')
      .filter(Boolean);
    const from = (addressparser(headers.getFirst('from').replace(/^from:/i, ''), { flatten: true }) as Array<{ address?: string }>)[0]?.address ?? '';
    const envelope: Envelope = {
      sender: env.sender ?? from,
      app: env.app ?? 'policy-test',
      stream: env.stream ?? 'transactional',
      recipients: env.recipients && env.recipients.length > 0 ? env.recipients : listed,
    };
    if (envelope.recipients.length === 0) throw new ControlError('INVALID_PARAMS', 'the message has no To/Cc recipients: pass --to');
    const d = await this.decide(raw, envelope);
    return {
      policy_version: d.policyVersion,
      blocked: d.blocked,
      held_for_budget: d.scan.overBudget,
      findings: d.scan.findings as FindingInfo[],
      unscanned: d.scan.unscanned,
      scan_ms: Math.round(d.scan.ms * 10) / 10,
      recipients: d.dispositions.map((x) => ({ address: x.address, protection: x.action, rule: x.rule, raised_by: x.raisedBy, delivered_as: null, trace: x.trace })),
    };
  }

  /** How a candidate ruleset would have decided the recorded messages of the last `days`. */
  replay(candidate: unknown, days: number): ReplayResult {
    const rules = ProtectionEngine.validate(candidate);
    const since = Date.now() - days * 86_400_000;
    const rows = this.deps.db
      .prepare(
        `SELECT d.message_id, d.facts, r.address, r.protection FROM decisions d JOIN recipients r ON r.message_id = d.message_id
          WHERE d.created_at >= ? ORDER BY d.created_at`,
      )
      .all(since) as Array<{ message_id: string; facts: string; address: string; protection: string }>;
    const changes: Record<string, number> = {};
    const examples: ReplayResult['examples'] = [];
    const messages = new Set<string>();
    let changed = 0;
    for (const row of rows) {
      messages.add(row.message_id);
      const stored = JSON.parse(row.facts) as { message: Omit<MessageFacts, 'unscanned'> & { unscanned?: number }; recipients: RecipientFacts[] };
      const rf = stored.recipients.find((x) => x.address === row.address.toLowerCase()) ?? { address: row.address.toLowerCase(), hasKey: false, tls: 'unknown' as const };
      // decisions recorded before a fact existed get its neutral value
      const [d] = evaluate(rules, { ...stored.message, unscanned: stored.message.unscanned ?? 0 }, [rf]);
      if (d && d.action !== row.protection) {
        changed++;
        const key = `${row.protection}->${d.action}`;
        changes[key] = (changes[key] ?? 0) + 1;
        if (examples.length < 20) examples.push({ id: row.message_id, address: row.address, from: row.protection, to: d.action });
      }
    }
    return { days, messages: messages.size, recipients: rows.length, changed, changes, examples };
  }
}
