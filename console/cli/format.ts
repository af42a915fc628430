// Plain-text renderers for the CLI (the --json output is the API result itself).

import type { AppInfo, AuditEntry, HealthResult, QueueDetail, QueueEntry, StatusResult, UserInfo, DkimRecord, TlsDomainRecord, ExplainResult, PolicyInfo, PortalItemInfo, PolicyTestResult, RecipientDecision, RecipientKeyInfo, ReplayResult } from '../../shared/domain.js';

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function formatStatus(s: StatusResult): string {
  const states = Object.entries(s.queue.by_state).map(([k, v]) => `${k}=${v}`).join(' ') || 'empty';
  return [
    `${s.name} ${s.version} on ${s.hostname} (node ${s.node}, up ${s.uptime_s}s)`,
    `queue depth ${s.queue.depth} (${states})`,
    ...s.listeners.map((l) => `listening ${l.name.padEnd(15)} ${l.address}`),
    `data ${s.data_dir}  sqlite ${s.sqlite.version} journal=${s.sqlite.journal_mode} synchronous=${s.sqlite.synchronous}`,
  ].join('\n');
}

export function formatApps(apps: AppInfo[]): string {
  return table(
    ['NAME', 'STREAM', 'ENABLED', 'FROM', 'LAST AUTH'],
    apps.map((a) => [a.name, a.stream, a.enabled ? 'yes' : 'no', a.from.join(','), a.last_auth_at ?? '-']),
  );
}

export function formatUsers(users: UserInfo[]): string {
  return table(['USER', 'ROLE', 'SINCE'], users.map((u) => [u.name, u.role, u.created_at]));
}

export function formatQueue(entries: QueueEntry[]): string {
  if (entries.length === 0) return 'queue is empty';
  return table(
    ['ID', 'STATE', 'RECEIVED', 'SIZE', 'APP', 'SENDER', 'RECIPIENTS'],
    entries.map((e) => [e.id, e.state, e.received_at, String(e.size), e.app, e.sender, e.recipients.join(',')]),
  );
}

export function formatDetail(d: QueueDetail): string {
  return [
    `${d.id}  ${d.state}  ${d.stream}  received ${d.received_at}`,
    `app ${d.app}  sender <${d.sender}>  size ${d.size}  message-id ${d.message_id}`,
    table(
      ['RCPT', 'ADDRESS', 'STATE', 'ATTEMPTS', 'NEXT', 'NOTE'],
      d.recipient_rows.map((r) => [String(r.id), r.address, r.state, String(r.attempts), r.next_attempt_at ?? '-', r.hold_reason ?? r.last_error ?? '']),
    ),
    ...(d.recipient_rows.some((r) => r.history.length > 0)
      ? [
          '',
          'attempts:',
          table(
            ['RCPT', 'AT', 'HOST', 'OUTCOME', 'CODE', 'TLS', 'CERT', 'RESPONSE'],
            d.recipient_rows.flatMap((r) =>
              r.history.map((a) => [String(r.id), a.at, a.host, a.outcome, a.code === null ? '-' : String(a.code), a.tls_version ? `${a.tls_version} ${a.tls_cipher ?? ''}` : 'none', a.tls_verified ?? '-', a.response.slice(0, 60)]),
            ),
          ),
        ]
      : []),
  ].join('\n');
}

export function formatDkim(d: DkimRecord): string {
  return [
    `Publish these TXT records for ${d.domain}:`,
    ...d.records.map((r) => `\n${r.dns_name}  (${r.algorithm}, ${r.status}${r.retired_at ? ` since ${r.retired_at}` : ''})\n  ${r.txt}`),
  ].join('\n');
}

export function formatTlsDomains(rows: TlsDomainRecord[]): string {
  if (rows.length === 0) return 'no deliveries recorded yet';
  return table(
    ['DOMAIN', 'STARTTLS', 'TLS', 'CERT', 'MTA-STS', 'DANE', 'LAST', 'SEEN', 'FLAG'],
    rows.map((r) => [
      r.domain,
      r.starttls === null ? '?' : r.starttls ? 'yes' : 'NO',
      r.tls_version ?? '-',
      r.cert_valid === null ? '?' : r.cert_valid ? 'valid' : 'invalid',
      r.mta_sts ?? '-',
      r.dane ?? '-',
      r.last_result,
      r.last_seen,
      r.degraded ? `DEGRADED: ${r.degraded_reason ?? ''}` : '',
    ]),
  );
}

