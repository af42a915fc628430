// Local identity for control clients (ARCHITECTURE.md principle 7). Node cannot read
// SO_PEERCRED, so the client proves its uid through the kernel: it creates a file named by a
// one-time challenge in a sticky, write-only directory the daemon owns, and the daemon reads
// the file's owner. The uid maps to a role: root and the daemon's own user are admin, other
// Unix users need a `sealpost user add NAME --role ...` entry.

import { chmodSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Role } from '../../shared/domain.js';
import { ControlError } from '../../shared/errors.js';

export interface Identity {
  user: string;
  uid: number;
  role: Role;
}

export function prepareProofDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o1733); // anyone may create, nobody else may list or remove others' files
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? st.uid)) {
    throw new Error(`control proof directory ${dir} is not a directory owned by the daemon`);
  }
}

export function userNameOf(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid) return f[0]!;
    }
  } catch {
    // fall through
  }
  return `uid:${uid}`;
}

/** Reads and removes the proof file; returns the uid that created it. */
export function readProof(dir: string, challenge: string): number {
  if (!/^[0-9a-f]{64}$/.test(challenge)) throw new ControlError('IDENTITY_FAILED', 'malformed challenge');
  const path = join(dir, challenge);
  let uid: number;
  try {
    const st = lstatSync(path);
    if (!st.isFile() || st.nlink !== 1) throw new ControlError('IDENTITY_FAILED', 'proof is not a plain file');
    uid = st.uid;
  } catch (err) {
    if (err instanceof ControlError) throw err;
    throw new ControlError('IDENTITY_FAILED', 'no proof file for the challenge');
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
  return uid;
}

export function resolveRole(uid: number, lookup: (name: string) => Role | null): Identity {
  const user = userNameOf(uid);
  if (uid === 0 || uid === process.getuid?.()) return { user, uid, role: 'admin' };
  const role = lookup(user);
  if (!role) throw new ControlError('UNKNOWN_USER', `Unix user ${user} has no Sealpost role (sealpost user add ${user} --role ...)`);
  return { user, uid, role };
}
