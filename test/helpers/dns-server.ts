// A small authoritative-and-validating stand-in DNS server for tests (dns-packet over UDP):
// answers from a zone table, and sets the AD bit for names in "signed" zones, as a local
// validating resolver (unbound) would for DNSSEC-secure answers.

import * as packet from 'dns-packet';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export type RecordSet = { type: 'A'; data: string } | { type: 'MX'; data: { preference: number; exchange: string } } | { type: 'TXT'; data: string } | { type: 'TLSA'; data: { usage: number; selector: number; matchingType: number; certificate: Buffer } };

export class TestDns {
  private socket: Socket | null = null;
  port = 0;
  readonly records = new Map<string, RecordSet[]>();
  /** Names under these suffixes are answered with AD=1. */
  readonly signed = new Set<string>();
  queries: Array<{ name: string; type: string }> = [];

  add(name: string, ...sets: RecordSet[]): void {
    const key = name.toLowerCase();
    this.records.set(key, [...(this.records.get(key) ?? []), ...sets]);
  }

  private isSigned(name: string): boolean {
    return [...this.signed].some((z) => name === z || name.endsWith(`.${z}`));
  }

  async start(): Promise<void> {
    const socket = (this.socket = createSocket('udp4'));
    socket.on('message', (msg, rinfo) => {
      let q: packet.DecodedPacket;
      try {
        q = packet.decode(msg);
      } catch {
        return;
      }
      const question = q.questions?.[0];
      if (!question) return;
      const name = question.name.toLowerCase().replace(/\.$/, '');
      this.queries.push({ name, type: question.type });
      const known = this.records.get(name);
      const answers = (known ?? []).filter((r) => r.type === question.type).map((r) => ({ type: r.type, name: question.name, ttl: 60, class: 'IN', data: r.data }) as packet.Answer);
      const nameExists = known !== undefined || [...this.records.keys()].some((k) => k.endsWith(`.${name}`));
      const flags = packet.RECURSION_AVAILABLE | packet.RECURSION_DESIRED | (this.isSigned(name) ? packet.AUTHENTIC_DATA : 0) | (nameExists ? 0 : 3); // rcode 3 = NXDOMAIN
      const reply = packet.encode({ type: 'response', id: q.id, flags, questions: q.questions, answers });
      socket.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((res) => socket.bind(0, '127.0.0.1', () => res()));
    this.port = (socket.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((res) => (this.socket ? this.socket.close(() => res()) : res()));
  }
}
