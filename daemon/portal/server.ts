// The portal over HTTPS (fastify): where a recipient proves the address (a one-time code
// sent to it, or a browser trusted for it earlier), reads the message (sanitised, in a
// sandboxed frame, readable without JavaScript), downloads attachments and replies
// securely. Security headers on every answer (helmet: strict CSP with no scripts at all,
// HSTS, nosniff, no referrer; no-store), `__Host-` cookies, a session-bound CSRF token on
// every form, rate limits per IP and per item. Unknown, expired and recalled items look
// alike (410, one page); a wrong, expired or foreign code looks alike (403, one page).
// Every view, download, reply, code and failure is audited.
// Inputs: HTTPS requests. Outputs: pages, downloads, queued replies.

import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import type { Statement } from 'better-sqlite3';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { hashPassword, verifyPassword } from '../apps/passwords.js';
import { splitHostPort } from '../config/loader.js';
import type { Log } from '../log.js';
import type { PortalItemRow, PortalItems } from '../protect/portal-items.js';
import type { GroupCommitter } from '../store/committer.js';
import type { Db } from '../store/db.js';
import type { PortalMailer } from './mailer.js';
import { Gate } from './gate.js';
import { escapeHtml, renderMessage, type RenderedMessage } from './render.js';
import { MAX_CODE_TRIES, SESSION_COOKIE, SessionStore, TRUST_COOKIE, type Session } from './sessions.js';

const CODE_REQUESTS_PER_ITEM_PER_HOUR = 5;
const REPLY_MAX_BYTES = 10 * 1024 * 1024;

