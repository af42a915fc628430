// SMTP delivery transactions to one destination host, over STARTTLS (Postfix's "encrypt"
// level: TLS 1.2+ required; the certificate is checked against DANE TLSA records or the
// PKIX trust store when the destination asks for it through DANE or MTA-STS, and only
// recorded otherwise). Never cleartext for content: a server without STARTTLS is an error
// of its own kind (RFC 8460 `starttls-not-supported`), not a downgrade. Content-free
// messages (DSNs, notices) may go opportunistically (CONTRACT.md, "What never changes").
// Open connections are reused for the next transaction to the same host (like Postfix's
// connection cache), which saves a TLS handshake per message.
// Inputs: host, port, envelope, message bytes. Output: per-recipient results and TLS facts.

import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { isIP } from 'node:net';
import { checkServerIdentity, type TLSSocket } from 'node:tls';
import { checkDane } from './dane.js';
import type { Tlsa } from './dns.js';

export interface TlsFacts {
  version: string | null;
  cipher: string | null;
  /** "dane", "mta-sts" (PKIX with the MX name), "none" (encrypted, certificate not required), null without TLS. */
  verified: string | null;
  /** Whether the certificate chain is valid for the host name, checked even when not required. */
  certValid: boolean | null;
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
  /** null when the server was never reached far enough to know. */
  starttls: boolean | null;
  /** RFC 8460 result type when TLS could not be established or authenticated. */
  tlsFailure: string | null;
  results: RecipientResult[];
}

/** How the server's certificate must be checked. */
export type CertCheck = { kind: 'none' } | { kind: 'pkix'; hostname: string } | { kind: 'dane'; records: Tlsa[]; hostname: string };

export interface TransportOptions {
  /** Address (or resolvable name) to connect to. */
  host: string;
  /** The server's name: SNI, and the identity checked when the certificate matters. */
  serverName: string;
  port: number;
  heloName: string;
  localAddress?: string;
  ca?: string;
  timeoutMs: number;
  check: CertCheck;
  /** false only for content-free messages: use TLS when offered, clear otherwise. */
  requireTls: boolean;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  rejectedErrors?: SmtpError[];
  recipient?: string;
}

class TlsPolicyError extends Error {
  constructor(
    readonly resultType: string,
    message: string,
  ) {
    super(message);
  }
}

/** RFC 8460 result type for a connection that could not be protected. */
export function tlsFailureType(err: SmtpError): string | null {
  if (err instanceof TlsPolicyError) return err.resultType;
  if (err.code !== 'ETLS') return null;
  if (/STARTTLS/i.test(err.message) && !/certificate/i.test(err.message)) return 'starttls-not-supported';
  if (/certificate/i.test(err.message)) return 'certificate-not-trusted';
  return 'validation-failure';
}

function classify(code: number | undefined | null): 'delivered' | 'deferred' | 'bounced' {
  if (code && code >= 200 && code < 300) return 'delivered';
  if (code && code >= 500) return 'bounced';
  return 'deferred'; // 4xx, timeouts, resets, anything unclear
}

function peerChain(socket: TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  let cert = socket.getPeerCertificate(true) as (ReturnType<TLSSocket['getPeerCertificate']> & { issuerCertificate?: unknown }) | null;
  const seen = new Set<string>();
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(cert.raw);
    cert = (cert.issuerCertificate as typeof cert) ?? null;
  }
  return chain;
}

/** Checks the TLS session against what the destination requires; throws TlsPolicyError. */
function inspect(socket: TLSSocket, check: CertCheck, host: string): TlsFacts {
  const cert = socket.getPeerCertificate();
  const nameOk = cert && Object.keys(cert).length > 0 ? checkServerIdentity(check.kind === 'none' ? host : check.hostname, cert) === undefined : false;
  const facts: TlsFacts = {
    version: socket.getProtocol() ?? null,
    cipher: socket.getCipher()?.name ?? null,
    verified: 'none',
    certValid: socket.authorized && nameOk,
  };
  if (check.kind === 'dane') {
    const verdict = checkDane(check.records, peerChain(socket));
    if (verdict.result === 'mismatch') throw new TlsPolicyError('tlsa-invalid', 'the certificate matches none of the DANE TLSA records');
    if (verdict.result === 'match') facts.verified = 'dane';
  } else if (check.kind === 'pkix') {
    if (!socket.authorized) {
      const reason = String(socket.authorizationError ?? 'untrusted');
      throw new TlsPolicyError(/EXPIRED/.test(reason) ? 'certificate-expired' : 'certificate-not-trusted', `certificate not trusted (${reason})`);
    }
    if (!nameOk) throw new TlsPolicyError('certificate-host-mismatch', `certificate does not name ${check.hostname}`);
    facts.verified = 'mta-sts';
  }
  return facts;
}

