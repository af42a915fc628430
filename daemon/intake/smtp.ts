// SMTP submission intake (smtp-server): STARTTLS on `smtp.submission`, implicit TLS on
// `smtp.submission_tls`. AUTH only after TLS, no MAIL without AUTH, senders checked per app,
// limits on size, recipients and AUTH failures, DATA scanned for NUL and bare CR/LF.
// "250 queued as <id>" is sent only after the group commit holding the sealed body, the
// recipient rows and the audit entry has returned (synchronous=FULL: fsynced).
// Inputs: SMTP sessions. Outputs: queue rows. Side effects: audit entries for intake and
// every AUTH failure.

import { randomBytes } from 'node:crypto';
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import type { Stream as NodeStream } from 'node:stream';
import type { Stream } from '../../shared/domain.js';
import { senderAllowed, type AppRegistry } from '../apps/registry.js';
import type { Config } from '../config/schema.js';
import { splitHostPort } from '../config/loader.js';
import type { Log } from '../log.js';
import type { GroupCommitter } from '../store/committer.js';
import type { Vault } from '../store/vault.js';
import type { TlsIdentity } from '../tls/certificate.js';
import { newQueueId, type QueueStore } from '../queue/store.js';
import { FailureWindow } from './auth-limits.js';
import { prepareMessage } from './message.js';
import type { ProtectionEngine } from '../protect/engine.js';
import { IntakeReject, type IntakeReplyCode } from './replies.js';

export interface IntakeDeps {
  config: Config;
  log: Log;
  apps: AppRegistry;
  protection: ProtectionEngine;
  queue: QueueStore;
  committer: GroupCommitter;
  vault: Vault;
  tls: TlsIdentity;
  /** Called after each durable commit, so delivery can start at once. */
  onQueued?: () => void;
}

interface ConnState {
  authFailures: number;
}

interface SessionUser {
  app: string;
  stream: Stream;
  from: string[];
}

const CONTROL = /[\x00-\x1f\x7f]/;

function userOf(session: SMTPServerSession): SessionUser | null {
  return (session.user as unknown as SessionUser | undefined) ?? null;
}

/** RFC 5321 §4.5.3.1: local part 64, domain 255, path 256 octets. */
function addressProblem(address: string, smtpUtf8: boolean): IntakeReplyCode | null {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return 'BAD_ADDRESS';
  if (Buffer.byteLength(address.slice(0, at)) > 64 || Buffer.byteLength(address.slice(at + 1)) > 255 || Buffer.byteLength(address) > 254) {
    return 'ADDRESS_TOO_LONG';
  }
  if (!smtpUtf8 && /[^\x00-\x7f]/.test(address)) return 'UTF8_NEEDS_SMTPUTF8';
  return null;
}

const MAIL_PARAMS = new Set(['BODY', 'SIZE', 'SMTPUTF8']);
const RCPT_PARAMS = new Set<string>();

/**
 * Control characters anywhere, or a parameter we do not advertise (RFC 5321 §4.1.1.11 lets us
 * refuse it). smtp-server splits parameters on any white space, so `BODY=8BITMIME\rX` arrives
 * as BODY plus an unknown X: refusing unknown parameters refuses the smuggled CR too.
 */
function paramsProblem(address: SMTPServerAddress, allowed: ReadonlySet<string>): boolean {
  if (CONTROL.test(address.address)) return true;
  const args = (address.args || {}) as Record<string, unknown>;
  return Object.entries(args).some(([k, v]) => CONTROL.test(k) || !allowed.has(k.toUpperCase()) || (typeof v === 'string' && CONTROL.test(v)));
}

export class SmtpIntake {
  private servers: Array<{ name: 'submission' | 'submission_tls'; server: SMTPServer; address: string }> = [];
  private conns = new Map<string, ConnState>();
  private readonly ipFailures: FailureWindow;
  private readonly appFailures: FailureWindow;
  private stopping = false;

  constructor(private readonly deps: IntakeDeps) {
    const s = deps.config.smtp;
    this.ipFailures = new FailureWindow(s.auth_failures_per_ip, s.lockout_minutes * 60_000);
    this.appFailures = new FailureWindow(s.auth_failures_per_app, s.lockout_minutes * 60_000);
  }

  listeners(): Array<{ name: 'submission' | 'submission_tls'; address: string }> {
    return this.servers.map(({ name, address }) => ({ name, address }));
  }

