// One verified HTTPS GET for policy-like documents (MTA-STS policies, WKD keys): the host
// resolved through Sealpost's resolvers, the certificate verified against the system roots
// plus `delivery.tls.ca_file`, TLS 1.2+, no redirects (anything but 200 is an error), a size
// cap and a timeout.
// Inputs: host, port, path. Output: the body.

import { request } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { DnsClient } from './dns.js';

export interface FetchOptions {
  dns: Pick<DnsClient, 'address'>;
  host: string;
  port: number;
  path: string;
  extraCa?: string | undefined;
  maxBytes: number;
  timeoutMs?: number;
  /** Required Content-Type prefix, when the protocol demands one. */
  contentType?: RegExp;
}

export class FetchError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export async function httpsGetVerified(o: FetchOptions): Promise<Buffer> {
  const { address, family } = await o.dns.address(o.host);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: address,
        family,
        port: o.port,
        servername: o.host,
        headers: { host: o.host },
        path: o.path,
        method: 'GET',
        ca: [...rootCertificates, ...(o.extraCa ? [o.extraCa] : [])],
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        timeout: o.timeoutMs ?? 10_000,
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new FetchError(`answered ${res.statusCode}`, res.statusCode === 404 ? 'not_found' : 'http_status'));
        }
        if (o.contentType && !o.contentType.test(res.headers['content-type'] ?? '')) {
          res.resume();
          return reject(new FetchError(`unexpected content type ${res.headers['content-type'] ?? '(none)'}`, 'content_type'));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > o.maxBytes) req.destroy(new FetchError('response too large', 'too_large'));
          else chunks.push(c);
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new FetchError('timed out', 'timeout')));
    req.on('error', reject);
    req.end();
  });
}
