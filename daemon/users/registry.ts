// Console/CLI identities: a Unix user name mapped to a role (admin, operator, auditor).

import { ROLES, type Role, type UserInfo } from '../../shared/domain.js';
import { ControlError } from '../../shared/errors.js';
import type { GroupCommitter } from '../store/committer.js';
import type { Db } from '../store/db.js';

const UNIX_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

export class UserRegistry {
  constructor(private readonly db: Db, private readonly committer: GroupCommitter) {}

  roleOf(name: string): Role | null {
    const r = this.db.prepare('SELECT role FROM users WHERE name = ?').get(name) as { role: Role } | undefined;
    return r?.role ?? null;
  }

  list(): UserInfo[] {
    return this.db.prepare('SELECT name, role, created_at FROM users ORDER BY name').all() as UserInfo[];
  }

  async add(actor: string, name: string, role: Role): Promise<UserInfo> {
    if (!UNIX_NAME.test(name)) throw new ControlError('INVALID_PARAMS', 'user: a Unix user name');
    if (!ROLES.includes(role)) throw new ControlError('INVALID_PARAMS', `role: one of ${ROLES.join(', ')}`);
    await this.committer.submit((ctx) => {
      this.db
        .prepare('INSERT INTO users (name, role, created_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET role = excluded.role')
        .run(name, role, new Date().toISOString());
      ctx.audit({ actor, action: 'user.add', subject: name, detail: { role } });
    });
    return this.db.prepare('SELECT name, role, created_at FROM users WHERE name = ?').get(name) as UserInfo;
  }

  async remove(actor: string, name: string): Promise<void> {
    await this.committer.submit((ctx) => {
      if (this.db.prepare('DELETE FROM users WHERE name = ?').run(name).changes === 0) throw new ControlError('NOT_FOUND', `no user ${name}`);
      ctx.audit({ actor, action: 'user.remove', subject: name });
    });
  }
}
