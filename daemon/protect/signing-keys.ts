// The practice's own OpenPGP keys, one per configured domain, for signing the PGP/MIME it
// sends (keys.pgp_sign): generated at first start with openpgp (EdDSA over Ed25519 in the
// widely read v4 "legacy" encoding: GnuPG 2.2 cannot check RFC 9580's native Ed25519; user
// ID "<practice name> <postmaster@domain>"), the private key sealed by the vault, the
// public key printed by `sealpost keys practice` for the practice to publish (its website
// or Web Key Directory) so patients' mail programs can verify who wrote to them.
// Inputs: domains, the vault. Outputs: signing keys by sender domain, public keys.

import * as openpgp from 'openpgp';
import type { PracticeKeyInfo } from '../../shared/domain.js';
import type { GroupCommitter } from '../store/committer.js';
import type { Db } from '../store/db.js';
import type { Vault } from '../store/vault.js';

interface Row {
  domain: string;
  fingerprint: string;
  public_armored: string;
  private_sealed: Buffer;
  created_at: number;
}

export class SigningKeys {
  private readonly cache = new Map<string, openpgp.PrivateKey>();

  constructor(private readonly deps: { db: Db; committer: GroupCommitter; vault: Vault; domains: string[]; practiceName: string }) {}

  /** Generates the missing domains' keys (first start, or a domain added to the config). */
  async start(): Promise<void> {
    for (const domain of this.deps.domains.map((d) => d.toLowerCase())) {
      if (this.deps.db.prepare('SELECT 1 FROM signing_keys WHERE domain = ?').get(domain)) continue;
      const { privateKey, publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: this.deps.practiceName, email: `postmaster@${domain}` }], format: 'object' });
      const label = `signing-key:${domain}`;
      await this.deps.committer.submit((ctx) => {
        this.deps.db
          .prepare('INSERT OR IGNORE INTO signing_keys (domain, fingerprint, public_armored, private_sealed, created_at) VALUES (?, ?, ?, ?, ?)')
          .run(domain, privateKey.getFingerprint().toUpperCase(), publicKey.armor(), this.deps.vault.seal(Buffer.from(privateKey.armor()), label), Date.now());
        ctx.audit({ actor: 'daemon', action: 'signing_key.generated', subject: domain, detail: { fingerprint: privateKey.getFingerprint().toUpperCase() } });
      });
    }
  }

  /** The private key that signs mail from `domain`, or null. */
  async forDomain(domain: string | null): Promise<openpgp.PrivateKey | null> {
    if (!domain) return null;
    const d = domain.toLowerCase();
    const cached = this.cache.get(d);
    if (cached) return cached;
    const row = this.deps.db.prepare('SELECT * FROM signing_keys WHERE domain = ?').get(d) as Row | undefined;
    if (!row) return null;
    const key = await openpgp.readPrivateKey({ armoredKey: this.deps.vault.open(row.private_sealed, `signing-key:${d}`).toString() });
    this.cache.set(d, key);
    return key;
  }

  list(domain?: string): PracticeKeyInfo[] {
    const rows = (domain
      ? this.deps.db.prepare('SELECT * FROM signing_keys WHERE domain = ?').all(domain.toLowerCase())
      : this.deps.db.prepare('SELECT * FROM signing_keys ORDER BY domain').all()) as Row[];
    return rows.map((r) => ({ domain: r.domain, fingerprint: r.fingerprint, public_key: r.public_armored, created_at: new Date(r.created_at).toISOString() }));
  }
}
