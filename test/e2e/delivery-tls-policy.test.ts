// MTA-STS and DANE, against a local DNS server (with the AD bit for "signed" zones), a
// local HTTPS policy server and real SMTP servers on several loopback addresses sharing
// one MX port. Enforced MTA-STS needs a valid certificate for a listed MX; validated DANE
// TLSA records must match the certificate; a mismatch defers and nothing is sent; TLSA
// records without DNSSEC are ignored (TLS still required, certificate not). And WKD: a
// recipient whose MX lacks STARTTLS gets PGP/MIME with the key its domain publishes.

import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import * as openpgp from 'openpgp';
import { wkdHash } from '../../daemon/protect/wkd.js';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { QueueDetail, TlsDomainRecord } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { TestDns } from '../helpers/dns-server.js';
import { TestCa } from '../helpers/pki.js';
import { startSink, type Sink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';

const POLICIES: Record<string, string> = {
  'sts.test': 'mx.sts.test',
  'stsbad.test': 'mx.stsbad.test',
  'stsmx.test': 'mx.listed.stsmx.test',
};

function spkiSha256(certPem: string): Buffer {
  return createHash('sha256').update(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' })).digest();
}

describe('delivery TLS policy (MTA-STS, DANE)', () => {
  const ca = new TestCa();
  const dns = new TestDns();
  const sinks: Record<string, Sink> = {};
  let policyServer: Server;
  let d: TestDaemon;
  let pass = '';
  let wkdKey: { publicKey: openpgp.Key; privateKey: openpgp.PrivateKey };

  before(async () => {
    const generated = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'pat@wkd.test' }], format: 'object' });
    wkdKey = { publicKey: generated.publicKey, privateKey: generated.privateKey };
    // MX servers: one loopback address each, all on the same port (delivery.mx_port)
    const plan: Array<[string, string, 'ca' | 'self']> = [
      ['sts', '127.0.0.2', 'ca'],
      ['stsbad', '127.0.0.3', 'self'],
      ['dane', '127.0.0.4', 'self'],
      ['danebad', '127.0.0.5', 'self'],
      ['daneinsecure', '127.0.0.6', 'self'],
      ['wkd', '127.0.0.7', 'self'],
    ];
    let port = 0;
    const certs: Record<string, string> = {};
    for (const [name, ip, kind] of plan) {
      const pem = ca.issue(`mx.${name}.test`, { selfSigned: kind === 'self' });
      certs[name] = pem.cert;
      sinks[name] = await startSink({ starttls: name !== 'wkd', tls: pem, host: ip, port });
      port = sinks[name]!.port;
      dns.add(`${name}.test`, { type: 'MX', data: { preference: 10, exchange: `mx.${name}.test` } });
      dns.add(`mx.${name}.test`, { type: 'A', data: ip });
    }
    // mxinsecure.test: an unsigned zone whose MX names a host with (mismatching) validated TLSA
    dns.add('mxinsecure.test', { type: 'MX', data: { preference: 10, exchange: 'mx.danebad.test' } });
    // stsmx.test's MX is not the one its policy lists
    dns.add('stsmx.test', { type: 'MX', data: { preference: 10, exchange: 'mx.sts.test' } });

    // MTA-STS: TXT records and a policy server with a CA-issued certificate
    const policyPem = ca.issue([...Object.keys(POLICIES).map((p) => `mta-sts.${p}`), 'openpgpkey.wkd.test']);
    const wkdPath = `/.well-known/openpgpkey/wkd.test/hu/${wkdHash('pat')}?l=pat`;
    policyServer = createServer({ key: policyPem.key, cert: policyPem.cert }, (req, res) => {
      if (req.headers.host?.startsWith('openpgpkey.wkd.test')) {
        if (req.url !== wkdPath) return void res.writeHead(404).end();
        return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from(wkdKey.publicKey.write()));
      }
      const domain = (req.headers.host ?? '').replace(/^mta-sts\./, '').replace(/:\d+$/, '');
      const mx = POLICIES[domain];
      if (req.url !== '/.well-known/mta-sts.txt' || !mx) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`version: STSv1\r\nmode: enforce\r\nmx: ${mx}\r\nmax_age: 86400\r\n`);
    });
    await new Promise<void>((res) => policyServer.listen(0, '127.0.0.10', () => res()));
    dns.add('openpgpkey.wkd.test', { type: 'A', data: '127.0.0.10' });
    for (const domain of Object.keys(POLICIES)) {
      dns.add(`_mta-sts.${domain}`, { type: 'TXT', data: 'v=STSv1; id=20261203' });
      dns.add(`mta-sts.${domain}`, { type: 'A', data: '127.0.0.10' });
    }

    // DANE: dane.test and danebad.test are "signed"; daneinsecure.test is not
    dns.signed.add('dane.test');
    dns.signed.add('danebad.test');
    const tlsa = (name: string, hash: Buffer) => dns.add(`_${port}._tcp.mx.${name}.test`, { type: 'TLSA', data: { usage: 3, selector: 1, matchingType: 1, certificate: hash } });
    tlsa('dane', spkiSha256(certs.dane!));
    tlsa('danebad', createHash('sha256').update('not this key').digest());
    tlsa('daneinsecure', createHash('sha256').update('not this key either').digest());
    await dns.start();

    d = new TestDaemon({
      deliveryToml: [
        'paused = false',
        `mx_port = ${port}`,
        '[delivery.dns]',
        `servers = ["127.0.0.1:${dns.port}"]`,
        '[delivery.mta_sts]',
        `port = ${(policyServer.address() as AddressInfo).port}`,
        '[delivery.tls]',
        `ca_file = "${ca.caPath}"`,
      ].join('\n'),
      extraToml: ['[keys]', 'wkd = true', `wkd_port = ${(policyServer.address() as AddressInfo).port}`].join('\n'),
    });
    await d.start();
    pass = await d.addApp('ehr');
  });
  after(async () => {
    await d.cleanup();
    await Promise.all(Object.values(sinks).map((s) => s.close()));
    await new Promise((res) => policyServer.close(res));
    await dns.stop();
    ca.cleanup();
  });

  const send = async (to: string) =>
    (await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({ from: 'doc@clinic.test', to, subject: 'Hello', text: 'policy test' })).response.split(' ').pop()!;
  const settled = (id: string, state: string) => d.settled(id, state);
  const record = async (domain: string) => (await d.cliJson<TlsDomainRecord[]>(['tls', '--domain', domain]))[0];

  it('MTA-STS enforce: delivers to the listed MX with a valid certificate', async () => {
    const detail = await settled(await send('a@sts.test'), 'delivered');
    assert.equal(detail.recipient_rows[0]!.history[0]!.tls_verified, 'mta-sts');
    assert.equal(sinks.sts!.received.length, 1);
    const r = await record('sts.test');
    assert.equal(r?.mta_sts, 'enforce');
    assert.equal(r?.cert_valid, true);
  });

  it('MTA-STS enforce: an untrusted certificate defers and nothing is sent', async () => {
    const detail = await settled(await send('a@stsbad.test'), 'deferred');
    assert.match(detail.recipient_rows[0]!.last_error ?? '', /certificate-not-trusted/);
    assert.equal(sinks.stsbad!.received.length, 0);
    assert.equal((await record('stsbad.test'))?.last_result, 'certificate-not-trusted');
  });

  it('MTA-STS enforce: an MX the policy does not list is not used', async () => {
    const before = sinks.sts!.received.length;
    const detail = await settled(await send('a@stsmx.test'), 'deferred');
    assert.match(detail.recipient_rows[0]!.last_error ?? '', /MTA-STS/);
    assert.equal(sinks.sts!.received.length, before, 'the unlisted MX received nothing');
  });

  it('DANE: a validated TLSA record matching the certificate authenticates a self-signed MX', async () => {
    const detail = await settled(await send('a@dane.test'), 'delivered');
    assert.equal(detail.recipient_rows[0]!.history[0]!.tls_verified, 'dane');
    assert.equal((await record('dane.test'))?.dane, 'verified');
  });

  it('DANE: a validated TLSA mismatch defers, never downgrades', async () => {
    const detail = await settled(await send('a@danebad.test'), 'deferred');
    assert.match(detail.recipient_rows[0]!.last_error ?? '', /tlsa-invalid/);
    assert.equal(sinks.danebad!.received.length, 0);
  });

  it('DANE: TLSA records without DNSSEC validation are ignored (TLS still required)', async () => {
    const detail = await settled(await send('a@daneinsecure.test'), 'delivered');
    const attempt = detail.recipient_rows[0]!.history[0]!;
    assert.equal(attempt.tls_verified, 'none');
    assert.match(attempt.tls_version ?? '', /^TLSv1\.[23]$/);
    assert.equal((await record('daneinsecure.test'))?.dane, 'insecure');
  });

  it('DANE: TLSA is not applied under an MX answer that is not DNSSEC-validated (RFC 7672 2.2.1)', async () => {
    // the same MX and TLSA as danebad.test, which defers: reached through an unsigned MX, TLS without DANE
    const before = sinks.danebad!.received.length;
    const detail = await settled(await send('a@mxinsecure.test'), 'delivered');
    assert.equal(detail.recipient_rows[0]!.history[0]!.tls_verified, 'none');
    assert.equal(sinks.danebad!.received.length, before + 1);
  });

  it('WKD: finds the key a domain publishes and sends PGP/MIME when the MX lacks STARTTLS', async () => {
    const detail = await settled(await send('pat@wkd.test'), 'delivered');
    assert.match(detail.recipient_rows[0]!.history.at(-1)!.response, /no STARTTLS at the MX; sent as e2e-pgp/);
    const got = sinks.wkd!.received[0]!;
    assert.equal(got.secure, false);
    assert.doesNotMatch(got.data.toString(), /policy test/);
    const armored = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(got.data.toString())![0];
    const { data } = await openpgp.decrypt({ message: await openpgp.readMessage({ armoredMessage: armored }), decryptionKeys: wkdKey.privateKey });
    assert.match(String(data), /policy test/);
    const keys = await d.cliJson<Array<{ email: string; kind: string }>>(['keys', 'list']);
    assert.deepEqual(keys.map((k) => [k.email, k.kind]), [['pat@wkd.test', 'pgp']], 'the key is kept for the next message');
  });
});
