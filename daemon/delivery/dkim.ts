// DKIM: keys per sending domain (RSA 2048, and Ed25519 per RFC 8463 beside it), generated at
// first start, private halves sealed by the vault in the database; signing of outgoing
// mail with mailauth's signer; the DNS records to publish. Rotation makes new selectors
// active and keeps the retired ones listed for `dkim.retire_days`, so mail signed before
// the rotation still verifies while it is in flight.
// Inputs: config.domains, the vault. Outputs: signatures, DNS records. Side effects: key rows.

import { dkimSign } from 'mailauth';
import NodemailerDkim from 'nodemailer/lib/dkim';
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { DkimRecord } from '../../shared/domain.js';
import { ControlError } from '../../shared/errors.js';
import type { GroupCommitter } from '../store/committer.js';
import type { Db } from '../store/db.js';
import type { Vault } from '../store/vault.js';

type Algorithm = 'rsa' | 'ed25519';

interface KeyRow {
  domain: string;
  selector: string;
  algorithm: Algorithm;
  private_sealed: Buffer;
  public_key: string;
  created_at: number;
  retired_at: number | null;
}

const generate = promisify(generateKeyPair);
const DAY = 86_400_000;

/** `p=` of the DNS record: SPKI DER for RSA, the raw 32-byte key for Ed25519 (RFC 8463 §4.2). */
function dnsPublicKey(algorithm: Algorithm, publicPem: string): string {
  const der = createPublicKey(publicPem).export({ type: 'spki', format: 'der' });
  return (algorithm === 'ed25519' ? der.subarray(der.length - 32) : der).toString('base64');
}

export function dkimTxt(algorithm: Algorithm, publicPem: string): string {
  return `v=DKIM1; k=${algorithm}; p=${dnsPublicKey(algorithm, publicPem)}`;
}

