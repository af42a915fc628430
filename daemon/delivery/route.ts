// Where a recipient domain's mail goes and how its TLS must be checked.
// `delivery.routes` (the domain, else "*") first, like Postfix transport_maps (TLS required,
// certificate not); otherwise its MX records in preference order, the domain's own address
// when it has none (RFC 5321 §5.1), and a bounce for a null MX (RFC 7505). For MX delivery,
// DANE TLSA records (only DNSSEC-validated ones, and only under a validated MX answer)
// bind each MX's certificate; else an
// MTA-STS policy in enforce mode limits the MXes to its list and requires a valid
// certificate. Neither ever lowers the bar below "TLS required".

import type { DnsClient } from './dns.js';
import { mxMatchesPolicy, type MtaStsResolver } from './mta-sts.js';
import type { CertCheck } from './transport.js';
import { splitHostPort } from '../config/loader.js';

export interface RouteHost {
  /** What to connect to: an address, or a name the system resolves (fixed routes). */
  host: string;
  /** The MX name: TLS server name and certificate identity. */
  name: string;
  port: number;
  check: CertCheck;
}

export interface RouteFacts {
  /** MTA-STS mode in force ("enforce", "testing") or null. */
  mtaSts: string | null;
  /** "validated" when any MX has DNSSEC-validated TLSA records, "insecure" when TLSA came unvalidated, null when none. */
  dane: string | null;
}

export type Route =
  | { kind: 'hosts'; hosts: RouteHost[]; facts: RouteFacts }
  | { kind: 'bounce'; reason: string }
  | { kind: 'defer'; reason: string; tlsFailure?: string };

const ROUTE_TTL_MS = 60_000;

export class Router {
  /** MX routes (with their TLS requirements) per domain for a minute: no DNS round trips per message. */
  private readonly cache = new Map<string, { at: number; route: Route }>();

  constructor(
    private readonly deps: {
      routes: Record<string, string>;
      dns: Pick<DnsClient, 'resolveMx' | 'tlsa' | 'address' | 'mxAuthenticated'>;
      mxPort: number;
      mtaSts: Pick<MtaStsResolver, 'lookup'> | null;
      dane: boolean;
    },
  ) {}

  async route(domain: string): Promise<Route> {
    const hit = this.cache.get(domain);
    if (hit && Date.now() - hit.at < ROUTE_TTL_MS) return hit.route;
    const route = await this.resolve(domain);
    // only answers worth keeping: a DNS failure is asked again next time
    if (route.kind !== 'defer') {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(domain, { at: Date.now(), route });
    }
    return route;
  }

  private async resolve(domain: string): Promise<Route> {
    const fixed = this.deps.routes[domain] ?? this.deps.routes['*'];
    if (fixed) {
      const { host, port } = splitHostPort(fixed);
      return { kind: 'hosts', hosts: [{ host, name: host, port, check: { kind: 'none' } }], facts: { mtaSts: null, dane: null } };
    }
    let names: string[];
    let implicitMx = false;
    try {
      const mx = await this.deps.dns.resolveMx(domain);
      if (mx.length === 1 && (mx[0]!.exchange === '' || mx[0]!.exchange === '.')) {
        return { kind: 'bounce', reason: '5.1.10 domain accepts no mail (null MX)' };
      }
      names = mx.sort((a, b) => a.priority - b.priority).map((m) => m.exchange.replace(/\.$/, ''));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ENODATA') {
        names = [domain];
        implicitMx = true;
      }
      else if (code === 'ENOTFOUND') return { kind: 'bounce', reason: `5.1.2 domain ${domain} does not exist` };
      else return { kind: 'defer', reason: `4.4.3 DNS lookup for ${domain} failed (${code ?? 'error'})` };
    }

    const facts: RouteFacts = { mtaSts: null, dane: null };
    let stsHosts: Set<string> | null = null;
    if (this.deps.mtaSts) {
      const sts = await this.deps.mtaSts.lookup(domain);
      if (sts.policy && sts.policy.mode !== 'none') facts.mtaSts = sts.policy.mode;
      if (sts.policy?.mode === 'enforce') stsHosts = new Set(names.filter((n) => mxMatchesPolicy(n, sts.policy!.mx)));
    }

    const hosts: RouteHost[] = [];
    let daneTrouble = false;
    // DANE only where the MX answer itself is validated (with no MX, the domain is its own host)
    const daneApplies = this.deps.dane && (implicitMx || (await this.deps.dns.mxAuthenticated(domain)));
    for (const name of names) {
      let check: CertCheck | null = null;
      if (this.deps.dane) {
        try {
          const tlsa = await this.deps.dns.tlsa(`_${this.deps.mxPort}._tcp.${name}`);
          if (tlsa.records.length > 0) {
            if (daneApplies && tlsa.authenticated) {
              facts.dane = 'validated';
              check = { kind: 'dane', records: tlsa.records, hostname: name };
            } else facts.dane ??= 'insecure'; // published, but not usable: recorded, never enforced
          }
        } catch {
          // a failed TLSA lookup makes this MX unusable (RFC 7672 §2.2.1), never unauthenticated
          if (daneApplies) {
            daneTrouble = true;
            continue;
          }
        }
      }
      if (!check && stsHosts) {
        if (!stsHosts.has(name)) continue; // not allowed by the enforced policy
        check = { kind: 'pkix', hostname: name };
      }
      let address: string;
      try {
        address = (await this.deps.dns.address(name)).address;
      } catch {
        continue; // an MX without an address: the next one
      }
      hosts.push({ host: address, name, port: this.deps.mxPort, check: check ?? { kind: 'none' } });
    }
    if (hosts.length === 0 && !daneTrouble && !stsHosts) return { kind: 'defer', reason: `4.4.4 no MX host of ${domain} has an address` };
    if (hosts.length === 0) {
      if (daneTrouble) return { kind: 'defer', reason: `4.7.5 TLSA lookup failed for every MX of ${domain}`, tlsFailure: 'dnssec-invalid' };
      return { kind: 'defer', reason: `4.7.5 no MX of ${domain} matches its MTA-STS policy`, tlsFailure: 'validation-failure' };
    }
    return { kind: 'hosts', hosts, facts };
  }
}
