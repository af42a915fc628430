// One SMTP delivery transaction to one destination host, over STARTTLS only (Postfix's
// "encrypt" level: TLS 1.2+ required, certificate not verified unless asked). Never
// cleartext: a server without STARTTLS is an error of its own kind, not a downgrade.
// Inputs: host, port, envelope, message bytes. Output: per-recipient results and TLS facts.

import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { TLSSocket } from 'node:tls';

export interface TlsFacts {
  version: string | null;
  cipher: string | null;
}

export interface RecipientResult {
  address: string;
  code: number | null;
  response: string;
  outcome: 'delivered' | 'deferred' | 'bounced' | 'held';
}

export interface DeliveryResult {
  host: string;
  tls: TlsFacts;
  results: RecipientResult[];
}

export interface TransportOptions {
  host: string;
  port: number;
  heloName: string;
  verifyCertificate: boolean;
  ca?: string;
  timeoutMs: number;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  rejectedErrors?: SmtpError[];
  recipient?: string;
}

/** RFC 8460 result type for a connection that could not be protected. */
export function tlsFailureType(err: SmtpError): string | null {
  if (err.code !== 'ETLS') return null;
  if (/STARTTLS/i.test(err.message) && !/certificate/i.test(err.message)) return 'starttls-not-supported';
  if (/self.signed|unable to verify|certificate/i.test(err.message)) return 'certificate-not-trusted';
  return 'validation-failure';
}

function classify(code: number | undefined | null): 'delivered' | 'deferred' | 'bounced' {
  if (code && code >= 200 && code < 300) return 'delivered';
  if (code && code >= 500) return 'bounced';
  return 'deferred'; // 4xx, timeouts, resets, anything unclear
}

export async function deliver(opts: TransportOptions, envelope: { from: string; to: string[] }, message: Buffer): Promise<DeliveryResult> {
  const conn = new SMTPConnection({
    host: opts.host,
    port: opts.port,
    secure: false,
    requireTLS: true,
    name: opts.heloName,
    connectionTimeout: opts.timeoutMs,
    greetingTimeout: opts.timeoutMs,
    socketTimeout: opts.timeoutMs * 4,
    tls: { minVersion: 'TLSv1.2', rejectUnauthorized: opts.verifyCertificate, servername: opts.host, ...(opts.ca ? { ca: opts.ca } : {}) },
  } as ConstructorParameters<typeof SMTPConnection>[0]);
  const tls: TlsFacts = { version: null, cipher: null };
  const host = `${opts.host}:${opts.port}`;
  const everyone = (outcome: RecipientResult['outcome'], code: number | null, response: string): DeliveryResult => ({
    host,
    tls,
    results: envelope.to.map((address) => ({ address, code, response, outcome })),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject);
      conn.connect(() => {
        conn.off('error', reject);
        resolve();
      });
    });
    const socket = (conn as unknown as { _socket?: TLSSocket })._socket;
    if (!conn.secure || !socket?.getCipher) throw Object.assign(new Error('connection is not TLS-protected'), { code: 'ETLS' });
    tls.version = socket.getProtocol?.() ?? null;
    tls.cipher = socket.getCipher().name;
    const info = await new Promise<{ accepted: string[]; rejected: string[]; rejectedErrors?: SmtpError[]; response: string }>((resolve, reject) =>
      conn.send(envelope, message, (err, i) => (err ? reject(err as SmtpError) : resolve(i as never))),
    );
    const rejected = new Map((info.rejectedErrors ?? []).map((e) => [e.recipient ?? '', e]));
    conn.quit();
    return {
      host,
      tls,
      results: envelope.to.map((address) => {
        const e = rejected.get(address);
        if (e) return { address, code: e.responseCode ?? null, response: (e.response ?? e.message).slice(0, 500), outcome: classify(e.responseCode) };
        return { address, code: 250, response: info.response.slice(0, 500), outcome: 'delivered' as const };
      }),
    };
  } catch (error) {
    conn.close();
    const err = error as SmtpError;
    const tlsFailure = tlsFailureType(err);
    if (tlsFailure) return everyone('held', null, `${tlsFailure}: ${err.message}`.slice(0, 500));
    if (err.rejectedErrors && err.rejectedErrors.length > 0) {
      const byAddress = new Map(err.rejectedErrors.map((e) => [e.recipient ?? '', e]));
      return {
        host,
        tls,
        results: envelope.to.map((address) => {
          const e = byAddress.get(address) ?? err;
          return { address, code: e.responseCode ?? null, response: (e.response ?? e.message).slice(0, 500), outcome: classify(e.responseCode) };
        }),
      };
    }
    return everyone(classify(err.responseCode), err.responseCode ?? null, (err.response ?? `${err.code ?? 'error'}: ${err.message}`).slice(0, 500));
  }
}
