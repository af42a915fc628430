// DANE for SMTP (RFC 7672): does the certificate chain an MX presented match its validated
// TLSA records? DANE-EE(3) matches the leaf, DANE-TA(2) any certificate the server sent.
// PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC 7672 §3.1.3); when every record is
// unusable, TLS is still required but not authenticated.
// Inputs: TLSA records, the peer's DER certificates. Output: a verdict.

import { createHash, X509Certificate } from 'node:crypto';
import type { Tlsa } from './dns.js';

export type DaneVerdict = { result: 'match'; usage: number } | { result: 'mismatch' } | { result: 'unusable' };

function selected(der: Buffer, selector: number): Buffer | null {
  if (selector === 0) return der;
  if (selector === 1) return new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
  return null;
}

function matches(record: Tlsa, der: Buffer): boolean {
  const content = selected(der, record.selector);
  if (!content) return false;
  if (record.matchingType === 0) return content.equals(record.data);
  if (record.matchingType === 1) return createHash('sha256').update(content).digest().equals(record.data);
  if (record.matchingType === 2) return createHash('sha512').update(content).digest().equals(record.data);
  return false;
}

/** `chain[0]` is the leaf; the rest are what the server sent with it. */
export function checkDane(records: Tlsa[], chain: Buffer[]): DaneVerdict {
  const usable = records.filter((r) => (r.usage === 3 || r.usage === 2) && r.selector <= 1 && r.matchingType <= 2);
  if (usable.length === 0) return { result: 'unusable' };
  for (const r of usable) {
    const candidates = r.usage === 3 ? chain.slice(0, 1) : chain.slice(1);
    if (candidates.some((der) => matches(r, der))) return { result: 'match', usage: r.usage };
  }
  return { result: 'mismatch' };
}
