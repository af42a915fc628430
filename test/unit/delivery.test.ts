// Unit tests for delivery's pure parts: slot bookkeeping, DANE matching, MTA-STS MX
// patterns, TLS degradation, DSN status codes and the retry table.

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkDane } from '../../daemon/delivery/dane.js';
import { statusOf } from '../../daemon/delivery/dsn.js';
import { StreamLimits } from '../../daemon/delivery/limits.js';
import { mxMatchesPolicy } from '../../daemon/delivery/mta-sts.js';
import { degradation } from '../../daemon/delivery/tls-record.js';
import { outgoingMessage } from '../../daemon/delivery/worker.js';
import { wkdHash } from '../../daemon/protect/wkd.js';
import { retryDelay } from '../../daemon/queue/retry.js';

describe('stream limits', () => {
  it('caps a stream and each domain, and frees slots when transactions finish', () => {
    const l = new StreamLimits({ concurrency: 4, perMinute: 0 }, () => ({ concurrency: 2, perMinute: 0 }));
    const t = 1_000_000;
    assert.equal(l.free(t), 4);
    l.start('a.test', t);
    l.start('a.test', t);
    assert.deepEqual(l.blockedDomains(t), ['a.test']);
    assert.equal(l.domainFree('b.test', t), 2);
    l.start('b.test', t);
    l.start('b.test', t);
    assert.equal(l.free(t), 0);
    l.finish('a.test');
    assert.equal(l.free(t), 1);
    assert.deepEqual(l.blockedDomains(t), ['b.test']);
  });

  it('enforces messages per minute over a sliding minute', () => {
    const l = new StreamLimits({ concurrency: 100, perMinute: 0 }, () => ({ concurrency: 100, perMinute: 3 }));
    const t = 5_000_000;
    for (let i = 0; i < 3; i++) {
      l.start('rate.test', t + i);
      l.finish('rate.test');
    }
    assert.deepEqual(l.blockedDomains(t + 10), ['rate.test']);
    assert.deepEqual(l.blockedDomains(t + 60_001), [], 'the first start left the window');
    assert.equal(l.domainFree('rate.test', t + 60_003), 3);
  });

  it('caps a whole stream per minute', () => {
    const l = new StreamLimits({ concurrency: 10, perMinute: 2 }, () => ({ concurrency: 10, perMinute: 0 }));
    l.start('a.test', 0);
    l.start('b.test', 1);
    assert.equal(l.free(2), 0);
  });
});

describe('DANE matching', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-dane-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k'), '-out', join(dir, 'c'), '-days', '1', '-subj', '/CN=mx.test'], { stdio: 'ignore' });
  const cert = new X509Certificate(readFileSync(join(dir, 'c')));
  rmSync(dir, { recursive: true, force: true });
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

  it('matches DANE-EE on the SPKI hash, the full certificate and exact content', () => {
    assert.equal(checkDane([{ usage: 3, selector: 1, matchingType: 1, data: sha256(spki) }], [cert.raw]).result, 'match');
    assert.equal(checkDane([{ usage: 3, selector: 0, matchingType: 1, data: sha256(cert.raw) }], [cert.raw]).result, 'match');
    assert.equal(checkDane([{ usage: 3, selector: 1, matchingType: 0, data: spki }], [cert.raw]).result, 'match');
    assert.equal(checkDane([{ usage: 3, selector: 1, matchingType: 2, data: createHash('sha512').update(spki).digest() }], [cert.raw]).result, 'match');
  });

  it('reports a mismatch, and treats PKIX usages as unusable', () => {
    assert.equal(checkDane([{ usage: 3, selector: 1, matchingType: 1, data: sha256(other) }], [cert.raw]).result, 'mismatch');
    assert.equal(checkDane([{ usage: 1, selector: 1, matchingType: 1, data: sha256(spki) }], [cert.raw]).result, 'unusable');
    // DANE-TA does not match the leaf itself
    assert.equal(checkDane([{ usage: 2, selector: 1, matchingType: 1, data: sha256(spki) }], [cert.raw]).result, 'mismatch');
    assert.equal(checkDane([{ usage: 2, selector: 1, matchingType: 1, data: sha256(spki) }], [Buffer.from('leaf'), cert.raw]).result, 'match');
  });
});

