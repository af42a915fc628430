// The one typed control API between the daemon, the console and the CLI.
// Adding a method here without a handler in daemon/control/ is a compile error.

import type {
  AppInfo,
  AuditEntry,
  AuditVerifyResult,
  BackupInfo,
  PracticeKeyInfo,
  DkimRecord,
  ExplainResult,
  HealthResult,
  PolicyInfo,
  PolicyRule,
  PolicyTestResult,
  PortalItemInfo,
  RecipientKeyInfo,
  ReplayResult,
  MessageState,
  QueueDetail,
  QueueEntry,
  RecipientState,
  Role,
  StatusResult,
  TlsDomainRecord,
  Stream,
  UserInfo,
} from './domain.js';

export const PROTOCOL_VERSION = 1;

export interface ControlMethods {
  status: { params: Record<string, never>; result: StatusResult };
  whoami: { params: Record<string, never>; result: { user: string; uid: number; role: Role } };
  /** CPU, memory, disks, load (systeminformation), certificate age, queue counts. */
  health: { params: Record<string, never>; result: HealthResult };

  'app.add': {
    params: { name: string; stream?: Stream; from?: string[] };
    result: { username: string; password: string; app: AppInfo };
  };
  'app.list': { params: Record<string, never>; result: AppInfo[] };
  'app.disable': { params: { name: string }; result: AppInfo };
  'app.rotate': { params: { name: string }; result: { username: string; password: string } };

  'user.add': { params: { name: string; role: Role }; result: UserInfo };
  'user.list': { params: Record<string, never>; result: UserInfo[] };
  'user.remove': { params: { name: string }; result: { removed: string } };

  'queue.list': {
    /** min_age_s: only messages accepted at least this many seconds ago. */
    params: { state?: MessageState | RecipientState; domain?: string; min_age_s?: number; limit?: number };
    result: QueueEntry[];
  };
  /** A window of the queue for tables: `total` matching messages, `rows` from `offset`. */
  'queue.page': {
    params: { state?: MessageState | RecipientState; domain?: string; text?: string; order?: 'oldest' | 'newest'; offset: number; limit: number };
    result: { total: number; offset: number; rows: QueueEntry[] };
  };
  'queue.show': { params: { id: string }; result: QueueDetail };
  'queue.hold': { params: { id: string; reason?: string }; result: QueueDetail };
  'queue.release': { params: { id: string; reason: string }; result: QueueDetail };
  'queue.retry': { params: { id: string }; result: QueueDetail };
  'queue.delete': { params: { id: string; reason: string }; result: QueueDetail };

  'dkim.show': { params: { domain?: string }; result: DkimRecord };
  'dkim.rotate': { params: { domain: string }; result: DkimRecord };
  'tls.domains': { params: { domain?: string }; result: TlsDomainRecord[] };

  'policy.list': { params: Record<string, never>; result: PolicyInfo & { history: Array<{ version: number; created_at: string; actor: string; comment: string; rules: number }> } };
  'policy.set': { params: { rules: PolicyRule[]; comment: string }; result: PolicyInfo };
  'policy.add': { params: { rule: PolicyRule; position?: number }; result: PolicyInfo };
  'policy.remove': { params: { name: string }; result: PolicyInfo };
  /** Runs a message (base64 of the .eml) through detectors and rules without sending it. */
  'policy.test': { params: { eml_base64: string; recipients?: string[]; app?: string; sender?: string; stream?: Stream }; result: PolicyTestResult };
  /** How a candidate ruleset (default: the active one) would have decided the last `days` of traffic. */
  'policy.replay': { params: { rules?: PolicyRule[]; days?: number }; result: ReplayResult };
  'message.explain': { params: { id: string }; result: ExplainResult };
  'keys.import': { params: { material: string; email?: string }; result: RecipientKeyInfo[] };
  'keys.list': { params: Record<string, never>; result: RecipientKeyInfo[] };
  'keys.remove': { params: { id: string }; result: { removed: string } };
  'dlp.keywords': { params: Record<string, never>; result: string[] };
  'dlp.keywords.edit': { params: { add?: string[]; remove?: string[] }; result: string[] };

  'portal.items': { params: { unopened?: boolean; message?: string }; result: PortalItemInfo[] };
  /** Withdraws every portal copy of a queued message: shredded, the links answer 410. */
  'portal.recall': { params: { id: string; reason: string }; result: { recalled: number } };

  'audit.verify': { params: Record<string, never>; result: AuditVerifyResult };
  'audit.tail': { params: { limit?: number; after?: number }; result: AuditEntry[] };

  /** An online, checked, encrypted snapshot of all state, written by the daemon to `out` (an absolute path). */
  'backup.create': { params: { out: string }; result: BackupInfo };
  /** The practice's own OpenPGP signing keys (keys.pgp_sign), to publish. */
  'keys.practice': { params: { domain?: string }; result: PracticeKeyInfo[] };
}

export type Method = keyof ControlMethods;
export type ParamsOf<M extends Method> = ControlMethods[M]['params'];
export type ResultOf<M extends Method> = ControlMethods[M]['result'];

