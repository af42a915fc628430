// The policy engine: a pure function from a message's facts and a ruleset to a disposition
// per recipient, with the trace of every rule that was considered. Rules are ordered; the
// first rule whose conditions all hold decides, and every ruleset ends with an explicit
// default rule (no conditions). A header (X-Sealpost-Protect) or the [secure] tag can raise
// the protection a rule chose, never lower it. There is no "plain": the weakest action is
// TLS-required.
// Inputs: ruleset, message facts, recipient facts. Outputs: dispositions and a trace.

import { z } from 'zod';
import { DETECTORS } from './detectors.js';

export const ACTIONS = ['tls', 'e2e', 'portal', 'quarantine', 'block'] as const;
export type Action = (typeof ACTIONS)[number];

/** Protection strength; "raise, never lower" compares these. */
export const STRENGTH: Record<Action, number> = { tls: 1, e2e: 2, portal: 3, quarantine: 4, block: 5 };

const detectorName = z.enum(DETECTORS as unknown as [string, ...string[]]);
const glob = z.string().min(1).max(200);

export const ruleSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
    description: z.string().max(300).optional(),
    when: z
      .object({
        /** Envelope sender, glob ("*@billing.clinic.example"). */
        sender: glob.optional(),
        app: z.string().min(1).max(64).optional(),
        /** Recipient address, glob. */
        recipient: glob.optional(),
        recipient_domain: glob.optional(),
        stream: z.enum(['transactional', 'marketing']).optional(),
        /** The subject starts with [secure]. */
        subject_tag: z.boolean().optional(),
        /** X-Sealpost-Protect was set (any value) or has this value. */
        header_protect: z.enum(['any', 'tls', 'e2e', 'portal']).optional(),
        /** At least one finding of any of these detectors, anywhere ("any" = any detector). */
        findings: z.union([z.literal('any'), z.array(detectorName).min(1)]).optional(),
        /** A finding in the Subject line. */
        findings_in_subject: z.boolean().optional(),
        /** No finding at all. */
        no_findings: z.boolean().optional(),
        /** Attachments whose text could not be read (images, spreadsheets, encrypted or broken documents). */
        unscanned_attachments: z.boolean().optional(),
        recipient_has_key: z.boolean().optional(),
        /** What deliveries learned about the recipient domain's STARTTLS. */
        recipient_tls: z.enum(['supported', 'unsupported', 'unknown']).optional(),
      })
      .strict()
      .default({}),
    action: z.enum(ACTIONS),
    /** Shown to the sender for "block", kept in the trace otherwise; never message content. */
    reason: z.string().max(300).optional(),
    /** How long a portal item made under this rule can be read (else portal.expiry_days). */
    portal_expiry_days: z.number().int().min(1).max(365).optional(),
  })
  .strict();

export type Rule = z.infer<typeof ruleSchema>;

export const rulesetSchema = z
  .array(ruleSchema)
  .min(1)
  .superRefine((rules, ctx) => {
    const last = rules[rules.length - 1]!;
    if (Object.keys(last.when).length > 0) ctx.addIssue({ code: 'custom', message: 'the last rule must be the default: a rule without conditions' });
    const names = new Set<string>();
    for (const r of rules) {
      if (names.has(r.name)) ctx.addIssue({ code: 'custom', message: `rule name "${r.name}" is used twice` });
      names.add(r.name);
    }
  });

export interface MessageFacts {
  sender: string;
  app: string;
  stream: 'transactional' | 'marketing';
  subjectTag: boolean;
  headerProtect: 'tls' | 'e2e' | 'portal' | null;
  /** detector -> total count; and which detectors fired in the subject. */
  findings: Record<string, number>;
  subjectFindings: string[];
  /** Attachments the scan could not read. */
  unscanned: number;
}

export interface RecipientFacts {
  address: string;
  hasKey: boolean;
  tls: 'supported' | 'unsupported' | 'unknown';
}

export interface TraceStep {
  rule: string;
  matched: boolean;
  /** The first condition that did not hold. */
  failed?: string;
}

export interface Disposition {
  address: string;
  action: Action;
  /** The rule that decided, and any raise by header or tag. */
  rule: string;
  raisedBy: string | null;
  reason: string | null;
  /** The deciding rule's portal expiry, if it sets one. */
  portalExpiryDays: number | null;
  trace: TraceStep[];
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.toLowerCase().replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  return re.test(value.toLowerCase());
}

