// DNS for delivery: MX/A/AAAA/TXT through Node's resolver, and TLSA through dns-packet so
// that the resolver's DNSSEC verdict (the AD bit) can be read: Node's own resolveTlsa does
// not expose it, and DANE must only trust validated answers (RFC 7672 §2.2). Like Postfix,
// Sealpost trusts the AD bit of the resolvers it is configured with (a local validating
// resolver such as unbound on 127.0.0.1).
// Inputs: `delivery.dns.servers`. Outputs: records. Side effects: UDP/TCP to the resolvers.

import * as packet from 'dns-packet';
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';

export interface Tlsa {
  usage: number;
  selector: number;
  matchingType: number;
  data: Buffer;
}

export interface TlsaAnswer {
  /** The resolver said the answer is DNSSEC-validated (AD bit). */
  authenticated: boolean;
  records: Tlsa[];
  /** NXDOMAIN / NODATA: no TLSA published. */
  none: boolean;
}

const TIMEOUT_MS = 5000;

function splitServer(s: string): { host: string; port: number } {
  const bracket = /^\[(.+)\]:(\d+)$/.exec(s);
  if (bracket) return { host: bracket[1]!, port: Number(bracket[2]) };
  const v4 = /^([0-9.]+):(\d+)$/.exec(s);
  if (v4) return { host: v4[1]!, port: Number(v4[2]) };
  return { host: s, port: 53 };
}

export class DnsClient {
  readonly resolver: Resolver;
  private readonly servers: Array<{ host: string; port: number }>;

  constructor(servers: string[]) {
    this.resolver = new Resolver({ timeout: TIMEOUT_MS, tries: 2 });
    if (servers.length > 0) this.resolver.setServers(servers.map((s) => { const { host, port } = splitServer(s); return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`; }));
    this.servers = this.resolver.getServers().map(splitServer);
  }

  resolveMx(domain: string) {
    return this.resolver.resolveMx(domain);
  }

  async resolveTxt(name: string): Promise<string[]> {
    try {
      return (await this.resolver.resolveTxt(name)).map((chunks) => chunks.join(''));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
      throw error;
    }
  }

  /** First address of a host (A, then AAAA), for connecting to policy hosts through our resolvers. */
  async address(host: string): Promise<{ address: string; family: 4 | 6 }> {
    try {
      const a = await this.resolver.resolve4(host);
      if (a[0]) return { address: a[0], family: 4 };
    } catch {
      // fall through to AAAA
    }
    const aaaa = await this.resolver.resolve6(host);
    if (!aaaa[0]) throw Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' });
    return { address: aaaa[0], family: 6 };
  }

  /** One query with the DO bit, to read the validating resolver's verdict (the AD bit). */
  private async dnssecQuery(name: string, type: 'TLSA' | 'MX'): Promise<{ response: packet.DecodedPacket; rcode: string }> {
    const server = this.servers[0];
    if (!server) throw new Error('no DNS server configured');
    const query: packet.Packet = {
      type: 'query',
      id: randomInt(0, 65536),
      flags: packet.RECURSION_DESIRED | packet.AUTHENTIC_DATA,
      questions: [{ type, name }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: packet.DNSSEC_OK } as packet.Answer],
    };
    let response = await udpQuery(server, query);
    if (response.flag_tc) response = await tcpQuery(server, query);
    return { response, rcode: (response as unknown as { rcode?: string }).rcode ?? 'NOERROR' };
  }

  /**
   * Whether the domain's MX RRset is DNSSEC-validated. DANE applies only then (RFC 7672
   * §2.2.1): from an insecure MX answer an attacker could name his own host, TLSA and all.
   * Any lookup trouble counts as "not validated".
   */
  async mxAuthenticated(domain: string): Promise<boolean> {
    try {
      const { response, rcode } = await this.dnssecQuery(domain, 'MX');
      return rcode === 'NOERROR' && response.flag_ad;
    } catch {
      return false;
    }
  }

  /** TLSA records with the resolver's DNSSEC verdict. Throws on a resolver failure (SERVFAIL, timeout). */
  async tlsa(name: string): Promise<TlsaAnswer> {
    const { response, rcode } = await this.dnssecQuery(name, 'TLSA');
    if (rcode === 'NXDOMAIN') return { authenticated: response.flag_ad, records: [], none: true };
    if (rcode !== 'NOERROR') throw Object.assign(new Error(`TLSA lookup for ${name}: ${rcode}`), { code: rcode });
    const records = (response.answers ?? [])
      .filter((a): a is packet.TlsaAnswer => a.type === 'TLSA')
      .map((a) => ({ usage: a.data.usage, selector: a.data.selector, matchingType: a.data.matchingType, data: Buffer.from(a.data.certificate) }));
    return { authenticated: response.flag_ad, records, none: records.length === 0 };
  }
}

function udpQuery(server: { host: string; port: number }, query: packet.Packet): Promise<packet.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(server.host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(Object.assign(new Error('DNS query timed out'), { code: 'ETIMEOUT' }));
    }, TIMEOUT_MS);
    socket.on('message', (msg) => {
      try {
        const decoded = packet.decode(msg);
        if (decoded.id !== query.id) return; // not ours
        clearTimeout(timer);
        socket.close();
        resolve(decoded);
      } catch {
        // a malformed datagram: keep waiting for ours
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
    socket.send(packet.encode(query), server.port, server.host);
  });
}

function tcpQuery(server: { host: string; port: number }, query: packet.Packet): Promise<packet.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    const chunks: Buffer[] = [];
    socket.setTimeout(TIMEOUT_MS, () => socket.destroy(Object.assign(new Error('DNS query timed out'), { code: 'ETIMEOUT' })));
    socket.on('connect', () => socket.write(packet.streamEncode(query)));
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= 2 && all.length >= 2 + all.readUInt16BE(0)) {
        socket.end();
        try {
          resolve(packet.decode(all.subarray(2, 2 + all.readUInt16BE(0))));
        } catch (err) {
          reject(err as Error);
        }
      }
    });
    socket.on('error', reject);
  });
}