export interface MethodSpec {
  /** Least role that may call it; the daemon enforces this, the console only hides. */
  role: Role;
  /** Changes or destroys state that matters: the console asks first, the audit records it. */
  dangerous: boolean;
  /** Changes anything at all (audited as an admin action). */
  mutates: boolean;
  summary: string;
}

export const METHODS: { readonly [M in Method]: MethodSpec } = {
  status: { role: 'auditor', dangerous: false, mutates: false, summary: 'daemon health, queue depth, listeners' },
  health: { role: 'auditor', dangerous: false, mutates: false, summary: 'system health: CPU, memory, disk, load, certificate' },
  whoami: { role: 'auditor', dangerous: false, mutates: false, summary: 'the identity and role of this client' },
  'app.add': { role: 'admin', dangerous: false, mutates: true, summary: 'create credentials for a sending application' },
  'app.list': { role: 'operator', dangerous: false, mutates: false, summary: 'list sending applications' },
  'app.disable': { role: 'admin', dangerous: true, mutates: true, summary: 'stop an application from sending' },
  'app.rotate': { role: 'admin', dangerous: true, mutates: true, summary: 'replace an application password' },
  'user.add': { role: 'admin', dangerous: false, mutates: true, summary: 'give a Unix user a console/CLI role' },
  'user.list': { role: 'admin', dangerous: false, mutates: false, summary: 'list console/CLI users' },
  'user.remove': { role: 'admin', dangerous: true, mutates: true, summary: 'remove a console/CLI user' },
  'queue.list': { role: 'auditor', dangerous: false, mutates: false, summary: 'list queued messages' },
  'queue.page': { role: 'auditor', dangerous: false, mutates: false, summary: 'a window of the queue (for the console)' },
  'queue.show': { role: 'auditor', dangerous: false, mutates: false, summary: 'one message with its recipients' },
  'queue.hold': { role: 'operator', dangerous: false, mutates: true, summary: 'stop delivery attempts' },
  'queue.release': { role: 'operator', dangerous: true, mutates: true, summary: 'resume delivery of held recipients' },
  'queue.retry': { role: 'operator', dangerous: false, mutates: true, summary: 'attempt delivery now' },
  'queue.delete': { role: 'operator', dangerous: true, mutates: true, summary: 'remove a message for good' },
  'dkim.show': { role: 'auditor', dangerous: false, mutates: false, summary: 'the DKIM selectors and DNS records to publish' },
  'dkim.rotate': { role: 'admin', dangerous: true, mutates: true, summary: 'new DKIM keys; the old selector stays published for a while' },
  'tls.domains': { role: 'auditor', dangerous: false, mutates: false, summary: 'what deliveries learned about recipient domains\' TLS' },
  'policy.list': { role: 'auditor', dangerous: false, mutates: false, summary: 'the active policy rules and their versions' },
  'policy.set': { role: 'admin', dangerous: true, mutates: true, summary: 'replace the whole ruleset (a new version)' },
  'policy.add': { role: 'admin', dangerous: true, mutates: true, summary: 'add a rule (a new version)' },
  'policy.remove': { role: 'admin', dangerous: true, mutates: true, summary: 'remove a rule (a new version)' },
  'policy.test': { role: 'operator', dangerous: false, mutates: false, summary: 'run a message through detectors and rules without sending' },
  'policy.replay': { role: 'auditor', dangerous: false, mutates: false, summary: 'what a candidate ruleset would change over recent traffic' },
  'message.explain': { role: 'auditor', dangerous: false, mutates: false, summary: 'why a message was protected the way it was' },
  'keys.import': { role: 'operator', dangerous: false, mutates: true, summary: 'import a recipient PGP key or S/MIME certificate' },
  'keys.list': { role: 'auditor', dangerous: false, mutates: false, summary: 'the recipient key store' },
  'keys.remove': { role: 'operator', dangerous: true, mutates: true, summary: 'remove a recipient key' },
  'dlp.keywords': { role: 'auditor', dangerous: false, mutates: false, summary: 'the DLP dictionary (diagnoses, drugs)' },
  'dlp.keywords.edit': { role: 'admin', dangerous: false, mutates: true, summary: 'add or remove DLP dictionary terms' },
  'portal.items': { role: 'auditor', dangerous: false, mutates: false, summary: 'portal items with opened/unopened status' },
  'portal.recall': { role: 'operator', dangerous: true, mutates: true, summary: 'withdraw a message from the portal (shredded)' },
  'audit.verify': { role: 'auditor', dangerous: false, mutates: false, summary: 'check the audit hash chain' },
  'keys.practice': { role: 'auditor', dangerous: false, mutates: false, summary: "the practice's OpenPGP signing keys, to publish" },
  'backup.create': { role: 'admin', dangerous: false, mutates: true, summary: 'an encrypted, verifiable backup of all state' },
  'audit.tail': { role: 'auditor', dangerous: false, mutates: false, summary: 'recent audit events' },
};