export function formatAudit(entries: AuditEntry[]): string {
  return entries
    .map((e) => `${String(e.seq).padStart(6)} ${e.ts} ${e.actor} ${e.action}${e.subject ? ` ${e.subject}` : ''} ${JSON.stringify(e.detail)}`)
    .join('\n');
}

export function formatHealth(h: HealthResult): string {
  return [
    `${h.name} ${h.version}, up ${Math.round(h.uptime_s / 60)} min`,
    `CPU ${h.cpu_load_pct}%  memory ${h.mem_used_pct}%  load ${h.load_avg.map((l) => l.toFixed(2)).join(' ')}`,
    `data free ${h.data_dir_free_bytes === null ? '?' : `${(h.data_dir_free_bytes / 1e9).toFixed(1)} GB`}  TLS certificate ${h.tls_days_left} days left`,
    `last backup ${h.last_backup_at ?? 'never'}  WAL checkpoint ${h.checkpoint_age_s === null ? 'not yet' : `${h.checkpoint_age_s} s ago`} (WAL ${h.wal_bytes} bytes)`,
    ...(h.alerts.length ? h.alerts.map((a) => `! ${a}`) : ['no alerts']),
  ].join('\n');
}

export function formatPolicy(p: PolicyInfo): string {
  return [
    `policy version ${p.version} (${p.created_at}, ${p.actor}: ${p.comment})`,
    table(
      ['#', 'RULE', 'WHEN', 'ACTION'],
      p.rules.map((r, i) => [String(i + 1), r.name, Object.keys(r.when).length ? JSON.stringify(r.when) : '(default)', r.action + (r.portal_expiry_days ? ` (expires in ${r.portal_expiry_days} d)` : '')]),
    ),
  ].join('\n');
}

function formatDecisions(rs: RecipientDecision[]): string {
  return table(
    ['RECIPIENT', 'PROTECTION', 'RULE', 'RAISED BY', 'DELIVERED AS'],
    rs.map((r) => [r.address, r.protection, r.rule, r.raised_by ?? '-', r.delivered_as ?? '-']),
  );
}

export function formatPolicyTest(t: PolicyTestResult): string {
  return [
    t.blocked ? `BLOCKED by rule ${t.blocked.rule}: ${t.blocked.reason}` : `policy version ${t.policy_version}`,
    ...(t.held_for_budget ? ['the scan ran out of its time budget: the message would be held'] : []),
    `findings: ${t.findings.length ? t.findings.map((f) => `${f.detector} x${f.count} in ${f.part}`).join(', ') : 'none'} (scan ${t.scan_ms} ms)`,
    ...(t.unscanned.length ? [`not scanned: ${t.unscanned.join(', ')}`] : []),
    formatDecisions(t.recipients),
    '',
    'trace:',
    ...t.recipients.map((r) => `  ${r.address}: ${r.trace.map((s) => (s.matched ? `${s.rule} MATCH` : `${s.rule} (no: ${s.failed})`)).join(' -> ')}`),
  ].join('\n');
}

export function formatExplain(e: ExplainResult): string {
  return [`${e.id}: ${e.decision}`, ...e.reasons.map((r) => `  - ${r}`)].join('\n');
}

export function formatKeys(keys: RecipientKeyInfo[]): string {
  if (keys.length === 0) return 'no recipient keys';
  return table(['ID', 'EMAIL', 'KIND', 'FINGERPRINT', 'EXPIRES'], keys.map((k) => [k.id, k.email, k.kind, k.fingerprint.slice(0, 16), k.not_after ?? 'never']));
}

export function formatReplay(r: ReplayResult): string {
  return [
    `last ${r.days} days: ${r.messages} messages, ${r.recipients} recipients; ${r.changed} would change protection`,
    ...Object.entries(r.changes).map(([k, n]) => `  ${k}: ${n}`),
    ...r.examples.map((x) => `  e.g. ${x.id} ${x.address}: ${x.from} -> ${x.to}`),
  ].join('\n');
}

export function formatPortalItems(items: PortalItemInfo[]): string {
  if (items.length === 0) return 'no portal items';
  return table(
    ['ITEM', 'MESSAGE', 'RECIPIENT', 'STATE', 'OPENED', 'EXPIRES'],
    items.map((i) => [i.id, i.message_id, i.address, i.state, i.opened_at ?? (i.reminded_at ? 'no (reminded)' : 'no'), i.expires_at]),
  );
}
