// The TLS identity for SMTP submission and the portal: the configured PEM pair, or on first
// start a generated self-signed certificate (ECDSA P-256, one year, SAN = hostname,
// localhost, 127.0.0.1) kept under data_dir/tls with the key 0600.
// Side effects: writes the generated pair once.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface TlsIdentity {
  key: string;
  cert: string;
  notAfter: Date;
  generated: boolean;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}

export async function generateSelfSigned(hostname: string): Promise<{ key: string; cert: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(12).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=${hostname}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 86_400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: hostname },
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { key: pem('PRIVATE KEY', pkcs8), cert: cert.toString('pem') + '\n' };
}

export async function loadTlsIdentity(opts: { certPath: string; keyPath: string; dataDir: string; hostname: string }): Promise<TlsIdentity> {
  let generated = false;
  let certPath = opts.certPath;
  let keyPath = opts.keyPath;
  if (certPath === '') {
    const dir = join(opts.dataDir, 'tls');
    certPath = join(dir, 'selfsigned.crt');
    keyPath = join(dir, 'selfsigned.key');
    generated = true;
    if (!existsSync(certPath) || !existsSync(keyPath)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const pair = await generateSelfSigned(opts.hostname);
      writeFileSync(keyPath, pair.key, { mode: 0o600 });
      writeFileSync(certPath, pair.cert, { mode: 0o644 });
    }
  }
  const cert = readFileSync(certPath, 'utf8');
  const key = readFileSync(keyPath, 'utf8');
  const parsed = new X509Certificate(cert);
  if (!parsed.checkPrivateKey(createPrivateKey(key))) {
    throw new Error(`TLS key ${keyPath} does not belong to certificate ${certPath}`);
  }
  return { key, cert, notAfter: new Date(parsed.validTo), generated };
}