  async start(): Promise<void> {
    const s = this.deps.config.smtp;
    for (const [name, hp, secure] of [
      ['submission', s.submission, false],
      ['submission_tls', s.submission_tls, true],
    ] as const) {
      const server = this.createServer(secure);
      const { host, port } = splitHostPort(hp);
      await new Promise<void>((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(port, host, () => {
          server.server.off('error', reject);
          resolve();
        });
      });
      const a = server.server.address() as AddressInfo;
      this.servers.push({ name, server, address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` });
    }
  }

  /** Stops accepting; sessions in progress get `closeTimeout` to finish their transaction. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.servers.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.servers = [];
  }

  private createServer(secure: boolean): SMTPServer {
    const { config, tls, log } = this.deps;
    const server = new SMTPServer({
      secure,
      key: tls.key,
      cert: tls.cert,
      minVersion: 'TLSv1.2',
      name: config.hostname,
      banner: 'Sealpost',
      size: config.smtp.max_message_bytes,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: false,
      allowInsecureAuth: false,
      hideDSN: true,
      hideREQUIRETLS: true, // not implemented end to end yet (RFC 8689)
      disableReverseLookup: true,
      maxClients: config.smtp.max_clients,
      socketTimeout: config.smtp.socket_timeout_s * 1000,
      closeTimeout: 10_000,
      logger: false,
      onAuth: (auth, session, cb) => void this.onAuth(auth, session).then((u) => cb(null, { user: u as never }), (e: Error) => cb(e)),
      onMailFrom: (address, session, cb) => cb(this.onMailFrom(address, session)),
      onRcptTo: (address, session, cb) => cb(this.onRcptTo(address, session)),
      onData: (stream, session, cb) => this.onData(stream, session, cb),
      onClose: (session) => {
        this.conns.delete(session.id);
      },
    } as ConstructorParameters<typeof SMTPServer>[0]);
    // A malformed TLS handshake or a reset socket must never take the process down.
    server.on('error', (err: Error & { code?: string }) => log.debug({ err: { message: err.message, code: err.code } }, 'smtp connection error'));
    return server;
  }

  private conn(session: SMTPServerSession): ConnState {
    let c = this.conns.get(session.id);
    if (!c) {
      c = { authFailures: 0 };
      this.conns.set(session.id, c);
    }
    return c;
  }

  private async onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<SessionUser> {
    const ip = session.remoteAddress;
    const username = (auth.username ?? '').slice(0, 64);
    const shown = username.replace(/[^A-Za-z0-9._@-]/g, '?');
    if (this.ipFailures.locked(ip) || this.appFailures.locked(username)) {
      void this.deps.committer.audit({ actor: `smtp:${ip}`, action: 'smtp.auth_locked', subject: shown, detail: { ip } }).catch(() => undefined);
      throw new IntakeReject('AUTH_LOCKED');
    }
    const app = await this.deps.apps.authenticate(username, auth.password ?? '');
    if (app) return { app: app.name, stream: app.stream, from: app.from };

    const c = this.conn(session);
    c.authFailures++;
    this.ipFailures.record(ip);
    this.appFailures.record(username);
    this.deps.log.warn({ ip, user: shown, failures: c.authFailures }, 'smtp auth failed');
    void this.deps.committer
      .audit({ actor: `smtp:${ip}`, action: 'smtp.auth_failed', subject: shown, detail: { ip, connection_failures: c.authFailures } })
      .catch((err: Error) => this.deps.log.error({ err: err.message }, 'audit write failed'));
    if (c.authFailures >= this.deps.config.smtp.auth_failures_per_connection) throw new IntakeReject('AUTH_TOO_MANY');
    throw new IntakeReject('AUTH_FAILED');
  }

  private onMailFrom(address: SMTPServerAddress, session: SMTPServerSession): Error | null | undefined {
    const user = userOf(session);
    if (!user) return new IntakeReject('AUTH_REQUIRED');
    if (paramsProblem(address, MAIL_PARAMS)) return new IntakeReject('BAD_PARAMETER');
    if (address.address === '') return new IntakeReject('NULL_SENDER');
    const problem = addressProblem(address.address, session.envelope.smtpUtf8 === true || ((address.args || {}) as Record<string, unknown>)['SMTPUTF8'] === true);
    if (problem) return new IntakeReject(problem);
    if (!senderAllowed(user.from, address.address)) {
      void this.deps.committer
        .audit({ actor: `app:${user.app}`, action: 'smtp.sender_refused', subject: null, detail: { ip: session.remoteAddress, where: 'envelope' } })
        .catch(() => undefined);
      return new IntakeReject('SENDER_NOT_OWNED');
    }
    return null;
  }

  private onRcptTo(address: SMTPServerAddress, session: SMTPServerSession): Error | null | undefined {
    if (!userOf(session)) return new IntakeReject('AUTH_REQUIRED');
    if (paramsProblem(address, RCPT_PARAMS)) return new IntakeReject('BAD_PARAMETER');
    const problem = addressProblem(address.address, session.envelope.smtpUtf8 === true);
    if (problem) return new IntakeReject(problem);
    if (session.envelope.rcptTo.length >= this.deps.config.smtp.max_recipients) return new IntakeReject('TOO_MANY_RECIPIENTS');
    return null;
  }

  private onData(stream: NodeStream & { sizeExceeded?: boolean }, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): void {
    const max = this.deps.config.smtp.max_message_bytes;
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = false;
    stream.on('data', (chunk: Buffer) => {
      if (overflow) return;
      size += chunk.length;
      if (size > max) {
        overflow = true; // keep reading to the end, store nothing more
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    stream.on('error', (err: Error) => cb(err));
    stream.on('end', () => {
      if (overflow || stream.sizeExceeded) return cb(new IntakeReject('MESSAGE_TOO_BIG'));
      this.accept(Buffer.concat(chunks, size), session).then(
        (id) => cb(null, `2.0.0 queued as ${id}`),
        (err: Error) => cb(this.replyFor(err, session)),
      );
    });
  }

  private replyFor(err: Error, session: SMTPServerSession): Error {
    if (err instanceof IntakeReject) {
      if (err.code === 'SENDER_NOT_OWNED') {
        const user = userOf(session);
        void this.deps.committer
          .audit({ actor: `app:${user?.app ?? '?'}`, action: 'smtp.sender_refused', subject: null, detail: { ip: session.remoteAddress, where: 'header' } })
          .catch(() => undefined);
      }
      return err;
    }
    const ref = randomBytes(6).toString('hex');
    const code = (err as { code?: string }).code ?? '';
    this.deps.log.error({ ref, err: { message: err.message, code } }, 'intake commit failed');
    if (code === 'SQLITE_FULL' || code === 'ENOSPC') return new IntakeReject('STORAGE_FULL', ref);
    if (this.stopping) return new IntakeReject('SHUTTING_DOWN', ref);
    return new IntakeReject('LOCAL_ERROR', ref);
  }

  private async accept(raw: Buffer, session: SMTPServerSession): Promise<string> {
    const user = userOf(session);
    if (!user) throw new IntakeReject('AUTH_REQUIRED');
    const { config, vault, committer, queue } = this.deps;
    const id = newQueueId();
    const recipients = session.envelope.rcptTo.map((r) => r.address);
    const socketInfo = session as SMTPServerSession & { tlsOptions?: { name?: string; version?: string } };
    const cipher = socketInfo.tlsOptions;
    const prepared = prepareMessage({
      raw,
      queueId: id,
      hostname: config.hostname,
      helo: session.hostNameAppearsAs ?? '',
      clientIp: session.remoteAddress,
      clientHostname: session.clientHostname ?? '',
      tls: cipher?.version ? `version=${cipher.version} cipher=${cipher.name ?? '?'}` : 'no TLS',
      recipients,
      bareNewline: config.smtp.bare_newline,
      senderAllowed: (a) => senderAllowed(user.from, a),
    });
    const mailFrom = session.envelope.mailFrom;
    const decision = await this.deps.protection.decide(prepared.data, { sender: mailFrom ? mailFrom.address : '', app: user.app, stream: user.stream, recipients });
    if (decision.blocked) {
      const ref = randomBytes(6).toString('hex');
      await committer.audit({
        actor: `app:${user.app}`,
        action: 'policy.blocked',
        subject: null,
        detail: { ref, rule: decision.blocked.rule, recipients: recipients.length, findings: decision.facts.findings, subject_findings: decision.facts.subjectFindings },
      });
      this.deps.log.info({ ref, app: user.app, rule: decision.blocked.rule }, 'refused by policy');
      throw new IntakeReject('POLICY_BLOCK', ref, decision.blocked.reason);
    }
    const sealed = vault.seal(prepared.data, id);
    await committer.submit((ctx) =>
      queue.insertUnit(
        {
          id,
          app: user.app,
          stream: user.stream,
          sender: mailFrom ? mailFrom.address : '',
          recipients,
          size: prepared.data.length,
          messageId: prepared.messageId,
          clientIp: session.remoteAddress,
          sealed,
          decision,
        },
        ctx,
      ),
    );
    this.deps.onQueued?.();
    this.deps.log.info({ id, app: user.app, rcpts: recipients.length, size: prepared.data.length, normalized: prepared.normalized }, 'queued');
    return id;
  }
}