/** One readable part: HTML in its own sandboxed frame (text alternative folded below it), or text. */
function partHtml(part: RenderedMessage['parts'][number], i: number): string {
  const title = i === 0 ? 'Message' : `Message, part ${i + 1}`;
  const frame = part.html ? `<iframe title="${title}" sandbox="allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer" srcdoc="${escapeHtml(part.html)}"></iframe>` : '';
  if (!part.text) return frame;
  return part.html ? `${frame}<details><summary>Plain text version${i ? ` of part ${i + 1}` : ''}</summary><pre>${part.text}</pre></details>` : `<pre class="part">${part.text}</pre>`;
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:1.5rem auto;padding:0 1rem;color:#111;background:#fff}
h1{font-size:1.35rem}label{display:block;font-weight:600;margin:.8rem 0 .3rem}
input[type=text],textarea{font:inherit;width:100%;box-sizing:border-box;padding:.5rem;border:2px solid #555;border-radius:4px}
button{font:inherit;padding:.55rem 1.1rem;border:0;border-radius:4px;background:#0b5394;color:#fff;margin-top:.8rem;cursor:pointer}
button:focus,input:focus,textarea:focus,a:focus{outline:3px solid #f1c232;outline-offset:2px}
.meta{color:#333}.error{color:#9b0000;font-weight:600}iframe{width:100%;height:60vh;border:1px solid #999;border-radius:4px}
ul.att li{margin:.3rem 0}pre{white-space:pre-wrap;word-wrap:break-word;font:inherit}
</style></head><body><main>${`<h1>${escapeHtml(title)}</h1>`}${body}</main></body></html>`;
}

/** p***@example.org: enough for the recipient to recognise, not enough to harvest. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return `${address.slice(0, 1)}***${address.slice(at)}`;
}

/** "Re: <subject>", without the [secure] tag: the tag was the practice's instruction for its own message. */
export function replySubject(subject: string): string {
  const bare = subject.replace(/^\s*((re|fwd?):\s*)*/i, '').replace(/^\[secure\]\s*/i, '').trim();
  return `Re: ${bare || '(no subject)'}`;
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex');

export interface PortalDeps {
  listen: string;
  tls: { key: string; cert: string };
  items: PortalItems;
  db: Db;
  committer: GroupCommitter;
  mailer: PortalMailer;
  log: Log;
  practiceName: string;
  trustDays: number;
  requestsPerMinute: number;
}

export class PortalServer {
  private app: FastifyInstance | null = null;
  private readonly sessions = new SessionStore();
  private readonly codeRequests = new Map<string, number[]>();
  private readonly passphraseFailures = new Map<string, number[]>();
  private trustQuery: Statement | null = null;
  /** Stored messages parsed at once (views, downloads, replies): bounds memory under parallel downloads. */
  private readonly parsing = new Gate(4);
  private decoy: Promise<string> | null = null;
  address = '';

  constructor(private readonly deps: PortalDeps) {}

  /** The item's message, parsed for the page; a few at a time (see gate.ts). */
  private open(item: PortalItemRow): ReturnType<typeof renderMessage> {
    return this.parsing.run(() => renderMessage(this.deps.items.content(item)!));
  }

  private async audit(action: string, subject: string | null, detail: Record<string, unknown>): Promise<void> {
    await this.deps.committer.audit({ actor: 'portal', action, subject, detail });
  }

  private session(req: FastifyRequest, reply: FastifyReply): Session {
    const s = this.sessions.get(req.cookies[SESSION_COOKIE]);
    if (s.id !== req.cookies[SESSION_COOKIE]) this.setSessionCookie(reply, s);
    return s;
  }

  private setSessionCookie(reply: FastifyReply, s: Session): void {
    reply.setCookie(SESSION_COOKIE, s.id, { path: '/', secure: true, httpOnly: true, sameSite: 'strict' });
  }

  /** The item if it can be read now; null for unknown, expired or recalled (told apart only in the audit). */
  private live(token: string): PortalItemRow | null {
    const item = this.deps.items.byToken(token);
    if (!item || item.state !== 'active' || item.expires_at <= Date.now() || !item.sealed) return null;
    return item;
  }

  private gone(reply: FastifyReply) {
    return reply.code(410).type('text/html; charset=utf-8').send(page('This message is not available', '<p>The link is not valid, or the message has expired or was withdrawn by the sender. Please contact the sender if you need it.</p>'));
  }

  /** A passphrase hash nobody knows, made at start: the cost of a guess against no item. */
  private decoyHash(): Promise<string> {
    this.decoy ??= hashPassword(randomBytes(24).toString('base64'));
    return this.decoy;
  }

  private refused(reply: FastifyReply, token: string, s: Session) {
    return reply
      .code(403)
      .type('text/html; charset=utf-8')
      .send(page('That code did not work', `<p class="error" role="alert">The code was not accepted. It may be mistyped, used already or expired.</p>${this.codeForm(token, s, true)}`));
  }

  private codeForm(token: string, s: Session, sent: boolean): string {
    return `${sent ? `<form method="post" action="/m/${token}/verify"><input type="hidden" name="csrf" value="${s.csrf}"><label for="code">6-digit code from the e-mail</label><input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required><button type="submit">Open the message</button></form>` : ''}
<form method="post" action="/m/${token}/code"><input type="hidden" name="csrf" value="${s.csrf}"><button type="submit">${sent ? 'Send a new code' : 'Send me a code'}</button></form>`;
  }

  private passphraseForm(token: string, s: Session, failed = false): string {
    return `${failed ? '<p class="error" role="alert">That passphrase was not accepted.</p>' : ''}<form method="post" action="/m/${token}/passphrase"><input type="hidden" name="csrf" value="${s.csrf}"><label for="passphrase">Passphrase from the sender</label><input type="password" id="passphrase" name="passphrase" autocomplete="off" required><button type="submit">Open the message</button></form>`;
  }

  /** A browser that proved this address earlier (within trust_days) needs no new code. */
  private trusted(req: FastifyRequest, item: PortalItemRow): boolean {
    const t = req.cookies[TRUST_COOKIE];
    if (!t || this.deps.trustDays <= 0) return false;
    this.trustQuery ??= this.deps.db.prepare('SELECT 1 FROM portal_trust WHERE token_hash = ? AND address = ? AND expires_at > ?');
    return Boolean(this.trustQuery.get(hash(t), item.address, Date.now()));
  }

  private canRead(req: FastifyRequest, s: Session, item: PortalItemRow): boolean {
    return s.verified.has(item.id) || this.trusted(req, item);
  }

  private csrf(s: Session, field: unknown): boolean {
    return this.sessions.csrfOk(s, field);
  }

  async start(): Promise<void> {
    await this.decoyHash(); // ready before the first guess, so that guess is not the slow one
    const app = (this.app = Fastify({ https: { key: this.deps.tls.key, cert: this.deps.tls.cert, minVersion: 'TLSv1.2' }, logger: false, bodyLimit: 64 * 1024, trustProxy: false }));
    await app.register(helmet, {
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'none'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          frameAncestors: ["'none'"],
          frameSrc: ["'self'"],
          formAction: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          styleSrc: ["'unsafe-inline'"],
        },
      },
      hsts: { maxAge: 31_536_000, includeSubDomains: true },
      referrerPolicy: { policy: 'no-referrer' },
    });
    await app.register(cookie);
    await app.register(formbody);
    await app.register(multipart, { limits: { fileSize: REPLY_MAX_BYTES, files: 5, fields: 5, fieldSize: 200_000 } });
    await app.register(rateLimit, { max: this.deps.requestsPerMinute, timeWindow: '1 minute', keyGenerator: (req) => req.ip ?? 'unknown' });
    app.addHook('onSend', async (_req, reply) => {
      reply.header('Cache-Control', 'no-store');
    });

    app.get<{ Params: { token: string } }>('/m/:token', async (req, reply) => {
      const item = this.live(req.params.token);
      if (!item) return this.gone(reply);
      const s = this.session(req, reply);
      if (this.canRead(req, s, item)) return reply.redirect(`/m/${req.params.token}/view`, 303);
      await this.audit('portal.link_opened', item.message_id, { item: item.id, ip: req.ip });
      return reply.type('text/html; charset=utf-8').send(
        page(
          `Secure message from ${item.sender_name}`,
          `<p>${escapeHtml(item.sender_name)} sent a secure message through ${escapeHtml(this.deps.practiceName)} to ${escapeHtml(maskAddress(item.address))}.</p>
<p>${item.passphrase_hash ? 'The sender gave you a passphrase for this message (not by e-mail). Enter it to read the message.' : 'To protect your privacy we first send a one-time code to that address.'} The message can be read until ${escapeHtml(new Date(item.expires_at).toUTCString())}.</p>
${item.passphrase_hash ? this.passphraseForm(req.params.token, s) : this.codeForm(req.params.token, s, s.codes.has(item.id))}`,
        ),
      );
    });

    app.post<{ Params: { token: string }; Body: { csrf?: string } }>('/m/:token/code', { config: { rateLimit: { max: 10, timeWindow: '1 minute' } } }, async (req, reply) => {
      const item = this.live(req.params.token);
      if (!item) return this.gone(reply);
      const s = this.session(req, reply);
      if (!this.csrf(s, req.body?.csrf)) return reply.code(403).type('text/html; charset=utf-8').send(page('Please try again', `<p>The form expired. <a href="/m/${req.params.token}">Start again</a>.</p>`));
      if (item.passphrase_hash) return this.refused(reply, req.params.token, s); // the sender chose a passphrase instead of codes
      const now = Date.now();
      const recent = (this.codeRequests.get(item.id) ?? []).filter((t) => t > now - 3_600_000);
      if (recent.length >= CODE_REQUESTS_PER_ITEM_PER_HOUR) {
        await this.audit('portal.code_throttled', item.message_id, { item: item.id, ip: req.ip });
        return reply.code(429).type('text/html; charset=utf-8').send(page('Too many codes', '<p>Too many codes were requested for this message. Please wait an hour and try again.</p>'));
      }
      this.codeRequests.set(item.id, [...recent, now]);
      const code = this.sessions.issueCode(s, item.id);
      const queued = await this.deps.mailer.sendCode(item.address, code);
      await this.audit('portal.code_sent', item.message_id, { item: item.id, ip: req.ip, notice: queued });
      return reply.type('text/html; charset=utf-8').send(page('Check your e-mail', `<p>We sent a 6-digit code to ${escapeHtml(maskAddress(item.address))}. It works once, in this browser, for 10 minutes.</p>${this.codeForm(req.params.token, s, true)}`));
    });

    app.post<{ Params: { token: string }; Body: { csrf?: string; code?: string } }>('/m/:token/verify', { config: { rateLimit: { max: 20, timeWindow: '1 minute' } } }, async (req, reply) => {
      const s = this.session(req, reply);
      const item = this.live(req.params.token);
      // unknown item, expired item and wrong code answer alike, and take alike: each is an
      // audited failure (one commit), so the answer's timing does not tell them apart either
      if (!item || !this.csrf(s, req.body?.csrf)) {
        await this.audit('portal.code_failed', item?.message_id ?? null, { item: item?.id ?? null, ip: req.ip, result: item ? 'csrf' : 'unknown_item' });
        return this.refused(reply, req.params.token, s);
      }
      const result = this.sessions.checkCode(s, item.id, String(req.body?.code ?? '').trim());
      if (result !== 'ok') {
        await this.audit('portal.code_failed', item.message_id, { item: item.id, ip: req.ip, result, max_tries: MAX_CODE_TRIES });
        return this.refused(reply, req.params.token, s);
      }
      this.sessions.rotate(s);
      this.setSessionCookie(reply, s);
      s.verified.add(item.id);
      if (this.deps.trustDays > 0) {
        const trust = randomBytes(32).toString('base64url');
        this.deps.db.prepare('INSERT INTO portal_trust (token_hash, address, created_at, expires_at) VALUES (?, ?, ?, ?)').run(hash(trust), item.address, Date.now(), Date.now() + this.deps.trustDays * 86_400_000);
        reply.setCookie(TRUST_COOKIE, trust, { path: '/', secure: true, httpOnly: true, sameSite: 'strict', maxAge: this.deps.trustDays * 86_400 });
      }
      await this.audit('portal.verified', item.message_id, { item: item.id, ip: req.ip });
      return reply.redirect(`/m/${req.params.token}/view`, 303);
    });

    app.post<{ Params: { token: string }; Body: { csrf?: string; passphrase?: string } }>('/m/:token/passphrase', { config: { rateLimit: { max: 10, timeWindow: '1 minute' } } }, async (req, reply) => {
      const s = this.session(req, reply);
      const found = this.live(req.params.token);
      // a guess on an unknown, dead or code-only item costs and reads like a wrong passphrase:
      // the same scrypt work (against a decoy hash), the same audit commit, the same page
      const item = found?.passphrase_hash && this.csrf(s, req.body?.csrf) ? found : null;
      const now = Date.now();
      const failures = item ? (this.passphraseFailures.get(item.id) ?? []).filter((t) => t > now - 15 * 60_000) : [];
      if (item && failures.length >= MAX_CODE_TRIES) {
        await this.audit('portal.passphrase_locked', item.message_id, { item: item.id, ip: req.ip });
        return reply.code(429).type('text/html; charset=utf-8').send(page('Too many attempts', '<p>Too many wrong passphrases for this message. Please wait 15 minutes.</p>'));
      }
      const right = await verifyPassword(String(req.body?.passphrase ?? ''), item?.passphrase_hash ?? (await this.decoyHash()));
      if (!item || !right) {
        if (item) this.passphraseFailures.set(item.id, [...failures, now]);
        await this.audit('portal.passphrase_failed', item?.message_id ?? found?.message_id ?? null, { item: item?.id ?? found?.id ?? null, ip: req.ip, result: item ? 'wrong' : !found ? 'unknown_item' : found.passphrase_hash ? 'csrf' : 'no_passphrase' });
        return reply.code(403).type('text/html; charset=utf-8').send(page('That passphrase did not work', this.passphraseForm(req.params.token, s, true)));
      }
      this.sessions.rotate(s);
      this.setSessionCookie(reply, s);
      s.verified.add(item.id);
      await this.audit('portal.verified', item.message_id, { item: item.id, ip: req.ip, by: 'passphrase' });
      return reply.redirect(`/m/${req.params.token}/view`, 303);
    });

    app.get<{ Params: { token: string } }>('/m/:token/view', async (req, reply) => {
      const item = this.live(req.params.token);
      if (!item) return this.gone(reply);
      const s = this.session(req, reply);
      if (!this.canRead(req, s, item)) return reply.redirect(`/m/${req.params.token}`, 303);
      const base = `/m/${req.params.token}`;
      const { view } = await this.open(item);
      await this.deps.committer.submit((ctx) => {
        this.deps.items.markOpened(item.id, ctx);
        ctx.audit({ actor: 'portal', action: 'portal.viewed', subject: item.message_id, detail: { item: item.id, ip: req.ip } });
      });
      const body = `<p class="meta">From ${escapeHtml(view.from)}<br>${escapeHtml(view.date)}</p>
<h2>${escapeHtml(view.subject)}</h2>
${view.parts.map(partHtml).join('\n')}
${view.attachments.length ? `<h2>Attachments</h2><ul class="att">${view.attachments.map((a) => `<li><a href="${base}/a/${a.n}" download>${escapeHtml(a.filename)}</a> (${Math.ceil(a.size / 1024)} KB)</li>`).join('')}</ul>` : ''}
<h2>Reply securely</h2>
<form method="post" action="${base}/reply" enctype="multipart/form-data">
<input type="hidden" name="csrf" value="${s.csrf}">
<label for="reply">Your reply to ${escapeHtml(item.sender_name)}</label><textarea id="reply" name="text" rows="6" required></textarea>
<label for="files">Attach files (optional)</label><input type="file" id="files" name="files" multiple>
<button type="submit">Send securely</button></form>
<p class="meta">This message can be read until ${escapeHtml(new Date(item.expires_at).toUTCString())}.</p>`;
      return reply.type('text/html; charset=utf-8').send(page(`Secure message from ${item.sender_name}`, body));
    });

    app.get<{ Params: { token: string; n: string } }>('/m/:token/a/:n', async (req, reply) => {
      const item = this.live(req.params.token);
      if (!item) return this.gone(reply);
      const s = this.session(req, reply);
      if (!this.canRead(req, s, item)) return reply.redirect(`/m/${req.params.token}`, 303);
      const { view, attachments } = await this.open(item);
      const n = Number(req.params.n);
      const a = Number.isInteger(n) ? attachments[n - 1] : undefined;
      if (!a) return reply.code(404).type('text/plain').send('no such attachment');
      const name = view.attachments[n - 1]!.filename;
      await this.audit('portal.downloaded', item.message_id, { item: item.id, attachment: n, ip: req.ip });
      // never rendered by the browser: a download, whatever the sender said the type was
      return reply
        .header('Content-Type', 'application/octet-stream')
        .header('Content-Disposition', `attachment; filename="${name.replace(/[^\x20-\x7e]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`)
        .send(a.content);
    });

    app.post<{ Params: { token: string } }>('/m/:token/reply', { config: { rateLimit: { max: 10, timeWindow: '1 minute' } } }, async (req, reply) => {
      const item = this.live(req.params.token);
      if (!item) return this.gone(reply);
      const s = this.session(req, reply);
      if (!this.canRead(req, s, item)) return reply.redirect(`/m/${req.params.token}`, 303);
      const fields: Record<string, string> = {};
      const files: Array<{ filename: string; content: Buffer; contentType: string }> = [];
      try {
        for await (const part of req.parts()) {
          if (part.type === 'file') {
            const content = await part.toBuffer();
            if (content.length > 0) files.push({ filename: part.filename || 'attachment', content, contentType: part.mimetype || 'application/octet-stream' });
          } else fields[part.fieldname] = String(part.value);
        }
      } catch {
        return reply.code(413).type('text/html; charset=utf-8').send(page('Reply too large', '<p>The reply and its files may be at most 10 MB. Please go back and try again.</p>'));
      }
      if (!this.csrf(s, fields.csrf)) return reply.code(403).type('text/html; charset=utf-8').send(page('Please try again', `<p>The form expired. <a href="/m/${req.params.token}/view">Back to the message</a>.</p>`));
      const text = (fields.text ?? '').trim();
      if (!text) return reply.code(400).type('text/html; charset=utf-8').send(page('Empty reply', `<p>Please write a reply. <a href="/m/${req.params.token}/view">Back to the message</a>.</p>`));
      const original = this.deps.db.prepare('SELECT sender, message_id FROM messages WHERE id = ?').get(item.message_id) as { sender: string; message_id: string } | undefined;
      const { view } = await this.open(item);
      try {
        const queued = await this.deps.mailer.sendReply({
          recipientAddress: item.address,
          to: original?.sender ?? '',
          subject: replySubject(view.subject),
          inReplyTo: original?.message_id ?? null,
          text,
          attachments: files,
        });
        await this.audit('portal.replied', item.message_id, { item: item.id, reply: queued, attachments: files.length, ip: req.ip });
      } catch (err) {
        const ref = randomBytes(6).toString('hex');
        this.deps.log.error({ ref, item: item.id, err: (err as Error).message }, 'portal reply failed');
        return reply.code(500).type('text/html; charset=utf-8').send(page('The reply was not sent', `<p>Something went wrong (reference ${ref}). Please try again later.</p>`));
      }
      return reply.type('text/html; charset=utf-8').send(page('Reply sent', `<p role="status">Your reply was sent securely to ${escapeHtml(item.sender_name)}.</p><p><a href="/m/${req.params.token}/view">Back to the message</a></p>`));
    });

    app.setNotFoundHandler((_req, reply) => this.gone(reply));
    const { host, port } = splitHostPort(this.deps.listen);
    await app.listen({ host, port });
    const a = app.server.address() as AddressInfo;
    this.address = `${a.address}:${a.port}`;
  }

  async stop(): Promise<void> {
    await this.app?.close();
  }
}
