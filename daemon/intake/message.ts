// Message preparation at intake: the checks and header additions that happen between the
// end of DATA and the durable commit. Pure functions of the received bytes.
// Inputs: the raw DATA bytes (dot-unstuffed by smtp-server), the session facts.
// Outputs: the bytes to seal, or an IntakeReject carrying the SMTP reply.
// Side effects: none.

import { randomBytes } from 'node:crypto';
import { Headers } from 'mailsplit';
import addressparser from 'nodemailer/lib/addressparser';
import { IntakeReject } from './replies.js';

export const HEADER_LIMIT_BYTES = 102_400; // Postfix header_size_limit

const BARE = /\r(?!\n)|(?<!\r)\n/;

/** NUL anywhere, and bare CR / bare LF (a CR not followed by LF, an LF not preceded by CR). */
export function scanLineEndings(raw: Buffer | string): { nul: boolean; bare: boolean } {
  const text = typeof raw === 'string' ? raw : raw.toString('latin1');
  return { nul: text.includes('\0'), bare: BARE.test(text) };
}

/** Every bare CR and bare LF becomes CRLF (RFC 5321 §2.3.8), so no smuggling sequence survives. */
export function normalizeLineEndings(raw: Buffer | string): Buffer {
  const text = typeof raw === 'string' ? raw : raw.toString('latin1');
  return Buffer.from(text.replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}

/** Splits at the first empty line. A message without one is all header. */
export function splitMessage(data: Buffer): { header: Buffer; body: Buffer } {
  if (data.subarray(0, 2).toString('latin1') === '\r\n') return { header: Buffer.alloc(0), body: data.subarray(2) };
  const i = data.indexOf('\r\n\r\n');
  if (i === -1) return { header: data, body: Buffer.alloc(0) };
  return { header: data.subarray(0, i + 4), body: data.subarray(i + 4) };
}

export function newMessageId(hostname: string): string {
  return `<${Date.now().toString(36)}.${randomBytes(9).toString('base64url')}@${hostname}>`;
}

/** Keeps what a HELO may legitimately be; anything else is the client's problem, not our header's. */
function safeHelo(helo: string): string {
  return helo.replace(/[^A-Za-z0-9.:_\-[\]]/g, '').slice(0, 255) || 'unknown';
}

export interface PrepareInput {
  raw: Buffer;
  queueId: string;
  hostname: string;
  helo: string;
  clientIp: string;
  clientHostname: string;
  tls: string;
  recipients: string[];
  bareNewline: 'normalize' | 'reject';
  senderAllowed: (address: string) => boolean;
  now?: Date;
}

export interface Prepared {
  data: Buffer;
  messageId: string;
  normalized: boolean;
}

export function prepareMessage(input: PrepareInput): Prepared {
  const text = input.raw.toString('latin1'); // byte-for-byte, converted once
  const scan = scanLineEndings(text);
  if (scan.nul) throw new IntakeReject('NUL_IN_DATA');
  let raw = input.raw;
  if (scan.bare) {
    if (input.bareNewline === 'reject') throw new IntakeReject('BARE_NEWLINE');
    raw = normalizeLineEndings(text);
  }
  const { header, body } = splitMessage(raw);
  if (header.length > HEADER_LIMIT_BYTES) throw new IntakeReject('HEADER_TOO_LARGE');
  const headers = new Headers(header);

  const fromLines = headers.get('from');
  if (fromLines.length === 0) throw new IntakeReject('FROM_MISSING');
  const fromAddresses = fromLines.flatMap((line) => flattenAddresses(addressparser(line.replace(/^from:/i, ''))));
  if (fromAddresses.length === 0) throw new IntakeReject('FROM_MISSING');
  for (const a of fromAddresses) if (!input.senderAllowed(a)) throw new IntakeReject('SENDER_NOT_OWNED');

  let messageId = headers.getFirst('message-id').trim();
  if (!/^<[^<>\s]+@[^<>\s]+>$/.test(messageId)) {
    messageId = newMessageId(input.hostname);
    headers.remove('message-id');
    headers.add('Message-ID', messageId, Number.MAX_SAFE_INTEGER);
  }
  const now = input.now ?? new Date();
  if (!headers.hasHeader('date')) headers.add('Date', now.toUTCString().replace('GMT', '+0000'), Number.MAX_SAFE_INTEGER);

  // RFC 5321 §4.4: the trace header goes on top. "for" only when there is one recipient.
  const forPart = input.recipients.length === 1 ? `\r\n\tfor <${input.recipients[0]}>` : '';
  headers.addFormatted(
    'received',
    `Received: from ${safeHelo(input.helo)} (${safeHelo(input.clientHostname)} [${input.clientIp}])\r\n` +
      `\tby ${input.hostname} (Sealpost) with ESMTPSA id ${input.queueId}\r\n` +
      `\t(${input.tls})${forPart};\r\n\t${now.toUTCString().replace('GMT', '+0000')}`,
    0,
  );
  return { data: Buffer.concat([headers.build(), body]), messageId, normalized: scan.bare };
}

interface ParsedAddress {
  address?: string;
  group?: ParsedAddress[];
}

function flattenAddresses(list: ParsedAddress[]): string[] {
  return list.flatMap((a) => (a.group ? flattenAddresses(a.group) : a.address ? [a.address] : []));
}
