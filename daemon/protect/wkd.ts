// OpenPGP Web Key Directory lookup (draft-koch-openpgp-webkey-service): when enabled and a
// recipient has no key on file, ask https://openpgpkey.<domain>/.well-known/openpgpkey/
// <domain>/hu/<z-base-32 SHA-1 of the local part> (the advanced method), then the direct
// method on <domain> itself. The answer is validated like an imported key (and must carry a
// user ID for exactly this address) and stored, so the next message needs no lookup.
// Misses are remembered for an hour.
// Inputs: an address. Output: a stored key, or nothing.

import { createHash } from 'node:crypto';
import * as openpgp from 'openpgp';
import type { DnsClient } from '../delivery/dns.js';
import { httpsGetVerified } from '../delivery/https-fetch.js';
import type { KeyStore } from './keys.js';

const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';
const MISS_TTL_MS = 3_600_000;

/** z-base-32 (RFC 6189 §5.1.6), as WKD uses it for the hashed local part. */
export function zbase32(data: Buffer): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ZBASE32[(buffer << (5 - bits)) & 31];
  return out;
}

export function wkdHash(localPart: string): string {
  return zbase32(createHash('sha1').update(localPart.toLowerCase()).digest());
}

export class WkdLookup {
  private readonly misses = new Map<string, number>();

  constructor(private readonly deps: { dns: DnsClient; keys: KeyStore; port: number; extraCa?: string | undefined }) {}

  /** Finds, validates and stores a key for `address`; true when one was stored. */
  async fetch(address: string): Promise<boolean> {
    const email = address.toLowerCase();
    const missed = this.misses.get(email);
    if (missed && missed > Date.now()) return false;
    const at = email.lastIndexOf('@');
    const local = email.slice(0, at);
    const domain = email.slice(at + 1);
    const hu = `${wkdHash(local)}?l=${encodeURIComponent(local)}`;
    const tries = [
      { host: `openpgpkey.${domain}`, path: `/.well-known/openpgpkey/${domain}/hu/${hu}` },
      { host: domain, path: `/.well-known/openpgpkey/hu/${hu}` },
    ];
    for (const t of tries) {
      try {
        const body = await httpsGetVerified({ dns: this.deps.dns, host: t.host, port: this.deps.port, path: t.path, extraCa: this.deps.extraCa, maxBytes: 256 * 1024 });
        const key = await openpgp.readKey({ binaryKey: new Uint8Array(body) });
        await this.deps.keys.import(key.armor(), 'wkd', email); // validates: public, not expired or revoked, trial encryption, this address
        return true;
      } catch {
        // not published here (or not valid): the next method, then give up
      }
    }
    this.misses.set(email, Date.now() + MISS_TTL_MS);
    return false;
  }
}
