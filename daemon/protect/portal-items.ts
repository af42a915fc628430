// Portal items: a sealed copy of one message for one recipient, reachable through a link
// whose token is random (256 bits) and stored only as a hash (plus sealed, so a notice can
// be rebuilt on retry). Expiry or recall destroys the sealed copy (crypto-shredding: the
// data key inside it is gone). And the notice: a content-free message with the sender's
// name, a safe subject and the link, built with nodemailer's MimeNode.
// Inputs: message bytes, recipient. Outputs: items, notices.

import MimeNode from 'nodemailer/lib/mime-node';
import addressparser from 'nodemailer/lib/addressparser';
import { Headers } from 'mailsplit';
import { createHash, randomBytes } from 'node:crypto';
import { splitMessage } from '../intake/message.js';
import type { PortalItemInfo } from '../../shared/domain.js';
import type { UnitContext } from '../store/committer.js';
import type { Db } from '../store/db.js';
import type { Vault } from '../store/vault.js';

export interface PortalItemRow {
  id: string;
  token_hash: string;
  message_id: string;
  recipient_id: number;
  address: string;
  sender_name: string;
  sealed: Buffer | null;
  token_sealed: Buffer | null;
  created_at: number;
  expires_at: number;
  opened_at: number | null;
  state: 'active' | 'expired' | 'recalled';
  reminded_at?: number | null;
  passphrase_hash?: string | null;
  sender_address?: string | null;
}

export const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

export class PortalItems {
  constructor(private readonly deps: { db: Db; vault: Vault; expiryDays: number }) {}

  /** Inside a unit: the recipient's active item, or a new one holding `content`. */
  ensure(
    r: { recipientId: number; messageId: string; address: string; senderName: string; senderAddress: string; passphraseHash: string | null; expiryDays?: number | null },
    content: Buffer,
    ctx: UnitContext,
  ): { id: string; token: string; expiresAt: number } {
    const existing = this.deps.db.prepare("SELECT * FROM portal_items WHERE recipient_id = ? AND state = 'active' AND token_sealed IS NOT NULL").get(r.recipientId) as PortalItemRow | undefined;
    if (existing) return { id: existing.id, token: this.deps.vault.open(existing.token_sealed!, `portal-token:${existing.id}`).toString(), expiresAt: existing.expires_at };
    const id = `P${randomBytes(9).toString('hex').toUpperCase()}`;
    const token = randomBytes(32).toString('base64url');
    const now = Date.now();
    const expiresAt = now + (r.expiryDays ?? this.deps.expiryDays) * 86_400_000;
    this.deps.db
      .prepare(
        "INSERT INTO portal_items (id, token_hash, message_id, recipient_id, address, sender_name, sender_address, passphrase_hash, sealed, token_sealed, created_at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active')",
      )
      .run(id, tokenHash(token), r.messageId, r.recipientId, r.address, r.senderName, r.senderAddress, r.passphraseHash, this.deps.vault.seal(content, `portal:${id}`), this.deps.vault.seal(Buffer.from(token), `portal-token:${id}`), now, expiresAt);
    ctx.audit({ actor: 'delivery', action: 'portal.item_created', subject: r.messageId, detail: { item: id, recipient: r.recipientId, expires_at: new Date(expiresAt).toISOString() } });
    return { id, token, expiresAt };
  }

  byToken(token: string): PortalItemRow | null {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
    return (this.deps.db.prepare('SELECT * FROM portal_items WHERE token_hash = ?').get(tokenHash(token)) as PortalItemRow | undefined) ?? null;
  }

  /** The item's sealed copy, opened; null once shredded. */
  content(item: PortalItemRow): Buffer | null {
    return item.sealed ? this.deps.vault.open(item.sealed, `portal:${item.id}`) : null;
  }

  token(item: PortalItemRow): string | null {
    return item.token_sealed ? this.deps.vault.open(item.token_sealed, `portal-token:${item.id}`).toString() : null;
  }

  /** Inside a unit: the first view is recorded on the item. */
  markOpened(id: string, ctx: UnitContext): void {
    const changed = this.deps.db.prepare('UPDATE portal_items SET opened_at = ? WHERE id = ? AND opened_at IS NULL').run(Date.now(), id).changes;
    if (changed) ctx.audit({ actor: 'portal', action: 'portal.first_opened', subject: id, detail: {} });
  }

