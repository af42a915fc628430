// The recipient key store: OpenPGP public keys (openpgp) and S/MIME certificates (Node's
// X509Certificate). Import validates before storing: no private keys, not expired, not
// revoked, an encryption-capable key proven by a trial encryption; a certificate inside its
// validity dates, with an RSA key, naming the address. Parsed keys are cached for delivery.
// Inputs: armored keys / PEM certificates. Outputs: key rows, lookup by address.

import type { Statement } from 'better-sqlite3';
import { createHash, X509Certificate } from 'node:crypto';
import * as openpgp from 'openpgp';
import type { RecipientKeyInfo } from '../../shared/domain.js';
import { ControlError } from '../../shared/errors.js';
import type { GroupCommitter } from '../store/committer.js';
import type { Db } from '../store/db.js';

interface KeyRow {
  id: string;
  email: string;
  kind: 'pgp' | 'smime';
  fingerprint: string;
  material: string;
  not_after: number | null;
  created_at: number;
}

export interface RecipientKeys {
  pgp: openpgp.Key | null;
  smime: { pem: string; cert: X509Certificate } | null;
}

const toInfo = (r: KeyRow): RecipientKeyInfo => ({
  id: r.id,
  email: r.email,
  kind: r.kind,
  fingerprint: r.fingerprint,
  not_after: r.not_after === null ? null : new Date(r.not_after).toISOString(),
  created_at: new Date(r.created_at).toISOString(),
});

async function validatePgp(armored: string, email?: string): Promise<Array<Omit<KeyRow, 'id' | 'created_at'>>> {
  let key: openpgp.Key;
  try {
    key = await openpgp.readKey({ armoredKey: armored });
  } catch {
    throw new ControlError('INVALID_PARAMS', 'not a readable OpenPGP public key');
  }
  if (key.isPrivate()) throw new ControlError('INVALID_PARAMS', 'this is a private key: import the public key only');
  if (await key.isRevoked()) throw new ControlError('INVALID_PARAMS', 'the key is revoked');
  const expires = await key.getExpirationTime();
  if (expires instanceof Date && expires.getTime() < Date.now()) throw new ControlError('INVALID_PARAMS', `the key expired on ${expires.toISOString()}`);
  try {
    await key.getEncryptionKey();
    await openpgp.encrypt({ message: await openpgp.createMessage({ text: 'trial' }), encryptionKeys: key });
  } catch {
    throw new ControlError('INVALID_PARAMS', 'the key has no usable encryption subkey (trial encryption failed)');
  }
  const emails = key.users.map((u) => u.userID?.email?.toLowerCase()).filter((e): e is string => Boolean(e));
  if (email && !emails.includes(email.toLowerCase())) throw new ControlError('INVALID_PARAMS', `the key has no user ID for ${email}`);
  const chosen = email ? [email.toLowerCase()] : [...new Set(emails)];
  if (chosen.length === 0) throw new ControlError('INVALID_PARAMS', 'the key has no e-mail user ID: pass --email');
  const material = key.armor();
  return chosen.map((e) => ({ email: e, kind: 'pgp' as const, fingerprint: key.getFingerprint().toUpperCase(), material, not_after: expires instanceof Date ? expires.getTime() : null }));
}

function validateSmime(pem: string, email?: string): Array<Omit<KeyRow, 'id' | 'created_at'>> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    throw new ControlError('INVALID_PARAMS', 'not a readable PEM certificate');
  }
  const now = Date.now();
  if (Date.parse(cert.validFrom) > now) throw new ControlError('INVALID_PARAMS', `the certificate is not valid before ${cert.validFrom}`);
  if (Date.parse(cert.validTo) < now) throw new ControlError('INVALID_PARAMS', `the certificate expired on ${cert.validTo}`);
  if (cert.publicKey.asymmetricKeyType !== 'rsa') throw new ControlError('INVALID_PARAMS', 'only RSA recipient certificates are supported (key transport)');
  const named = [...(cert.subjectAltName ?? '').matchAll(/email:([^,\s]+)/gi)].map((m) => m[1]!.toLowerCase());
  const subjectEmail = /emailAddress=([^,\n]+)/i.exec(cert.subject)?.[1]?.toLowerCase();
  if (subjectEmail) named.push(subjectEmail);
  if (email && !cert.checkEmail(email)) throw new ControlError('INVALID_PARAMS', `the certificate does not name ${email}`);
  const chosen = email ? [email.toLowerCase()] : [...new Set(named)];
  if (chosen.length === 0) throw new ControlError('INVALID_PARAMS', 'the certificate names no e-mail address');
  return chosen.map((e) => ({ email: e, kind: 'smime' as const, fingerprint: cert.fingerprint256.replace(/:/g, ''), material: cert.toString(), not_after: Date.parse(cert.validTo) }));
}

