// S/MIME envelopes as `openssl cms` sees them: both key transports (RSA PKCS #1 v1.5, the
// default, and RSAES-OAEP) decrypt to the original inner entity; a fresh content key each
// time; the clear text appears nowhere in the envelope.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { smimeEnvelope } from '../../daemon/protect/encrypt.js';

const MESSAGE = Buffer.from(
  'From: doc@clinic.test\r\nTo: sam@smime.test\r\nSubject: Results\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMARKER-CMS Patient SSN 219-45-6789\r\n',
);

describe('S/MIME envelope', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-smime-'));
  let cert = '';
  before(() => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=Sam', '-addext', 'subjectAltName=email:sam@smime.test'], { stdio: 'ignore' });
    cert = readFileSync(join(dir, 'c.pem'), 'utf8');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const openssl = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });

  for (const [transport, printed] of [
    ['rsa-pkcs1', /algorithm: rsaEncryption/],
    ['rsa-oaep', /algorithm: rsaesOaep/],
  ] as const) {
    it(`${transport}: openssl cms decrypts the inner entity; the outer headers stay readable`, async () => {
      const env = await smimeEnvelope(MESSAGE, cert, transport);
      const file = join(dir, `${transport}.eml`);
      writeFileSync(file, env);
      assert.doesNotMatch(env.toString(), /MARKER-CMS|219-45-6789/);
      assert.match(env.toString(), /^Subject: Results$/m);
      const clear = openssl(['cms', '-decrypt', '-in', file, '-recip', join(dir, 'c.pem'), '-inkey', join(dir, 'k.pem')]);
      assert.match(clear, /^Content-Type: text\/plain; charset=utf-8\r?$/m);
      assert.match(clear, /MARKER-CMS Patient SSN 219-45-6789/);
      assert.match(openssl(['cms', '-cmsout', '-print', '-in', file]), printed);
    });
  }

  it('uses a fresh content key and IV for every envelope', async () => {
    const a = await smimeEnvelope(MESSAGE, cert);
    const b = await smimeEnvelope(MESSAGE, cert);
    const body = (m: Buffer) => m.toString().split('\r\n\r\n').slice(1).join('');
    assert.notEqual(body(a), body(b));
  });
});
