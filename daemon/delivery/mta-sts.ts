// MTA-STS (RFC 8461): a domain's published promise that its MXes do verifiable TLS.
// The TXT record `_mta-sts.<domain>` names a policy id; the policy is fetched from
// https://mta-sts.<domain>/.well-known/mta-sts.txt with a verified certificate, no
// redirects, a size cap and a timeout, parsed by mailauth, and cached (in the database,
// so a restart does not forget an enforced policy) until its max_age. A policy fetch that
// fails keeps using the cached policy (§5.1), so an attacker cannot strip it by blocking HTTPS.
// Inputs: DNS, HTTPS. Outputs: the policy in force for a domain.

import { parsePolicy } from 'mailauth/lib/mta-sts.js';
import type { Db } from '../store/db.js';
import type { DnsClient } from './dns.js';
import { httpsGetVerified } from './https-fetch.js';

export interface StsPolicy {
  id: string;
  mode: 'enforce' | 'testing' | 'none';
  mx: string[];
  maxAge: number;
  fetchedAt: number;
}

export interface StsLookup {
  policy: StsPolicy | null;
  /** RFC 8460 result type when the policy could not be fetched and nothing was cached. */
  failure: string | null;
}

const MAX_POLICY_BYTES = 64 * 1024;
const FETCH_TIMEOUT_MS = 10_000;

/** RFC 8461 §4.1: the MX host matches a policy "mx" pattern (a "*." wildcard covers one label). */
export function mxMatchesPolicy(mx: string, patterns: string[]): boolean {
  const host = mx.toLowerCase().replace(/\.$/, '');
  return patterns.some((p) => {
    const pattern = p.toLowerCase();
    if (pattern.startsWith('*.')) {
      const rest = host.slice(host.indexOf('.') + 1);
      return host.includes('.') && rest === pattern.slice(2);
    }
    return host === pattern;
  });
}

export class MtaStsResolver {
  constructor(private readonly deps: { db: Db; dns: DnsClient; port: number; extraCa?: string }) {}

  private cached(domain: string): StsPolicy | null {
    const row = this.deps.db.prepare('SELECT policy_id, mode, mx, max_age, fetched_at FROM mta_sts_policies WHERE domain = ?').get(domain) as
      | { policy_id: string; mode: StsPolicy['mode']; mx: string; max_age: number; fetched_at: number }
      | undefined;
    if (!row) return null;
    const policy = { id: row.policy_id, mode: row.mode, mx: JSON.parse(row.mx) as string[], maxAge: row.max_age, fetchedAt: row.fetched_at };
    return Date.now() < policy.fetchedAt + policy.maxAge * 1000 ? policy : null;
  }

  private store(domain: string, p: StsPolicy): void {
    this.deps.db
      .prepare('INSERT OR REPLACE INTO mta_sts_policies (domain, policy_id, mode, mx, max_age, fetched_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(domain, p.id, p.mode, JSON.stringify(p.mx), p.maxAge, p.fetchedAt);
  }

  async lookup(domain: string): Promise<StsLookup> {
    const cached = this.cached(domain);
    let id: string | null = null;
    try {
      const txt = (await this.deps.dns.resolveTxt(`_mta-sts.${domain}`)).filter((t) => /^v=STSv1\s*(;|$)/.test(t));
      if (txt.length === 1) id = /(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(;|$)/.exec(txt[0]!)?.[1] ?? null;
    } catch {
      return { policy: cached, failure: null }; // DNS trouble: the cache decides
    }
    if (!id) return { policy: cached, failure: null };
    if (cached && cached.id === id) return { policy: cached, failure: null };
    try {
      const body = await this.fetchPolicy(domain);
      const parsed = parsePolicy(body) as { mode: StsPolicy['mode']; mx?: string[]; maxAge: number };
      const policy: StsPolicy = { id, mode: parsed.mode, mx: parsed.mx ?? [], maxAge: parsed.maxAge, fetchedAt: Date.now() };
      this.store(domain, policy);
      return { policy, failure: null };
    } catch (error) {
      if (cached) return { policy: cached, failure: null };
      const code = (error as { code?: string }).code ?? '';
      return { policy: null, failure: /invalid_sts/.test(code) ? 'sts-policy-invalid' : 'sts-policy-fetch-error' };
    }
  }

  private async fetchPolicy(domain: string): Promise<string> {
    // RFC 8461 §3.3: 200 only, no redirects, text/plain
    const body = await httpsGetVerified({
      dns: this.deps.dns,
      host: `mta-sts.${domain}`,
      port: this.deps.port,
      path: '/.well-known/mta-sts.txt',
      extraCa: this.deps.extraCa,
      maxBytes: MAX_POLICY_BYTES,
      timeoutMs: FETCH_TIMEOUT_MS,
      contentType: /^text\/plain\b/i,
    });
    return body.toString('utf8');
  }
}