  /** Inside a unit: the sender (or an operator) withdraws a message: every item of it is shredded. */
  recall(messageId: string, actor: string, ctx: UnitContext): number {
    const n = this.deps.db
      .prepare("UPDATE portal_items SET state = 'recalled', sealed = NULL, token_sealed = NULL, recalled_by = ? WHERE message_id = ? AND state = 'active'")
      .run(actor, messageId).changes;
    if (n > 0) ctx.audit({ actor, action: 'portal.recalled', subject: messageId, detail: { items: n } });
    return n;
  }

  /** Active, unopened items older than `days` that were never reminded. */
  dueForReminder(days: number): PortalItemRow[] {
    return this.deps.db
      .prepare("SELECT * FROM portal_items WHERE state = 'active' AND opened_at IS NULL AND reminded_at IS NULL AND created_at <= ?")
      .all(Date.now() - days * 86_400_000) as PortalItemRow[];
  }

  markReminded(id: string, ctx: UnitContext): void {
    this.deps.db.prepare('UPDATE portal_items SET reminded_at = ? WHERE id = ?').run(Date.now(), id);
    ctx.audit({ actor: 'portal', action: 'portal.reminded', subject: id, detail: {} });
  }

  list(filter: { unopened?: boolean; message?: string } = {}): PortalItemInfo[] {
    const rows = this.deps.db
      .prepare(
        `SELECT * FROM portal_items WHERE (? = 0 OR (opened_at IS NULL AND state = 'active')) AND (? IS NULL OR message_id = ?) ORDER BY created_at DESC LIMIT 1000`,
      )
      .all(filter.unopened ? 1 : 0, filter.message ?? null, filter.message ?? null) as PortalItemRow[];
    const iso = (n: number | null) => (n === null ? null : new Date(n).toISOString());
    return rows.map((r) => ({
      id: r.id,
      message_id: r.message_id,
      address: r.address,
      state: r.state,
      created_at: new Date(r.created_at).toISOString(),
      expires_at: new Date(r.expires_at).toISOString(),
      opened_at: iso(r.opened_at),
      reminded_at: iso(r.reminded_at ?? null),
    }));
  }

  /** Inside a unit: items past their expiry lose their sealed copy. Returns them (to tell senders of unopened ones). */
  expire(ctx: UnitContext): PortalItemRow[] {
    const due = this.deps.db.prepare("SELECT * FROM portal_items WHERE state = 'active' AND expires_at <= ?").all(Date.now()) as PortalItemRow[];
    const shred = this.deps.db.prepare("UPDATE portal_items SET state = 'expired', sealed = NULL, token_sealed = NULL WHERE id = ?");
    for (const d of due) {
      shred.run(d.id);
      ctx.audit({ actor: 'portal', action: 'portal.expired', subject: d.message_id, detail: { item: d.id, opened: d.opened_at !== null } });
    }
    return due;
  }
}

/** The display name (or address) of the first From:, for the notice. */
export function senderNameOf(message: Buffer): { name: string; fromLine: string } {
  const headers = new Headers(splitMessage(message).header);
  const fromLine = headers.getFirst('from').replace(/^from:\s*/i, '').trim();
  const first = (addressparser(fromLine, { flatten: true }) as Array<{ name?: string; address?: string }>)[0];
  return { name: (first?.name || first?.address || 'your care team').slice(0, 80), fromLine };
}

export interface NoticeInput {
  fromLine: string;
  to: string;
  senderName: string;
  practiceName: string;
  /** A subject the sending application marked as safe (X-Sealpost-Notice-Subject), else generic. */
  safeSubject: string | null;
  link: string;
  expiresAt: number;
  hostname: string;
}

/** The notice: who sent it, the link and when it expires. Never the message's content or subject. */
export async function buildNotice(n: NoticeInput): Promise<Buffer> {
  const subject = n.safeSubject ?? `Secure message from ${n.senderName}`;
  const root = new MimeNode('text/plain; charset=utf-8');
  root.setHeader({
    From: n.fromLine,
    To: n.to,
    Subject: subject,
    Date: new Date().toUTCString().replace('GMT', '+0000'),
    'Message-ID': `<${randomBytes(12).toString('hex')}.notice@${n.hostname}>`,
  });
  root.setContent(
    [
      `${n.senderName} sent you a secure message through ${n.practiceName}.`,
      '',
      'To read it, open this link:',
      n.link,
      '',
      'For your privacy we will send a one-time code to this e-mail address before showing the message.',
      `The message can be read until ${new Date(n.expiresAt).toUTCString()}.`,
      '',
      'If you were not expecting this message, you can ignore this e-mail.',
      '',
    ].join('\r\n'),
  );
  return (await root.build()) as Buffer;
}
