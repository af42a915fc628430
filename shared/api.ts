// The one typed control API between the daemon, the console and the CLI.
// Adding a method here without a handler in daemon/control/ is a compile error.

import type {
  AppInfo,
  AuditEntry,
  AuditVerifyResult,
  DkimRecord,
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
  'queue.show': { params: { id: string }; result: QueueDetail };
  'queue.hold': { params: { id: string; reason?: string }; result: QueueDetail };
  'queue.release': { params: { id: string; reason: string }; result: QueueDetail };
  'queue.retry': { params: { id: string }; result: QueueDetail };
  'queue.delete': { params: { id: string; reason: string }; result: QueueDetail };

  'dkim.show': { params: { domain?: string }; result: DkimRecord };
  'dkim.rotate': { params: { domain: string }; result: DkimRecord };
  'tls.domains': { params: { domain?: string }; result: TlsDomainRecord[] };

  'audit.verify': { params: Record<string, never>; result: AuditVerifyResult };
  'audit.tail': { params: { limit?: number; after?: number }; result: AuditEntry[] };
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
  whoami: { role: 'auditor', dangerous: false, mutates: false, summary: 'the identity and role of this client' },
  'app.add': { role: 'admin', dangerous: false, mutates: true, summary: 'create credentials for a sending application' },
  'app.list': { role: 'operator', dangerous: false, mutates: false, summary: 'list sending applications' },
  'app.disable': { role: 'admin', dangerous: true, mutates: true, summary: 'stop an application from sending' },
  'app.rotate': { role: 'admin', dangerous: true, mutates: true, summary: 'replace an application password' },
  'user.add': { role: 'admin', dangerous: false, mutates: true, summary: 'give a Unix user a console/CLI role' },
  'user.list': { role: 'admin', dangerous: false, mutates: false, summary: 'list console/CLI users' },
  'user.remove': { role: 'admin', dangerous: true, mutates: true, summary: 'remove a console/CLI user' },
  'queue.list': { role: 'auditor', dangerous: false, mutates: false, summary: 'list queued messages' },
  'queue.show': { role: 'auditor', dangerous: false, mutates: false, summary: 'one message with its recipients' },
  'queue.hold': { role: 'operator', dangerous: false, mutates: true, summary: 'stop delivery attempts' },
  'queue.release': { role: 'operator', dangerous: true, mutates: true, summary: 'resume delivery of held recipients' },
  'queue.retry': { role: 'operator', dangerous: false, mutates: true, summary: 'attempt delivery now' },
  'queue.delete': { role: 'operator', dangerous: true, mutates: true, summary: 'remove a message for good' },
  'dkim.show': { role: 'auditor', dangerous: false, mutates: false, summary: 'the DKIM selectors and DNS records to publish' },
  'dkim.rotate': { role: 'admin', dangerous: true, mutates: true, summary: 'new DKIM keys; the old selector stays published for a while' },
  'tls.domains': { role: 'auditor', dangerous: false, mutates: false, summary: 'what deliveries learned about recipient domains\' TLS' },
  'audit.verify': { role: 'auditor', dangerous: false, mutates: false, summary: 'check the audit hash chain' },
  'audit.tail': { role: 'auditor', dangerous: false, mutates: false, summary: 'recent audit events' },
};