/** Selectors say when they were made and with what: s202612a-rsa, s202612a-ed25519. */
function selectorBase(now: Date, taken: Set<string>): string {
  const stem = `s${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  for (let i = 0; i < 26 * 26; i++) {
    const suffix = i < 26 ? String.fromCharCode(97 + i) : String.fromCharCode(97 + Math.floor(i / 26) - 1) + String.fromCharCode(97 + (i % 26));
    if (![...taken].some((s) => s.startsWith(`${stem}${suffix}-`))) return `${stem}${suffix}`;
  }
  throw new Error('no free DKIM selector this month');
}

export class DkimKeys {
  /** Parsed once: parsing a PEM RSA key costs more than signing with it. */
  private active = new Map<string, Array<{ selector: string; algorithm: Algorithm; key: KeyObject; seed: Buffer | null }>>();

  constructor(
    private readonly deps: { db: Db; committer: GroupCommitter; vault: Vault; domains: string[]; ed25519: boolean; retireDays: number; enabled: boolean },
  ) {}

  private label(domain: string, selector: string): string {
    return `dkim:${domain}:${selector}`;
  }

  private rows(domain: string): KeyRow[] {
    return this.deps.db.prepare('SELECT * FROM dkim_keys WHERE domain = ? ORDER BY created_at, selector').all(domain) as KeyRow[];
  }

  /** Generates keys for domains that have none; loads the active ones. */
  async start(): Promise<void> {
    for (const domain of this.deps.domains) {
      if (!this.rows(domain).some((r) => r.retired_at === null)) await this.createKeys(domain, 'dkim.generated', 'daemon');
    }
    this.load();
  }

  private load(): void {
    this.active.clear();
    for (const domain of this.deps.domains) {
      const keys = this.rows(domain)
        .filter((r) => r.retired_at === null && (this.deps.ed25519 || r.algorithm === 'rsa'))
        .map((r) => {
          const key = createPrivateKey(this.deps.vault.open(r.private_sealed, this.label(domain, r.selector)).toString('utf8'));
          // Ed25519: mailauth takes the raw 32-byte seed (the tail of the PKCS#8 DER)
          return { selector: r.selector, algorithm: r.algorithm, key, seed: r.algorithm === 'ed25519' ? key.export({ type: 'pkcs8', format: 'der' }).subarray(-32) : null };
        });
      this.active.set(domain, keys);
    }
  }

  private async createKeys(domain: string, action: string, actor: string, retire = false): Promise<string> {
    const taken = new Set(this.rows(domain).map((r) => r.selector));
    const base = selectorBase(new Date(), taken);
    const made: Array<{ selector: string; algorithm: Algorithm; privatePem: string; publicPem: string }> = [];
    const rsa = await generate('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    made.push({ selector: `${base}-rsa`, algorithm: 'rsa', privatePem: rsa.privateKey, publicPem: rsa.publicKey });
    const ed = await generate('ed25519', { publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    made.push({ selector: `${base}-ed25519`, algorithm: 'ed25519', privatePem: ed.privateKey, publicPem: ed.publicKey });
    await this.deps.committer.submit((ctx) => {
      const now = Date.now();
      if (retire) this.deps.db.prepare('UPDATE dkim_keys SET retired_at = ? WHERE domain = ? AND retired_at IS NULL').run(now, domain);
      const insert = this.deps.db.prepare('INSERT INTO dkim_keys (domain, selector, algorithm, private_sealed, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?)');
      for (const k of made) insert.run(domain, k.selector, k.algorithm, this.deps.vault.seal(Buffer.from(k.privatePem), this.label(domain, k.selector)), k.publicPem, now);
      ctx.audit({ actor, action, subject: domain, detail: { selectors: made.map((k) => k.selector) } });
    });
    return base;
  }

  /** New keys become active; the old ones stay published for retire_days. */
  async rotate(domain: string, actor: string): Promise<DkimRecord> {
    if (!this.deps.domains.includes(domain)) throw new ControlError('NOT_FOUND', `${domain} is not one of the configured domains`);
    await this.createKeys(domain, 'dkim.rotated', actor, true);
    this.load();
    return this.show(domain);
  }

  show(domain = this.deps.domains[0]!): DkimRecord {
    if (!this.deps.domains.includes(domain)) throw new ControlError('NOT_FOUND', `${domain} is not one of the configured domains`);
    const cutoff = Date.now() - this.deps.retireDays * DAY;
    const records = this.rows(domain)
      .filter((r) => r.retired_at === null || r.retired_at > cutoff)
      .map((r) => ({
        selector: r.selector,
        algorithm: r.algorithm,
        dns_name: `${r.selector}._domainkey.${domain}`,
        txt: dkimTxt(r.algorithm, r.public_key),
        status: r.retired_at === null ? ('active' as const) : ('retiring' as const),
        created_at: new Date(r.created_at).toISOString(),
        retired_at: r.retired_at === null ? null : new Date(r.retired_at).toISOString(),
      }));
    const main = records.find((r) => r.status === 'active' && r.algorithm === 'rsa');
    if (!main) throw new ControlError('NOT_FOUND', `no DKIM key for ${domain} yet`);
    return { domain, selector: main.selector, dns_name: main.dns_name, txt: main.txt, algorithm: 'rsa', records };
  }

  /**
   * The message with DKIM-Signature headers prepended (unchanged when the domain has no key).
   * RSA goes through nodemailer's signer, which takes a parsed key object; Ed25519 through
   * mailauth's (nodemailer signs RSA only), given the raw 32-byte seed, which is cheap to load.
   */
  async sign(message: Buffer, domain: string): Promise<Buffer> {
    if (!this.deps.enabled) return message;
    const keys = this.active.get(domain.toLowerCase());
    if (!keys || keys.length === 0) return message;
    let out = message;
    const rsa = keys.filter((k) => k.algorithm === 'rsa');
    if (rsa.length > 0) {
      const signer = new NodemailerDkim({ keys: rsa.map((k) => ({ domainName: domain, keySelector: k.selector, privateKey: k.key as unknown as string })) });
      const chunks: Buffer[] = [];
      for await (const c of signer.sign(out)) chunks.push(c as Buffer);
      out = Buffer.concat(chunks);
      if (!/^DKIM-Signature:/i.test(out.subarray(0, 20).toString('latin1'))) throw new Error(`DKIM signing failed for ${domain}`);
    }
    const ed = keys.filter((k) => k.algorithm === 'ed25519');
    if (ed.length > 0) {
      const first = ed[0]!;
      const result = await dkimSign(out, {
        signingDomain: domain,
        selector: first.selector,
        privateKey: first.seed!,
        signatureData: ed.map((k) => ({ signingDomain: domain, selector: k.selector, privateKey: k.seed!, algorithm: 'ed25519-sha256' })),
      });
      if (result.errors.length > 0) throw new Error(`DKIM signing failed for ${domain}`);
      out = Buffer.concat([Buffer.from(result.signatures), out]);
    }
    return out;
  }
}
