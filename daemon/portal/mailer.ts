// Mail the portal sends: one-time codes and reminders (content-free notices) and secure
// replies (real messages to the practice, decided by the protection engine and queued like
// any other). Messages are composed by nodemailer's MailComposer.
// Inputs: what to send. Outputs: queue ids. Side effects: queue rows, audit, a delivery kick.

import MailComposer from 'nodemailer/lib/mail-composer';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { newQueueId, type QueueStore } from '../queue/store.js';
import type { ProtectionEngine } from '../protect/engine.js';
import type { GroupCommitter } from '../store/committer.js';
import type { Vault } from '../store/vault.js';

export interface ReplyInput {
  /** The patient's address (Reply-To); the message comes From the portal's own address. */
  recipientAddress: string;
  to: string;
  subject: string;
  inReplyTo: string | null;
  text: string;
  attachments: Array<{ filename: string; content: Buffer; contentType: string }>;
}

export class PortalMailer {
  constructor(private readonly deps: { config: Config; queue: QueueStore; committer: GroupCommitter; vault: Vault; protection: ProtectionEngine; kick: () => void }) {}

  private get domain(): string {
    return this.deps.config.domains[0] ?? this.deps.config.hostname;
  }

  private async compose(mail: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
    return new MailComposer({ ...mail, messageId: `<${randomBytes(12).toString('hex')}.portal@${this.deps.config.hostname}>`, date: new Date() }).compile().build();
  }

  private async enqueue(raw: Buffer, sender: string, recipients: string[], kind: 'mail' | 'notice', messageId: string): Promise<string> {
    const decision = kind === 'mail' ? await this.deps.protection.decide(raw, { sender, app: 'portal', stream: 'transactional', recipients }) : undefined;
    if (decision?.blocked) throw new Error(`refused by policy: ${decision.blocked.reason}`);
    const id = newQueueId();
    await this.deps.committer.submit((ctx) =>
      this.deps.queue.insertUnit(
        { id, app: 'portal', stream: 'transactional', sender, recipients, size: raw.length, messageId, clientIp: '127.0.0.1', sealed: this.deps.vault.seal(raw, id), kind, ...(decision ? { decision } : {}) },
        ctx,
      ),
    );
    this.deps.kick();
    return id;
  }

  async sendCode(to: string, code: string): Promise<string> {
    const messageId = `<${randomBytes(12).toString('hex')}.code@${this.deps.config.hostname}>`;
    const raw = await new MailComposer({
      from: { name: this.deps.config.name, address: `no-reply@${this.domain}` },
      to,
      subject: `Your ${this.deps.config.name} code: ${code}`,
      text: `Your one-time code is ${code}\r\n\r\nIt works once, in the browser where you asked for it, for 10 minutes.\r\nIf you did not ask for a code, ignore this e-mail.\r\n`,
      messageId,
      date: new Date(),
    })
      .compile()
      .build();
    return this.enqueue(raw, `no-reply@${this.domain}`, [to], 'notice', messageId);
  }

  async sendReminder(to: string, senderName: string, link: string, expiresAt: number): Promise<string> {
    const raw = await this.compose({
      from: { name: this.deps.config.name, address: `no-reply@${this.domain}` },
      to,
      subject: `Reminder: a secure message from ${senderName} is waiting`,
      text: `${senderName} sent you a secure message that has not been opened yet.\r\n\r\nOpen it here:\r\n${link}\r\n\r\nIt can be read until ${new Date(expiresAt).toUTCString()}.\r\n`,
    });
    return this.enqueue(raw, `no-reply@${this.domain}`, [to], 'notice', '<reminder>');
  }

  async sendNeverOpened(to: string, recipient: string, queueId: string, sentAt: number): Promise<string> {
    const raw = await this.compose({
      from: { name: this.deps.config.name, address: `no-reply@${this.domain}` },
      to,
      subject: 'A secure message was never opened',
      text: `The secure message you sent to ${recipient} on ${new Date(sentAt).toUTCString()} (queue id ${queueId}) was never opened and has now expired. Its copy has been destroyed.\r\n\r\nIf it still matters, please contact the recipient another way.\r\n`,
    });
    return this.enqueue(raw, `no-reply@${this.domain}`, [to], 'notice', '<never-opened>');
  }

  async sendReply(r: ReplyInput): Promise<string> {
    const messageId = `<${randomBytes(12).toString('hex')}.reply@${this.deps.config.hostname}>`;
    const raw = await new MailComposer({
      from: { name: `${r.recipientAddress} via ${this.deps.config.name} secure reply`, address: `portal@${this.domain}` },
      replyTo: r.recipientAddress,
      to: r.to,
      subject: r.subject,
      ...(r.inReplyTo ? { inReplyTo: r.inReplyTo, references: r.inReplyTo } : {}),
      text: r.text,
      attachments: r.attachments,
      headers: { 'X-Sealpost-Portal-Reply': 'yes' },
      messageId,
      date: new Date(),
    })
      .compile()
      .build();
    return this.enqueue(raw, `portal@${this.domain}`, [r.to], 'mail', messageId);
  }
}