export class KeyStore {
  private cache = new Map<string, RecipientKeys>();
  private hasKey: Statement | null = null;

  constructor(
    private readonly db: Db,
    private readonly committer: GroupCommitter,
  ) {}

  async import(material: string, actor: string, email?: string): Promise<RecipientKeyInfo[]> {
    const text = material.trim();
    if (/-----BEGIN PGP PRIVATE KEY BLOCK-----|-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
      throw new ControlError('INVALID_PARAMS', 'this is a private key: import the public key or certificate only');
    }
    const rows = /-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(text)
      ? await validatePgp(text, email)
      : /-----BEGIN CERTIFICATE-----/.test(text)
        ? validateSmime(text, email)
        : (() => {
            throw new ControlError('INVALID_PARAMS', 'expected an armored OpenPGP public key or a PEM certificate');
          })();
    const now = Date.now();
    const stored = await this.committer.submit((ctx) => {
      const out: KeyRow[] = [];
      for (const r of rows) {
        const id = `K${createHash('sha256').update(`${r.email}|${r.fingerprint}`).digest('hex').slice(0, 11).toUpperCase()}`;
        this.db
          .prepare('INSERT INTO recipient_keys (id, email, kind, fingerprint, material, not_after, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(email, fingerprint) DO UPDATE SET material = excluded.material, not_after = excluded.not_after')
          .run(id, r.email, r.kind, r.fingerprint, r.material, r.not_after, now);
        out.push({ ...r, id, created_at: now });
        ctx.audit({ actor, action: 'keys.imported', subject: id, detail: { kind: r.kind, fingerprint: r.fingerprint } });
      }
      return out;
    });
    for (const r of rows) this.cache.delete(r.email);
    return stored.map(toInfo);
  }

  list(): RecipientKeyInfo[] {
    return (this.db.prepare('SELECT * FROM recipient_keys ORDER BY email, kind, created_at').all() as KeyRow[]).map(toInfo);
  }

  async remove(id: string, actor: string): Promise<{ removed: string }> {
    await this.committer.submit((ctx) => {
      const row = this.db.prepare('SELECT email FROM recipient_keys WHERE id = ?').get(id) as { email: string } | undefined;
      if (!row) throw new ControlError('NOT_FOUND', `no key ${id}`);
      this.db.prepare('DELETE FROM recipient_keys WHERE id = ?').run(id);
      this.cache.delete(row.email.toLowerCase());
      ctx.audit({ actor, action: 'keys.removed', subject: id, detail: {} });
    });
    return { removed: id };
  }

  /** Whether any still-valid key exists for the address (for policy). */
  has(address: string): boolean {
    this.hasKey ??= this.db.prepare('SELECT 1 FROM recipient_keys WHERE email = ? AND (not_after IS NULL OR not_after > ?)');
    return Boolean(this.hasKey.get(address, Date.now()));
  }

  /** The newest valid PGP key and S/MIME certificate for the address, parsed. */
  async lookup(address: string): Promise<RecipientKeys> {
    const email = address.toLowerCase();
    const cached = this.cache.get(email);
    if (cached) return cached;
    const rows = this.db
      .prepare('SELECT * FROM recipient_keys WHERE email = ? AND (not_after IS NULL OR not_after > ?) ORDER BY created_at DESC')
      .all(email, Date.now()) as KeyRow[];
    const pgpRow = rows.find((r) => r.kind === 'pgp');
    const smimeRow = rows.find((r) => r.kind === 'smime');
    const keys: RecipientKeys = {
      pgp: pgpRow ? await openpgp.readKey({ armoredKey: pgpRow.material }) : null,
      smime: smimeRow ? { pem: smimeRow.material, cert: new X509Certificate(smimeRow.material) } : null,
    };
    this.cache.set(email, keys);
    return keys;
  }
}