describe('MTA-STS MX patterns', () => {
  it('matches exact names and one-label wildcards only (RFC 8461 §4.1)', () => {
    assert.equal(mxMatchesPolicy('mx1.example.com', ['mx1.example.com']), true);
    assert.equal(mxMatchesPolicy('MX1.Example.com.', ['mx1.example.com']), true);
    assert.equal(mxMatchesPolicy('mx1.example.com', ['*.example.com']), true);
    assert.equal(mxMatchesPolicy('a.mx1.example.com', ['*.example.com']), false);
    assert.equal(mxMatchesPolicy('example.com', ['*.example.com']), false);
    assert.equal(mxMatchesPolicy('mx1.evil.com', ['mx1.example.com']), false);
  });
});

describe('TLS degradation', () => {
  const before = { domain: 'x.test', starttls: 1, tls_version: 'TLSv1.3', tls_cipher: 'c', cert_valid: 1, mta_sts: null, dane: null, last_result: 'success', last_seen: 0, last_ok_at: 0, degraded: 0, degraded_reason: null };
  const now = { domain: 'x.test', starttls: true, version: 'TLSv1.3', cipher: 'c', certValid: true, mtaSts: null, dane: null, result: 'success' };

  it('flags lost STARTTLS, an older protocol and a newly invalid certificate', () => {
    assert.equal(degradation(before, now), null);
    assert.match(degradation(before, { ...now, starttls: false, result: 'starttls-not-supported' }) ?? '', /STARTTLS no longer offered/);
    assert.match(degradation(before, { ...now, version: 'TLSv1.2' }) ?? '', /TLSv1.3 to TLSv1.2/);
    assert.match(degradation(before, { ...now, certValid: false }) ?? '', /certificate/);
    assert.equal(degradation(undefined, { ...now, starttls: false }), null, 'a first sighting is not a degradation');
    assert.equal(degradation(before, { ...now, starttls: null, result: 'sts-policy-fetch-error' }), 'TLS failure: sts-policy-fetch-error');
  });
});

describe('DSN status', () => {
  it('takes the enhanced code from the answer, else derives one', () => {
    assert.equal(statusOf({ action: 'failed', diagnostic: '550 5.1.1 no such user', code: 550 }), '5.1.1');
    assert.equal(statusOf({ action: 'failed', diagnostic: '554 rejected', code: 554 }), '5.0.0');
    assert.equal(statusOf({ action: 'failed', diagnostic: 'ETIMEDOUT', code: null }), '4.4.7');
    assert.equal(statusOf({ action: 'delayed', diagnostic: '451 later', code: 451 }), '4.0.0');
  });
});

describe('outgoing message', () => {
  it('removes private headers and finds the From: domain', () => {
    const raw = Buffer.from('From: "Dr. A" <doc@Clinic.Test>\r\nX-Sealpost-Protect: portal\r\nX-Sealpost-List: news\r\nSubject: s\r\n\r\nbody\r\n');
    const out = outgoingMessage(raw);
    assert.equal(out.fromDomain, 'clinic.test');
    assert.doesNotMatch(out.message.toString(), /X-Sealpost/i);
    assert.match(out.message.toString(), /\r\n\r\nbody\r\n$/);
  });
});

describe('retry table', () => {
  it('grows, then repeats every 2 hours', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20].map((n) => retryDelay(n) / 60_000), [1, 5, 15, 30, 60, 120, 120, 120]);
  });
});

describe('WKD', () => {
  it('hashes the local part as the draft\'s example does', () => {
    assert.equal(wkdHash('Joe.Doe'), 'iy9q119eutrkn8s1mk4r39qejnbu3n5q');
  });
});
