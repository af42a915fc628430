// Portal browser sessions, held in memory: a random id in a `__Host-` cookie (Secure,
// HttpOnly, SameSite=Strict), a CSRF token for every form, the items this browser has
// proved access to, and its pending one-time codes (6 digits from the CSPRNG, stored as a
// hash, bound to the item and this session, single use, 10 minutes, 5 wrong tries void it).
// Idle timeout 15 minutes, absolute 8 hours; the id is rotated when the browser proves an
// address. A restart forgets sessions (recipients ask for a new code), never messages.
// Inputs: cookies. Outputs: session state.

import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = '__Host-sp_session';
export const TRUST_COOKIE = '__Host-sp_trust';
const IDLE_MS = 15 * 60_000;
const ABSOLUTE_MS = 8 * 3_600_000;
const CODE_MS = 10 * 60_000;
export const MAX_CODE_TRIES = 5;

interface PendingCode {
  hash: Buffer;
  expiresAt: number;
  tries: number;
}

export interface Session {
  id: string;
  /** Binds codes to this browser; unlike the id, it survives rotation. */
  secret: string;
  csrf: string;
  createdAt: number;
  lastSeen: number;
  /** item ids this browser may read */
  verified: Set<string>;
  codes: Map<string, PendingCode>;
}

const hashCode = (itemId: string, sessionSecret: string, code: string) => createHash('sha256').update(`${itemId}|${sessionSecret}|${code}`).digest();

export type CodeCheck = 'ok' | 'wrong' | 'expired' | 'none' | 'exhausted';

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  /** The live session for this cookie value, or a new one. */
  get(id: string | undefined, now = Date.now()): Session {
    const s = id ? this.sessions.get(id) : undefined;
    if (s && now - s.lastSeen < IDLE_MS && now - s.createdAt < ABSOLUTE_MS) {
      s.lastSeen = now;
      return s;
    }
    if (s) this.sessions.delete(s.id);
    const fresh: Session = { id: randomBytes(32).toString('base64url'), secret: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url'), createdAt: now, lastSeen: now, verified: new Set(), codes: new Map() };
    this.sessions.set(fresh.id, fresh);
    this.sweep(now);
    return fresh;
  }

  /** A new id (and CSRF token) for the same session: after the browser proves an address. */
  rotate(s: Session): Session {
    this.sessions.delete(s.id);
    s.id = randomBytes(32).toString('base64url');
    s.csrf = randomBytes(32).toString('base64url');
    this.sessions.set(s.id, s);
    return s;
  }

  csrfOk(s: Session, token: unknown): boolean {
    if (typeof token !== 'string' || token.length !== s.csrf.length) return false;
    return timingSafeEqual(Buffer.from(token), Buffer.from(s.csrf));
  }

  /** A new code for this item in this session (replacing any pending one). */
  issueCode(s: Session, itemId: string, now = Date.now()): string {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    s.codes.set(itemId, { hash: hashCode(itemId, s.secret, code), expiresAt: now + CODE_MS, tries: 0 });
    return code;
  }

  checkCode(s: Session, itemId: string, code: string, now = Date.now()): CodeCheck {
    const pending = s.codes.get(itemId);
    if (!pending) return 'none';
    if (now > pending.expiresAt) {
      s.codes.delete(itemId);
      return 'expired';
    }
    const ok = /^\d{6}$/.test(code) && timingSafeEqual(hashCode(itemId, s.secret, code), pending.hash);
    if (ok) {
      s.codes.delete(itemId); // single use
      return 'ok';
    }
    pending.tries++;
    if (pending.tries >= MAX_CODE_TRIES) {
      s.codes.delete(itemId);
      return 'exhausted';
    }
    return 'wrong';
  }

  private sweep(now: number): void {
    if (this.sessions.size < 10_000) return;
    for (const [id, s] of this.sessions) if (now - s.lastSeen >= IDLE_MS || now - s.createdAt >= ABSOLUTE_MS) this.sessions.delete(id);
  }
}
