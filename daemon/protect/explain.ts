// `sealpost message explain ID`: the recorded decision of a real message, rule by rule and
// detector by detector, with what delivery then did (every attempt and its TLS facts).
// Identifiers and decisions only, never content.
// Inputs: decisions, recipients, attempts. Output: ExplainResult.

import type { ExplainResult, FindingInfo, RecipientDecision } from '../../shared/domain.js';
import type { QueueStore } from '../queue/store.js';
import type { Db } from '../store/db.js';
import { STRENGTH, type Action } from './policy.js';

const DELIVERED_RANK: Record<string, number> = { tls: 1, 'e2e-pgp': 2, 'e2e-smime': 2, portal: 3 };

export function explainMessage(db: Db, queue: QueueStore, id: string): ExplainResult {
  const detail = queue.show(id); // NOT_FOUND for an unknown id
  const decision = db.prepare('SELECT * FROM decisions WHERE message_id = ?').get(id) as
    | { policy_version: number; findings: string; unscanned: string; facts: string }
    | undefined;
  const rows = db.prepare('SELECT id, protection, protection_rule, protection_trace, delivered_as FROM recipients WHERE message_id = ? ORDER BY id').all(id) as Array<{
    id: number;
    protection: string;
    protection_rule: string | null;
    protection_trace: string | null;
    delivered_as: string | null;
  }>;
  const findings = decision ? (JSON.parse(decision.findings) as FindingInfo[]) : [];
  const recipients = detail.recipient_rows.map((r) => {
    const row = rows.find((x) => x.id === r.id)!;
    const [rule, raised] = (row.protection_rule ?? 'none').split(' (raised by ');
    const rd: RecipientDecision = {
      address: r.address,
      protection: row.protection as RecipientDecision['protection'],
      rule: rule ?? 'none',
      raised_by: raised ? raised.replace(/\)$/, '') : null,
      delivered_as: row.delivered_as,
      trace: row.protection_trace ? (JSON.parse(row.protection_trace) as RecipientDecision['trace']) : [],
    };
    return { ...rd, state: r.state, history: r.history };
  });

  const reasons: string[] = [];
  if (!decision) reasons.push('no policy decision recorded (a message Sealpost generated itself, or accepted before protection existed): TLS required');
  else reasons.push(`policy version ${decision.policy_version}`);
  for (const f of findings) reasons.push(`detector ${f.detector} found ${f.count} in ${f.part}`);
  if (decision) for (const u of JSON.parse(decision.unscanned) as string[]) reasons.push(`not scanned: ${u}`);
  for (const r of recipients) {
    const failed = r.trace.filter((t) => !t.matched).map((t) => `${t.rule} (${t.failed})`);
    reasons.push(`${r.address}: rule ${r.rule} -> ${r.protection}${r.raised_by ? `, raised by ${r.raised_by}` : ''}${failed.length ? `; not matched: ${failed.join(', ')}` : ''}`);
    if (r.delivered_as) reasons.push(`${r.address}: delivered as ${r.delivered_as}`);
    const last = r.history.at(-1);
    if (last) reasons.push(`${r.address}: last attempt ${last.outcome} via ${last.host}, ${last.tls_version ?? 'no TLS'}${last.tls_verified ? ` (certificate: ${last.tls_verified})` : ''}`);
  }

  // the message's decision: what was done if every recipient is done, else what policy required
  let overall: ExplainResult['decision'] = 'pending';
  const delivered = recipients.map((r) => r.delivered_as).filter((d): d is string => Boolean(d));
  if (recipients.length > 0 && delivered.length === recipients.length) {
    overall = delivered.reduce((a, b) => ((DELIVERED_RANK[b] ?? 0) > (DELIVERED_RANK[a] ?? 0) ? b : a)) as ExplainResult['decision'];
  } else if (recipients.length > 0) {
    overall = recipients.map((r) => r.protection as Action).reduce((a, b) => (STRENGTH[b] > STRENGTH[a] ? b : a)) as ExplainResult['decision'];
  }
  return { id, decision: overall, reasons, policy_version: decision?.policy_version ?? null, findings, unscanned: decision ? (JSON.parse(decision.unscanned) as string[]) : [], recipients };
}
