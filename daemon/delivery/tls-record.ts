// The recipient-domain TLS record: what real deliveries taught us about each domain's MX
// (STARTTLS offered, protocol, cipher, certificate validity, MTA-STS and DANE status, last
// result). A domain that had TLS and then loses it, drops to an older protocol or starts
// presenting an invalid certificate is flagged as degraded (audited, logged) until it
// recovers. Policy (the protection issue) reads this record; operators see it through the
// control API.
// Inputs: delivery outcomes. Outputs: rows, TlsDomainRecord views.

import type { TlsDomainRecord } from '../../shared/domain.js';
import type { UnitContext } from '../store/committer.js';
import type { Db } from '../store/db.js';

export interface TlsObservation {
  domain: string;
  /** null when the failure came before any connection (DNS, policy). */
  starttls: boolean | null;
  version: string | null;
  cipher: string | null;
  certValid: boolean | null;
  mtaSts: string | null;
  dane: string | null;
  /** "success" or an RFC 8460 result type. */
  result: string;
}

interface Row {
  domain: string;
  starttls: number | null;
  tls_version: string | null;
  tls_cipher: string | null;
  cert_valid: number | null;
  mta_sts: string | null;
  dane: string | null;
  last_result: string;
  last_seen: number;
  last_ok_at: number | null;
  degraded: number;
  degraded_reason: string | null;
}

const VERSION_RANK: Record<string, number> = { 'TLSv1.2': 2, 'TLSv1.3': 3 };

/** Why `now` is worse than `before`, or null. */
export function degradation(before: Row | undefined, now: TlsObservation): string | null {
  if (!before || before.starttls !== 1) return null;
  if (now.starttls === false) return 'STARTTLS no longer offered';
  if (now.result !== 'success') return `TLS failure: ${now.result}`;
  if (before.tls_version && now.version && (VERSION_RANK[now.version] ?? 0) < (VERSION_RANK[before.tls_version] ?? 0)) {
    return `protocol dropped from ${before.tls_version} to ${now.version}`;
  }
  if (before.cert_valid === 1 && now.certValid === false) return 'certificate no longer valid';
  return null;
}

const bool = (n: number | null) => (n === null ? null : n === 1);
const iso = (n: number | null) => (n === null ? null : new Date(n).toISOString());

export class TlsRecord {
  private readonly select;
  private readonly upsert;

  constructor(private readonly db: Db) {
    this.select = db.prepare('SELECT * FROM tls_domains WHERE domain = ?');
    this.upsert = db.prepare(
      `INSERT INTO tls_domains (domain, starttls, tls_version, tls_cipher, cert_valid, mta_sts, dane, last_result, last_seen, last_ok_at, degraded, degraded_reason)
       VALUES (@domain, @starttls, @version, @cipher, @cert, @sts, @dane, @result, @now, @okAt, @degraded, @reason)
       ON CONFLICT(domain) DO UPDATE SET starttls = coalesce(@starttls, starttls), tls_version = coalesce(@version, tls_version), tls_cipher = coalesce(@cipher, tls_cipher),
         cert_valid = coalesce(@cert, cert_valid), mta_sts = @sts, dane = @dane, last_result = @result, last_seen = @now,
         last_ok_at = coalesce(@okAt, last_ok_at), degraded = @degraded, degraded_reason = @reason`,
    );
  }

  private get(domain: string): Row | undefined {
    return this.select.get(domain) as Row | undefined;
  }

  /** Inside a unit: records an observation; returns the degradation reason when it just degraded. */
  observe(o: TlsObservation, ctx: UnitContext): string | null {
    const before = this.get(o.domain);
    const now = Date.now();
    const worse = degradation(before, o);
    const ok = o.starttls === true && o.result === 'success';
    // a degraded flag stays until a success that is at least as good as before
    const degraded = worse !== null || (before?.degraded === 1 && !ok);
    const reason = worse ?? (degraded ? (before?.degraded_reason ?? null) : null);
    this.upsert
      .run({
        domain: o.domain,
        starttls: o.starttls === null ? null : o.starttls ? 1 : 0,
        version: o.version,
        cipher: o.cipher,
        cert: o.certValid === null ? null : o.certValid ? 1 : 0,
        sts: o.mtaSts,
        dane: o.dane,
        result: o.result,
        now,
        okAt: ok ? now : null,
        degraded: degraded ? 1 : 0,
        reason,
      });
    if (worse && before?.degraded !== 1) {
      ctx.audit({ actor: 'delivery', action: 'tls.degraded', subject: o.domain, detail: { reason: worse, result: o.result } });
      return worse;
    }
    if (!degraded && before?.degraded === 1) ctx.audit({ actor: 'delivery', action: 'tls.recovered', subject: o.domain, detail: { tls_version: o.version } });
    return null;
  }

  list(domain?: string): TlsDomainRecord[] {
    const rows = (domain ? this.db.prepare('SELECT * FROM tls_domains WHERE domain = ?').all(domain.toLowerCase()) : this.db.prepare('SELECT * FROM tls_domains ORDER BY degraded DESC, domain').all()) as Row[];
    return rows.map((r) => ({
      domain: r.domain,
      starttls: bool(r.starttls),
      tls_version: r.tls_version,
      tls_cipher: r.tls_cipher,
      cert_valid: bool(r.cert_valid),
      mta_sts: r.mta_sts,
      dane: r.dane,
      last_result: r.last_result,
      last_seen: new Date(r.last_seen).toISOString(),
      last_ok_at: iso(r.last_ok_at),
      degraded: r.degraded === 1,
      degraded_reason: r.degraded_reason,
    }));
  }
}
