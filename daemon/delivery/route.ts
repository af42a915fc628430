// Where a recipient domain's mail goes: `delivery.routes` (the domain, else "*") first, like
// Postfix transport_maps; otherwise its MX records in preference order, the domain's own
// address when it has none (RFC 5321 §5.1), and a bounce for a null MX (RFC 7505).

import { Resolver } from 'node:dns/promises';
import { splitHostPort } from '../config/loader.js';

export type Route =
  | { kind: 'hosts'; hosts: Array<{ host: string; port: number }> }
  | { kind: 'bounce'; reason: string }
  | { kind: 'defer'; reason: string };

export class Router {
  constructor(
    private readonly routes: Record<string, string>,
    private readonly resolver: Pick<Resolver, 'resolveMx'> = new Resolver({ timeout: 5000, tries: 2 }),
  ) {}

  async route(domain: string): Promise<Route> {
    const fixed = this.routes[domain] ?? this.routes['*'];
    if (fixed) return { kind: 'hosts', hosts: [splitHostPort(fixed)] };
    try {
      const mx = await this.resolver.resolveMx(domain);
      if (mx.length === 1 && (mx[0]!.exchange === '' || mx[0]!.exchange === '.')) {
        return { kind: 'bounce', reason: '5.1.10 domain accepts no mail (null MX)' };
      }
      return { kind: 'hosts', hosts: mx.sort((a, b) => a.priority - b.priority).map((m) => ({ host: m.exchange, port: 25 })) };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ENODATA') return { kind: 'hosts', hosts: [{ host: domain, port: 25 }] };
      if (code === 'ENOTFOUND') return { kind: 'bounce', reason: `5.1.2 domain ${domain} does not exist` };
      return { kind: 'defer', reason: `4.4.3 DNS lookup for ${domain} failed (${code ?? 'error'})` };
    }
  }
}
