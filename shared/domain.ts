// Domain vocabulary shared by the daemon, the console and the CLI. No I/O.

/** Recipient (queue row) states; see ARCHITECTURE.md "The flow of one message". */
export const RECIPIENT_STATES = [
  'queued',
  'active',
  'deferred',
  'held',
  'delivered',
  'portal',
  'bounced',
  'expired',
  'deleted',
] as const;
export type RecipientState = (typeof RECIPIENT_STATES)[number];

export const STREAMS = ['transactional', 'marketing'] as const;
export type Stream = (typeof STREAMS)[number];

export const ROLES = ['auditor', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** True when `have` is at least as powerful as `need` (auditor < operator < admin). */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/**
 * Message-level state for `queue list`, derived from its recipients (CONTRACT.md):
 * anything still to do wins over final states.
 */
export type MessageState = 'queued' | 'deferred' | 'held' | 'sent' | 'bounced' | 'portal' | 'deleted';

export function messageStateOf(states: readonly RecipientState[]): MessageState {
  const has = (s: RecipientState) => states.includes(s);
  if (has('held')) return 'held';
  if (has('deferred')) return 'deferred';
  if (has('queued') || has('active')) return 'queued';
  if (has('bounced') || has('expired')) return 'bounced';
  if (has('portal')) return 'portal';
  if (has('delivered')) return 'sent';
  return 'deleted';
}

export interface AppInfo {
  name: string;
  stream: Stream;
  from: string[];
  enabled: boolean;
  created_at: string;
  last_auth_at: string | null;
}

export interface RecipientInfo {
  id: number;
  address: string;
  state: RecipientState;
  attempts: number;
  next_attempt_at: string | null;
  last_error: string | null;
  hold_reason: string | null;
  /** Every delivery attempt, oldest first. */
  history: AttemptInfo[];
}

export interface AttemptInfo {
  at: string;
  host: string;
  outcome: 'delivered' | 'deferred' | 'bounced' | 'held';
  code: number | null;
  response: string;
  tls_version: string | null;
  tls_cipher: string | null;
  /** How the server certificate was checked: "dane", "mta-sts", "none" (encrypt level), or null without TLS. */
  tls_verified: string | null;
}

/** What Sealpost has learned about a recipient domain's TLS from real deliveries. */
export interface TlsDomainRecord {
  domain: string;
  starttls: boolean | null;
  tls_version: string | null;
  tls_cipher: string | null;
  /** The MX certificate validated against the trust store (checked even when not required). */
  cert_valid: boolean | null;
  mta_sts: string | null;
  dane: string | null;
  /** "success" or an RFC 8460 result type. */
  last_result: string;
  last_seen: string;
  last_ok_at: string | null;
  degraded: boolean;
  degraded_reason: string | null;
}

export interface DkimRecord {
  domain: string;
  selector: string;
  dns_name: string;
  txt: string;
  algorithm: 'rsa' | 'ed25519';
  /** Every selector to keep published: current keys and retired ones whose mail may still be verified. */
  records: Array<{ selector: string; algorithm: 'rsa' | 'ed25519'; dns_name: string; txt: string; status: 'active' | 'retiring'; created_at: string; retired_at: string | null }>;
}

export interface QueueEntry {
  id: string;
  state: MessageState;
  received_at: string;
  app: string;
  stream: Stream;
  sender: string;
  size: number;
  recipients: string[];
}

export interface QueueDetail extends QueueEntry {
  message_id: string;
  recipient_rows: RecipientInfo[];
}

export interface AuditEntry {
  seq: number;
  ts: string;
  actor: string;
  action: string;
  subject: string | null;
  detail: Record<string, unknown>;
  hash: string;
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  first_bad: number | null;
  problem: string | null;
}

export interface Listener {
  name: 'submission' | 'submission_tls' | 'portal' | 'control';
  address: string;
}

export interface StatusResult {
  name: string;
  hostname: string;
  version: string;
  node: string;
  uptime_s: number;
  queue: { depth: number; by_state: Partial<Record<RecipientState, number>> };
  listeners: Listener[];
  data_dir: string;
  sqlite: { version: string; journal_mode: string; synchronous: number };
  /** Group commit: transactions committed and the units (messages, audit events) they held. */
  commits: { batches: number; units: number };
}

export interface UserInfo {
  name: string;
  role: Role;
  created_at: string;
}

export interface RecipientKeyInfo {
  id: string;
  email: string;
  kind: 'pgp' | 'smime';
  fingerprint: string;
  not_after: string | null;
  created_at: string;
}

/** One policy rule (daemon/protect/policy.ts has the schema). */
export interface PolicyRule {
  name: string;
  description?: string;
  when: Record<string, unknown>;
  action: 'tls' | 'e2e' | 'portal' | 'quarantine' | 'block';
  reason?: string;
  /** Portal items made under this rule can be read this many days (else portal.expiry_days). */
  portal_expiry_days?: number;
}

export interface PolicyInfo {
  version: number;
  created_at: string;
  actor: string;
  comment: string;
  rules: PolicyRule[];
}

export interface FindingInfo {
  detector: string;
  count: number;
  part: string;
}

export interface RecipientDecision {
  address: string;
  /** What policy required. */
  protection: 'tls' | 'e2e' | 'portal' | 'quarantine' | 'block';
  rule: string;
  raised_by: string | null;
  /** What was actually done, once delivered: tls, e2e-pgp, e2e-smime, portal; null before. */
  delivered_as: string | null;
  trace: Array<{ rule: string; matched: boolean; failed?: string }>;
}

export interface PolicyTestResult {
  policy_version: number;
  blocked: { rule: string; reason: string } | null;
  held_for_budget: boolean;
  findings: FindingInfo[];
  unscanned: string[];
  scan_ms: number;
  recipients: RecipientDecision[];
}

export interface ExplainResult {
  id: string;
  decision: 'tls' | 'e2e-pgp' | 'e2e-smime' | 'portal' | 'quarantine' | 'block' | 'plain' | 'e2e' | 'pending';
  reasons: string[];
  policy_version: number | null;
  findings: FindingInfo[];
  unscanned: string[];
  recipients: Array<RecipientDecision & { state: RecipientState; history: AttemptInfo[] }>;
}

export interface ReplayResult {
  days: number;
  messages: number;
  recipients: number;
  changed: number;
  /** "from->to": count */
  changes: Record<string, number>;
  examples: Array<{ id: string; address: string; from: string; to: string }>;
}

export interface PortalItemInfo {
  id: string;
  message_id: string;
  address: string;
  state: 'active' | 'expired' | 'recalled';
  created_at: string;
  expires_at: string;
  opened_at: string | null;
  reminded_at: string | null;
}

/** The practice's OpenPGP signing key for one domain (`sealpost keys practice`). */
export interface PracticeKeyInfo {
  domain: string;
  fingerprint: string;
  /** Armored public key, to publish. */
  public_key: string;
  created_at: string;
}

export interface BackupInfo {
  path: string;
  bytes: number;
  created_at: string;
  messages: number;
  audit_entries: number;
  ms: number;
}

export interface RestoreInfo {
  backup: string;
  /** When the backup's snapshot was taken. */
  created_at: string | null;
  messages: number;
  audit_entries: number;
  /** Recipients still to deliver, put on hold for review. */
  held: number;
  /** Where the replaced database was moved. */
  previous: string | null;
  checked_only: boolean;
}

export interface HealthResult {
  cpu_load_pct: number;
  load_avg: number[];
  mem_used_pct: number;
  mem_total_bytes: number;
  disks: Array<{ mount: string; used_pct: number; size_bytes: number }>;
  data_dir_free_bytes: number | null;
  tls_days_left: number;
  queue: Partial<Record<RecipientState, number>>;
  uptime_s: number;
  version: string;
  name: string;
  /** Recipients delivered per minute, the last 30 minutes, oldest first. */
  delivered_per_minute: number[];
  /** Things an administrator should look at now, in plain words. */
  alerts: string[];
  /** The last backup (sealpost backup), or null. */
  last_backup_at: string | null;
  /** Seconds since the daemon last checkpointed the WAL into the database, and the WAL's size. */
  checkpoint_age_s: number | null;
  wal_bytes: number;
}