/** The first condition of `rule` that does not hold, or null when all do. */
function failedCondition(rule: Rule, m: MessageFacts, r: RecipientFacts): string | null {
  const w = rule.when;
  const domain = r.address.slice(r.address.lastIndexOf('@') + 1);
  const any = Object.keys(m.findings).length > 0;
  if (w.sender !== undefined && !globMatch(w.sender, m.sender)) return 'sender';
  if (w.app !== undefined && w.app !== m.app) return 'app';
  if (w.recipient !== undefined && !globMatch(w.recipient, r.address)) return 'recipient';
  if (w.recipient_domain !== undefined && !globMatch(w.recipient_domain, domain)) return 'recipient_domain';
  if (w.stream !== undefined && w.stream !== m.stream) return 'stream';
  if (w.subject_tag !== undefined && w.subject_tag !== m.subjectTag) return 'subject_tag';
  if (w.header_protect !== undefined && (m.headerProtect === null || (w.header_protect !== 'any' && w.header_protect !== m.headerProtect))) return 'header_protect';
  if (w.findings !== undefined && !(w.findings === 'any' ? any : w.findings.some((d) => (m.findings[d] ?? 0) > 0))) return 'findings';
  if (w.findings_in_subject !== undefined && w.findings_in_subject !== m.subjectFindings.length > 0) return 'findings_in_subject';
  if (w.no_findings !== undefined && w.no_findings === any) return 'no_findings';
  if (w.unscanned_attachments !== undefined && w.unscanned_attachments !== m.unscanned > 0) return 'unscanned_attachments';
  if (w.recipient_has_key !== undefined && w.recipient_has_key !== r.hasKey) return 'recipient_has_key';
  if (w.recipient_tls !== undefined && w.recipient_tls !== r.tls) return 'recipient_tls';
  return null;
}

export function evaluate(rules: Rule[], m: MessageFacts, recipients: RecipientFacts[]): Disposition[] {
  return recipients.map((r) => {
    const trace: TraceStep[] = [];
    let decided: Rule | null = null;
    for (const rule of rules) {
      const failed = failedCondition(rule, m, r);
      trace.push(failed ? { rule: rule.name, matched: false, failed } : { rule: rule.name, matched: true });
      if (!failed) {
        decided = rule;
        break;
      }
    }
    // a valid ruleset ends with a default rule; be safe anyway
    const rule: Rule = decided ?? { name: 'implicit-default', action: 'portal', when: {} };
    let action: Action = rule.action;
    let raisedBy: string | null = null;
    const raise = (to: Action, by: string) => {
      if (STRENGTH[to] > STRENGTH[action] && action !== 'block' && action !== 'quarantine') {
        action = to;
        raisedBy = by;
      }
    };
    if (m.headerProtect) raise(m.headerProtect, `X-Sealpost-Protect: ${m.headerProtect}`);
    if (m.subjectTag) raise('portal', '[secure] subject tag');
    return { address: r.address, action, rule: rule.name, raisedBy, reason: rule.reason ?? null, portalExpiryDays: rule.portal_expiry_days ?? null, trace };
  });
}

/** The shipped policy (README "Protection"): nothing ever in clear. */
export const DEFAULT_RULES: Rule[] = [
  {
    name: 'phi-in-subject',
    description: 'Subjects are never encrypted, so PHI there is refused at DATA',
    when: { findings_in_subject: true },
    action: 'block',
    reason: 'the Subject line appears to contain protected health information; subjects are never encrypted: move it to the body',
  },
  { name: 'secure-tag', description: '[secure] in the subject, or X-Sealpost-Protect: portal, always goes to the portal', when: { subject_tag: true }, action: 'portal' },
  { name: 'header-portal', when: { header_protect: 'portal' }, action: 'portal' },
  { name: 'e2e-when-key', description: 'The recipient has a PGP key or S/MIME certificate', when: { recipient_has_key: true }, action: 'e2e' },
  { name: 'portal-when-no-tls', description: "The recipient's MX is known not to offer STARTTLS", when: { recipient_tls: 'unsupported' }, action: 'portal' },
  { name: 'tls-default', description: 'TLS required to the MX; if it turns out to lack STARTTLS: PGP, S/MIME, then the portal', when: {}, action: 'tls' },
];
