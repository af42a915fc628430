// Sending applications: their credentials, stream and allowed sender addresses.
// Inputs: control calls and SMTP AUTH. Outputs: AppInfo, authentication verdicts.
// Side effects: rows in `apps` (written through the group committer, audited).

import { createHash } from 'node:crypto';
import type { AppInfo, Stream } from '../../shared/domain.js';
import { ControlError } from '../../shared/errors.js';
import type { GroupCommitter } from '../store/committer.js';
import type { Db } from '../store/db.js';
import { generatePassword, hashPassword, verifyPassword } from './passwords.js';

interface AppRow {
  name: string;
  stream: Stream;
  from_patterns: string;
  password_hash: string;
  enabled: number;
  created_at: string;
  last_auth_at: string | null;
}

export const APP_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function toInfo(r: AppRow): AppInfo {
  return {
    name: r.name,
    stream: r.stream,
    from: JSON.parse(r.from_patterns) as string[],
    enabled: r.enabled === 1,
    created_at: r.created_at,
    last_auth_at: r.last_auth_at,
  };
}

const patternCache = new Map<string, RegExp>();

function patternRegExp(pattern: string): RegExp {
  let re = patternCache.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.toLowerCase().split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^@]*')}$`);
    patternCache.set(pattern, re);
  }
  return re;
}

/** `*@clinic.example`, `billing@clinic.example` or `*@*.clinic.example`; case-insensitive. */
export function senderAllowed(patterns: readonly string[], address: string): boolean {
  const a = address.toLowerCase();
  return patterns.some((p) => patternRegExp(p).test(a));
}

export class AppRegistry {
  /** sha256(name, password) of recent successful logins, so pooled and per-message clients skip scrypt. */
  private verified = new Map<string, string>();
  /** When last_auth_at was last written per app: at most once a minute, off the hot path. */
  private lastAuthWritten = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly committer: GroupCommitter,
    private readonly domains: readonly string[],
  ) {}

  get(name: string): AppInfo | null {
    const r = this.db.prepare('SELECT * FROM apps WHERE name = ?').get(name) as AppRow | undefined;
    return r ? toInfo(r) : null;
  }

  list(): AppInfo[] {
    return (this.db.prepare('SELECT * FROM apps ORDER BY name').all() as AppRow[]).map(toInfo);
  }

  async add(actor: string, name: string, stream: Stream = 'transactional', from?: string[]): Promise<{ password: string; app: AppInfo }> {
    if (!APP_NAME.test(name)) throw new ControlError('INVALID_PARAMS', 'app name: 1-64 of a-z 0-9 . _ - starting with a letter or digit');
    const patterns = from && from.length > 0 ? from : this.domains.map((d) => `*@${d}`);
    for (const p of patterns) {
      if (!/^[^\s@]+@[^\s@]+$/.test(p)) throw new ControlError('INVALID_PARAMS', `--from ${p}: expected local@domain, * allowed`);
    }
    const password = generatePassword();
    const hash = await hashPassword(password);
    await this.committer.submit((ctx) => {
      if (this.get(name)) throw new ControlError('CONFLICT', `app ${name} exists`);
      this.db
        .prepare('INSERT INTO apps (name, stream, from_patterns, password_hash, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(name, stream, JSON.stringify(patterns), hash, new Date().toISOString());
      ctx.audit({ actor, action: 'app.add', subject: name, detail: { stream, from: patterns } });
    });
    return { password, app: this.get(name)! };
  }

  async disable(actor: string, name: string): Promise<AppInfo> {
    await this.committer.submit((ctx) => {
      if (this.db.prepare('UPDATE apps SET enabled = 0 WHERE name = ?').run(name).changes === 0) {
        throw new ControlError('NOT_FOUND', `no app ${name}`);
      }
      ctx.audit({ actor, action: 'app.disable', subject: name });
    });
    this.verified.delete(name);
    return this.get(name)!;
  }

  async rotate(actor: string, name: string): Promise<string> {
    const password = generatePassword();
    const hash = await hashPassword(password);
    await this.committer.submit((ctx) => {
      if (this.db.prepare('UPDATE apps SET password_hash = ? WHERE name = ?').run(hash, name).changes === 0) {
        throw new ControlError('NOT_FOUND', `no app ${name}`);
      }
      ctx.audit({ actor, action: 'app.rotate', subject: name });
    });
    this.verified.delete(name);
    return password;
  }

  /** The app, when name and password match an enabled app; null otherwise. */
  async authenticate(name: string, password: string): Promise<AppInfo | null> {
    const row = this.db.prepare('SELECT * FROM apps WHERE name = ?').get(name) as AppRow | undefined;
    if (!row || row.enabled !== 1) {
      await verifyPassword(password, DUMMY_HASH); // same cost whether or not the app exists
      return null;
    }
    const fingerprint = createHash('sha256').update(row.password_hash).update('\0').update(password).digest('hex');
    if (this.verified.get(name) !== fingerprint) {
      if (!(await verifyPassword(password, row.password_hash))) return null;
      this.verified.set(name, fingerprint);
    }
    const now = Date.now();
    if (now - (this.lastAuthWritten.get(name) ?? 0) > 60_000) {
      this.lastAuthWritten.set(name, now);
      const at = new Date(now).toISOString();
      void this.committer.submit(() => this.db.prepare('UPDATE apps SET last_auth_at = ? WHERE name = ?').run(at, name)).catch(() => undefined);
    }
    return toInfo(row);
  }
}

const DUMMY_HASH = '$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
