// Delivery status notifications (RFC 3464): a multipart/report to the original sender when
// recipients bounce, expire, or are still undelivered after the delay-notice age. Built
// with nodemailer's MIME node. They never carry the original body, nor its Subject (PHI may
// live in either): the third part is text/rfc822-headers with identifying headers only.
// That makes them content-free, so they may go to a server without TLS (CONTRACT.md).
// Inputs: the failed recipients with their last response. Output: the raw message.

import MimeNode from 'nodemailer/lib/mime-node';
import { randomBytes } from 'node:crypto';

export interface DsnRecipient {
  address: string;
  action: 'failed' | 'delayed';
  /** The last SMTP answer or local reason. */
  diagnostic: string;
  code: number | null;
  remoteMta: string | null;
  lastAttemptAt: number;
}

export interface DsnInput {
  hostname: string;
  /** Domain of the MAILER-DAEMON address (one of `domains`, so the DSN is DKIM-signed). */
  fromDomain: string;
  /** The practice name shown to people. */
  name: string;
  originalSender: string;
  queueId: string;
  originalMessageId: string;
  arrivalDate: number;
  willRetryUntil: number | null;
  recipients: DsnRecipient[];
}

/** An RFC 3463 status: the enhanced code in the answer, else one derived from the reply code. */
export function statusOf(r: Pick<DsnRecipient, 'action' | 'diagnostic' | 'code'>): string {
  const enhanced = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(r.diagnostic)?.[1];
  if (enhanced) return enhanced;
  if (r.code && r.code >= 500) return '5.0.0';
  if (r.action === 'failed') return '4.4.7'; // delivery time expired
  return '4.0.0';
}

const rfc822Date = (ms: number) => new Date(ms).toUTCString().replace('GMT', '+0000');
const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').slice(0, 400);

export async function buildDsn(d: DsnInput): Promise<{ raw: Buffer; messageId: string }> {
  const failed = d.recipients.filter((r) => r.action === 'failed');
  const subject = failed.length > 0 ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)';
  const messageId = `<${randomBytes(12).toString('hex')}.dsn@${d.hostname}>`;

  const root = new MimeNode('multipart/report; report-type=delivery-status');
  root.setHeader({
    From: `"Mail Delivery System (${d.name.replace(/["\\\r\n]/g, '')})" <MAILER-DAEMON@${d.fromDomain}>`,
    To: d.originalSender,
    Subject: subject,
    Date: rfc822Date(Date.now()),
    'Message-ID': messageId,
    'Auto-Submitted': 'auto-replied',
  });

  const human = [
    `This is the mail system at ${d.hostname}.`,
    '',
    failed.length > 0
      ? 'Your message could not be delivered to one or more recipients. It has not been sent to them and will not be retried.'
      : `Your message has not been delivered yet to the recipients below. Delivery will be retried until ${rfc822Date(d.willRetryUntil ?? Date.now())}; you do not need to resend it.`,
    '',
    `Queue id: ${d.queueId}`,
    `Message-ID: ${oneLine(d.originalMessageId)}`,
    '',
    ...d.recipients.map((r) => `<${r.address}>: ${statusOf(r)} ${oneLine(r.diagnostic)}`),
    '',
    'For the privacy of the people it was meant for, the content of the message is not returned.',
    '',
  ].join('\r\n');
  root.createChild('text/plain; charset=utf-8').setContent(human);

  const perMessage = [`Reporting-MTA: dns; ${d.hostname}`, `X-Sealpost-Queue-ID: ${d.queueId}`, `Arrival-Date: ${rfc822Date(d.arrivalDate)}`];
  const perRecipient = d.recipients.map((r) =>
    [
      `Final-Recipient: rfc822; ${r.address}`,
      `Action: ${r.action}`,
      `Status: ${statusOf(r)}`,
      ...(r.remoteMta ? [`Remote-MTA: dns; ${r.remoteMta.replace(/:\d+$/, '')}`] : []),
      ...(r.code ? [`Diagnostic-Code: smtp; ${oneLine(r.diagnostic)}`] : [`Diagnostic-Code: x-sealpost; ${oneLine(r.diagnostic)}`]),
      `Last-Attempt-Date: ${rfc822Date(r.lastAttemptAt)}`,
      ...(r.action === 'delayed' && d.willRetryUntil ? [`Will-Retry-Until: ${rfc822Date(d.willRetryUntil)}`] : []),
    ].join('\r\n'),
  );
  const status = root.createChild('message/delivery-status');
  status.setHeader('Content-Transfer-Encoding', '7bit');
  status.setContent([perMessage.join('\r\n'), ...perRecipient].join('\r\n\r\n') + '\r\n');

  const headers = root.createChild('text/rfc822-headers');
  headers.setHeader('Content-Transfer-Encoding', '7bit');
  headers.setContent(`Message-ID: ${oneLine(d.originalMessageId)}\r\nFrom: ${oneLine(d.originalSender)}\r\nDate: ${rfc822Date(d.arrivalDate)}\r\n`);

  const raw = (await root.build()) as Buffer;
  return { raw, messageId };
}
