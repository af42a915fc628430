// The text of the console's list views, built from the typed control API: one message's
// decision and attempts (never its body), the audit tail, recipient keys, the active
// policy, users, portal items. Plain lines, so the screen is easy to read and to test.

import type { ExplainResult, QueueDetail } from '../../shared/domain.js';
import type { Method, ParamsOf, ResultOf } from '../../shared/api.js';
import type { View } from './state.js';

interface Caller {
  call<M extends Method>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
}

function messageLines(e: ExplainResult, q: QueueDetail): string[] {
  return [
    `${q.id}  ${q.state}  ${q.stream}  app ${q.app}  received ${q.received_at}`,
    `sender <${q.sender}>  size ${q.size}  message-id ${q.message_id}`,
    `protection: ${e.decision}${e.policy_version ? ` (policy v${e.policy_version})` : ''}`,
    '',
    'why:',
    ...e.reasons.map((r) => `  ${r}`),
    '',
    'attempts:',
    ...q.recipient_rows.flatMap((r) =>
      r.history.length === 0
        ? [`  ${r.address}: none yet (${r.state}${r.next_attempt_at ? `, next ${r.next_attempt_at}` : ''})`]
        : r.history.map((a) => `  ${r.address}: ${a.at} ${a.outcome} ${a.code ?? '-'} via ${a.host} ${a.tls_version ?? 'no TLS'} ${a.tls_verified ? `cert:${a.tls_verified}` : ''} ${a.response.slice(0, 60)}`),
    ),
  ];
}

export async function viewLines(c: Caller, view: View, arg: string | null): Promise<string[]> {
  switch (view) {
    case 'message': {
      const [e, q] = await Promise.all([c.call('message.explain', { id: arg ?? '' }), c.call('queue.show', { id: arg ?? '' })]);
      return messageLines(e, q);
    }
    case 'audit':
      return (await c.call('audit.tail', { limit: 500 })).reverse().map((a) => `${String(a.seq).padStart(6)} ${a.ts.slice(0, 19)} ${a.actor.padEnd(14)} ${a.action.padEnd(22)} ${a.subject ?? ''} ${JSON.stringify(a.detail)}`);
    case 'keys': {
      const keys = await c.call('keys.list', {});
      return keys.length ? keys.map((k) => `${k.id}  ${k.kind.padEnd(6)} ${k.email.padEnd(32)} ${k.fingerprint.slice(0, 16)}  expires ${k.not_after ?? 'never'}`) : ['no recipient keys (sealpost keys import FILE)'];
    }
    case 'policies': {
      const p = await c.call('policy.list', {});
      return [`policy version ${p.version}: ${p.comment} (${p.actor}, ${p.created_at})`, '', ...p.rules.map((r, i) => `${String(i + 1).padStart(2)}. ${r.name.padEnd(22)} ${r.action.padEnd(10)} ${Object.keys(r.when).length ? JSON.stringify(r.when) : '(default)'}`)];
    }
    case 'users': {
      const users = await c.call('user.list', {});
      return users.length ? users.map((u) => `${u.name.padEnd(20)} ${u.role}`) : ['no console users besides root and the daemon user'];
    }
    case 'portal': {
      const items = await c.call('portal.items', {});
      return items.length ? items.map((i) => `${i.id}  ${i.message_id}  ${i.address.padEnd(28)} ${i.state.padEnd(8)} opened ${i.opened_at ?? 'no'}  expires ${i.expires_at.slice(0, 10)}`) : ['no portal items'];
    }
    default:
      return [];
  }
}