interface Open {
  conn: SMTPConnection;
  tls: TlsFacts;
  starttls: boolean;
  key: string;
  used: number;
  idleTimer: NodeJS.Timeout | null;
}

const IDLE_MS = 5_000;
const MAX_MESSAGES_PER_CONNECTION = 100;

/** Open SMTP connections by destination and security requirement, reused across transactions. */
export class SmtpTransport {
  private readonly idle = new Map<string, Open[]>();
  private closed = false;

  private keyOf(o: TransportOptions): string {
    const check = o.check.kind === 'dane' ? `dane:${o.check.records.map((r) => r.data.toString('hex')).join(',')}` : o.check.kind === 'pkix' ? `pkix:${o.check.hostname}` : 'none';
    return [o.host, o.serverName, o.port, o.heloName, o.localAddress ?? '', check, o.requireTls].join('|');
  }

  private async open(o: TransportOptions, key: string): Promise<Open> {
    const conn = new SMTPConnection({
      host: o.host,
      port: o.port,
      secure: false,
      requireTLS: o.requireTls,
      opportunisticTLS: !o.requireTls,
      name: o.heloName,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      connectionTimeout: o.timeoutMs,
      greetingTimeout: o.timeoutMs,
      socketTimeout: o.timeoutMs * 4,
      // verification is ours (inspect): node's check would refuse a DANE-EE self-signed certificate
      tls: { minVersion: 'TLSv1.2', rejectUnauthorized: false, ...(isIP(o.serverName) ? {} : { servername: o.serverName }), ...(o.ca ? { ca: o.ca } : {}) },
    } as ConstructorParameters<typeof SMTPConnection>[0]);
    conn.on('error', () => undefined); // errors are reported through the callbacks below
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject);
      conn.connect(() => {
        conn.off('error', reject);
        resolve();
      });
    });
    const socket = (conn as unknown as { _socket?: TLSSocket })._socket;
    const secure = Boolean(conn.secure && socket?.getCipher);
    if (!secure) {
      if (o.requireTls) {
        conn.close();
        throw Object.assign(new Error('connection is not TLS-protected'), { code: 'ETLS' });
      }
      return { conn, tls: { version: null, cipher: null, verified: null, certValid: null }, starttls: false, key, used: 0, idleTimer: null };
    }
    try {
      return { conn, tls: inspect(socket!, o.check, o.serverName), starttls: true, key, used: 0, idleTimer: null };
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  private take(key: string): Open | null {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const o = list.pop()!;
      if (o.idleTimer) clearTimeout(o.idleTimer);
      if (!(o.conn as unknown as { _destroyed?: boolean })._destroyed) return o;
    }
    return null;
  }

  private giveBack(o: Open): void {
    if (this.closed || o.used >= MAX_MESSAGES_PER_CONNECTION) return void o.conn.quit();
    const list = this.idle.get(o.key) ?? [];
    list.push(o);
    this.idle.set(o.key, list);
    o.idleTimer = setTimeout(() => {
      const l = this.idle.get(o.key);
      if (l) this.idle.set(o.key, l.filter((x) => x !== o));
      o.conn.quit();
    }, IDLE_MS);
    o.idleTimer.unref();
  }

  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const o of list) {
      if (o.idleTimer) clearTimeout(o.idleTimer);
      o.conn.quit();
    }
    this.idle.clear();
  }

  async deliver(o: TransportOptions, envelope: { from: string; to: string[] }, message: Buffer): Promise<DeliveryResult> {
    const host = o.serverName === o.host ? `${o.host}:${o.port}` : `${o.serverName}[${o.host}]:${o.port}`;
    const key = this.keyOf(o);
    const reused = this.take(key);
    if (reused) {
      const r = await this.transaction(reused, host, envelope, message);
      // the server may have closed an idle connection: once more on a fresh one
      if (!r.results.every((x) => x.outcome === 'deferred' && x.code === null)) return r;
    }
    let fresh: Open;
    try {
      fresh = await this.open(o, key);
    } catch (error) {
      const err = error as SmtpError;
      const tlsFailure = tlsFailureType(err);
      const tls: TlsFacts = { version: null, cipher: null, verified: null, certValid: null };
      if (tlsFailure) {
        // no STARTTLS at all is held for the fallback chain; an unauthenticated TLS is deferred (it may be fixed)
        const outcome = tlsFailure === 'starttls-not-supported' ? 'held' : 'deferred';
        return { host, tls, starttls: tlsFailure === 'starttls-not-supported' ? false : true, tlsFailure, results: everyone(envelope.to, outcome, null, `${tlsFailure}: ${err.message}`) };
      }
      return { host, tls, starttls: null, tlsFailure: null, results: everyone(envelope.to, classify(err.responseCode), err.responseCode ?? null, err.response ?? `${err.code ?? 'error'}: ${err.message}`) };
    }
    return this.transaction(fresh, host, envelope, message);
  }

  private async transaction(o: Open, host: string, envelope: { from: string; to: string[] }, message: Buffer): Promise<DeliveryResult> {
    const base = { host, tls: o.tls, starttls: o.starttls, tlsFailure: null };
    // 8-bit content goes with BODY=8BITMIME, and never to a server that does not take it
    // (RFC 6152 §3: convert or return a DSN; converting MIME is not done here, so a DSN)
    const eightBit = hasEightBitBytes(message);
    if (eightBit && !(o.conn as unknown as { _supportedExtensions: string[] })._supportedExtensions.includes('8BITMIME')) {
      this.giveBack(o);
      return { ...base, results: everyone(envelope.to, 'bounced', 554, '554 5.6.3 the message has 8-bit content and the receiving server does not accept 8BITMIME') };
    }
    try {
      const info = await new Promise<{ accepted: string[]; rejected: string[]; rejectedErrors?: SmtpError[]; response: string }>((resolve, reject) =>
        o.conn.send({ ...envelope, use8BitMime: eightBit }, message, (err, i) => (err ? reject(err as SmtpError) : resolve(i as never))),
      );
      o.used++;
      this.giveBack(o);
      const rejected = new Map((info.rejectedErrors ?? []).map((e) => [e.recipient ?? '', e]));
      return {
        ...base,
        results: envelope.to.map((address) => {
          const e = rejected.get(address);
          if (e) return { address, code: e.responseCode ?? null, response: clip(e.response ?? e.message), outcome: classify(e.responseCode) };
          return { address, code: 250, response: clip(info.response), outcome: 'delivered' as const };
        }),
      };
    } catch (error) {
      const err = error as SmtpError;
      const connectionFine = (err.code === 'EENVELOPE' || err.code === 'EMESSAGE') && err.responseCode !== 421;
      if (connectionFine) {
        o.conn.reset((resetErr) => (resetErr ? o.conn.close() : this.giveBack(o)));
      } else {
        o.conn.close();
      }
      if (err.rejectedErrors && err.rejectedErrors.length > 0) {
        const byAddress = new Map(err.rejectedErrors.map((e) => [e.recipient ?? '', e]));
        return {
          ...base,
          results: envelope.to.map((address) => {
            const e = byAddress.get(address) ?? err;
            return { address, code: e.responseCode ?? null, response: clip(e.response ?? e.message), outcome: classify(e.responseCode) };
          }),
        };
      }
      return { ...base, results: everyone(envelope.to, classify(err.responseCode), err.responseCode ?? null, err.response ?? `${err.code ?? 'error'}: ${err.message}`) };
    }
  }
}

const clip = (s: string) => s.slice(0, 500);

/** Whether any byte is outside 7-bit ASCII (a plain loop: no copy of the message). */
export function hasEightBitBytes(message: Buffer): boolean {
  for (let i = 0; i < message.length; i++) if (message[i]! > 0x7f) return true;
  return false;
}

function everyone(to: string[], outcome: RecipientResult['outcome'], code: number | null, response: string): RecipientResult[] {
  return to.map((address) => ({ address, code, response: clip(response), outcome }));
}
