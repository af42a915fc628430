// Automatic protection with real peers: gpg decrypts the PGP/MIME we send and `openssl cms`
// the S/MIME; to an MX without STARTTLS a PHI message arrives as a content-free portal
// notice whose link resolves over HTTPS; [secure] goes to the portal even where TLS exists;
// PHI in a Subject is refused at DATA with a reference id; policy edits are versioned,
// tested, replayed and audited; keys are validated on import.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditEntry, ExplainResult, PolicyInfo, PolicyTestResult, PortalItemInfo, PracticeKeyInfo, QueueDetail, RecipientKeyInfo, ReplayResult } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { makeDocx, makePdf } from '../helpers/documents.js';
import { startSink, type Sink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';

const PHI = 'Patient SSN 219-45-6789, MRN 00482913, diagnosis E11.9.';

function httpsGet(port: number, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('protection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-protect-'));
  const gnupg = join(dir, 'gnupg');
  let tlsSink: Sink;
  let plainSink: Sink;
  let d: TestDaemon;
  let pass = '';
  const send = async (to: string, subject: string, text: string, headers: Record<string, string> = {}) =>
    (await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({ from: '"Dr. Alvarez" <doc@clinic.test>', to, subject, text, headers })).response.split(' ').pop()!;
  const settled = (id: string, state: string) => d.settled(id, state);
  const gpg = (args: string[], input?: string) => execFileSync('gpg', ['--homedir', gnupg, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] });

  before(async () => {
    execFileSync('mkdir', ['-m', '700', gnupg]);
    gpg(['--quick-gen-key', 'Pat <pat@pgp.test>', 'ed25519', 'cert', 'never']);
    const fpr = /fpr:+([0-9A-F]{40}):/.exec(gpg(['--list-keys', '--with-colons', 'pat@pgp.test']))![1]!;
    gpg(['--quick-add-key', fpr, 'cv25519', 'encr', 'never']);
    writeFileSync(join(dir, 'pat.asc'), gpg(['--armor', '--export', 'pat@pgp.test']));
    writeFileSync(join(dir, 'pat-secret.asc'), gpg(['--armor', '--export-secret-keys', 'pat@pgp.test']));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'smime.key'), '-out', join(dir, 'smime.crt'), '-days', '2', '-subj', '/CN=Sam', '-addext', 'subjectAltName=email:sam@smime.test'], { stdio: 'ignore' });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'noemail.key'), '-out', join(dir, 'noemail.crt'), '-days', '2', '-subj', '/CN=Nobody'], { stdio: 'ignore' });

    tlsSink = await startSink({ starttls: true });
    plainSink = await startSink({ starttls: false });
    d = new TestDaemon({
      extraToml: '[dlp]\nscan_threads = 1\n[keys]\npgp_sign = true', // the worker-thread scan path (the 2-core default scans inline); signed PGP/MIME
      deliveryToml: [
        'paused = false',
        '[delivery.routes]',
        `"tls.test" = "127.0.0.1:${tlsSink.port}"`,
        `"pgp.test" = "127.0.0.1:${tlsSink.port}"`,
        `"smime.test" = "127.0.0.1:${tlsSink.port}"`,
        `"quarantine.test" = "127.0.0.1:${tlsSink.port}"`,
        `"brief.test" = "127.0.0.1:${tlsSink.port}"`,
        `"plain.test" = "127.0.0.1:${plainSink.port}"`,
      ].join('\n'),
    });
    await d.start();
    pass = await d.addApp('ehr');
  });
  after(async () => {
    await d.cleanup();
    await Promise.all([tlsSink.close(), plainSink.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('validates keys on import: refuses private keys and certificates without an address', async () => {
    const imported = await d.cliJson<RecipientKeyInfo[]>(['keys', 'import', join(dir, 'pat.asc')]);
    assert.deepEqual(imported.map((k) => [k.email, k.kind]), [['pat@pgp.test', 'pgp']]);
    const cert = await d.cliJson<RecipientKeyInfo[]>(['keys', 'import', join(dir, 'smime.crt')]);
    assert.deepEqual(cert.map((k) => [k.email, k.kind]), [['sam@smime.test', 'smime']]);
    const secret = await d.cli(['keys', 'import', join(dir, 'pat-secret.asc')]);
    assert.notEqual(secret.code, 0);
    assert.match(secret.stderr, /this is a private key/);
    const noEmail = await d.cli(['keys', 'import', join(dir, 'noemail.crt')]);
    assert.notEqual(noEmail.code, 0);
    assert.match(noEmail.stderr, /names no e-mail address/);
    assert.equal((await d.cliJson<RecipientKeyInfo[]>(['keys', 'list'])).length, 2);
  });

  it('sends PGP/MIME to a recipient with a key, signed by the practice; gpg decrypts it and verifies the signature', async () => {
    const id = await send('pat@pgp.test', 'Your lab results', `MARKER-PGP ${PHI}`);
    const detail = await settled(id, 'delivered');
    assert.equal(detail.recipient_rows[0]!.state, 'delivered');
    const got = tlsSink.received.find((r) => r.to[0] === 'pat@pgp.test')!.data.toString();
    assert.match(got, /Content-Type: multipart\/encrypted;\s*protocol="application\/pgp-encrypted"/);
    assert.doesNotMatch(got, /MARKER-PGP|219-45-6789/);
    const armored = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(got)![0];
    // the practice's public key, as `sealpost keys practice` prints it for publishing
    const [practice] = await d.cliJson<PracticeKeyInfo[]>(['keys', 'practice']);
    assert.equal(practice!.domain, 'clinic.test');
    gpg(['--import'], practice!.public_key);
    const clear = gpg(['--status-fd', '2', '--decrypt'], armored);
    assert.match(clear, /MARKER-PGP Patient SSN 219-45-6789/);
    const status = execFileSync('gpg', ['--homedir', gnupg, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--status-fd', '1', '--output', '/dev/null', '--decrypt'], { input: armored, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] });
    assert.match(status, new RegExp(`\\[GNUPG:\\] VALIDSIG ${practice!.fingerprint}`), 'signed by the practice key');
    assert.match(status, /\[GNUPG:\] GOODSIG [0-9A-F]+ .*<postmaster@clinic\.test>/);
    const explain = await d.cliJson<ExplainResult>(['message', 'explain', id]);
    assert.equal(explain.decision, 'e2e-pgp');
    assert.equal(explain.recipients[0]!.rule, 'e2e-when-key');
    assert.ok(explain.findings.some((f) => f.detector === 'ssn' && f.part === 'text'));
    assert.ok(explain.reasons.some((r) => /detector ssn found 1 in text/.test(r)));
    assert.ok(explain.reasons.every((r) => !r.includes('219-45-6789')), 'explain names detectors, never the matched text');
  });

  it('sends S/MIME to a recipient with a certificate, and openssl cms decrypts it', async () => {
    const id = await send('sam@smime.test', 'Your lab results', `MARKER-SMIME ${PHI}`);
    await settled(id, 'delivered');
    const got = tlsSink.received.find((r) => r.to[0] === 'sam@smime.test')!.data;
    assert.match(got.toString(), /Content-Type: application\/pkcs7-mime;\s*smime-type=enveloped-data/);
    assert.doesNotMatch(got.toString(), /MARKER-SMIME/);
    writeFileSync(join(dir, 'smime.eml'), got);
    const clear = execFileSync('openssl', ['cms', '-decrypt', '-in', join(dir, 'smime.eml'), '-recip', join(dir, 'smime.crt'), '-inkey', join(dir, 'smime.key')], { encoding: 'utf8' });
    assert.match(clear, /MARKER-SMIME Patient SSN 219-45-6789/);
    // the structure every client decrypts: RSA PKCS #1 v1.5 key transport, AES-256-CBC content
    const structure = execFileSync('openssl', ['cms', '-cmsout', '-print', '-in', join(dir, 'smime.eml')], { encoding: 'utf8' });
    assert.match(structure, /keyEncryptionAlgorithm:\s*algorithm: rsaEncryption/);
    assert.match(structure, /contentEncryptionAlgorithm:\s*algorithm: aes-256-cbc/);
    assert.equal((await d.cliJson<ExplainResult>(['message', 'explain', id])).decision, 'e2e-smime');
  });

  it('to an MX without STARTTLS, PHI arrives only as a portal notice whose link resolves over HTTPS', async () => {
    const id = await send('pat@plain.test', 'Your lab results', `MARKER-PLAIN ${PHI}`);
    await settled(id, 'portal');
    const notice = plainSink.received.find((r) => r.to[0] === 'pat@plain.test')!;
    const text = notice.data.toString();
    assert.doesNotMatch(text, /MARKER-PLAIN|219-45-6789|00482913|E11\.9|lab results/i);
    assert.match(text, /Dr\. Alvarez sent you a secure message/);
    const path = /https:\/\/127\.0\.0\.1:8443(\/m\/[A-Za-z0-9_-]+)/.exec(text)![1]!;
    const page = await httpsGet(d.ports.portal, path);
    assert.equal(page.status, 200);
    assert.match(page.body, /Secure message from Dr\. Alvarez/);
    assert.match(page.body, /p\*\*\*@plain\.test/);
    assert.doesNotMatch(page.body, /MARKER-PLAIN|219-45-6789/);
    const csp = String(page.headers['content-security-policy']);
    for (const directive of ["default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]) assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
    assert.match(String(page.headers['strict-transport-security']), /max-age=31536000/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    assert.equal(page.headers['cache-control'], 'no-store');
    const unknown = await httpsGet(d.ports.portal, '/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    assert.equal(unknown.status, 410, 'unknown and expired links look alike');
    assert.match(unknown.body, /not available/);
    const explain = await d.cliJson<ExplainResult>(['message', 'explain', id]);
    assert.equal(explain.decision, 'portal');
    assert.equal(explain.recipients[0]!.delivered_as, 'portal');
  });

  it('sends [secure] to the portal even where the MX has TLS', async () => {
    const id = await send('pat@tls.test', '[secure] A note from your doctor', 'MARKER-SECURE nothing sensitive');
    await settled(id, 'portal');
    const notice = tlsSink.received.find((r) => r.to[0] === 'pat@tls.test')!;
    assert.equal(notice.secure, true);
    assert.doesNotMatch(notice.data.toString(), /MARKER-SECURE|A note from your doctor/);
    const explain = await d.cliJson<ExplainResult>(['message', 'explain', id]);
    assert.equal(explain.recipients[0]!.rule, 'secure-tag');
    assert.equal(explain.decision, 'portal');
  });

  it('refuses PHI in the Subject at DATA with a reason and a reference id, and audits it', async () => {
    await assert.rejects(send('pat@tls.test', 'Results for SSN 219-45-6789', 'body'), (err: Error & { responseCode?: number; response?: string }) => {
      assert.equal(err.responseCode, 550);
      assert.match(err.response ?? '', /5\.7\.1 Message refused by policy: the Subject line appears to contain protected health information.*\(ref [0-9a-f]{12}\)/);
      assert.doesNotMatch(err.response ?? '', /219-45-6789/);
      return true;
    });
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '20']);
    const blocked = audit.find((e) => e.action === 'policy.blocked');
    assert.equal(blocked?.detail.rule, 'phi-in-subject');
    assert.deepEqual(blocked?.detail.subject_findings, ['ssn']);
    assert.doesNotMatch(JSON.stringify(audit), /219-45-6789/);
  });

  it('policy test shows findings, dispositions and the trace; a header may raise protection but not lower it', async () => {
    const eml = join(dir, 'test.eml');
    writeFileSync(eml, `From: doc@clinic.test\r\nTo: pat@pgp.test, someone@tls.test\r\nSubject: hello\r\nX-Sealpost-Protect: tls\r\n\r\nDOB: 04/12/1961 and NPI 1234567893\r\n`);
    const r = await d.cliJson<PolicyTestResult>(['policy', 'test', eml]);
    assert.equal(r.blocked, null);
    assert.deepEqual(r.findings.map((f) => f.detector).sort(), ['dob', 'npi']);
    const byAddress = Object.fromEntries(r.recipients.map((x) => [x.address, x]));
    assert.equal(byAddress['pat@pgp.test']?.protection, 'e2e', 'X-Sealpost-Protect: tls does not lower e2e');
    assert.equal(byAddress['someone@tls.test']?.protection, 'tls');
    assert.deepEqual(byAddress['someone@tls.test']?.trace.map((t) => t.matched), [false, false, false, false, false, true]);
    writeFileSync(eml, `From: doc@clinic.test\r\nTo: someone@tls.test\r\nSubject: hello\r\nX-Sealpost-Protect: portal\r\n\r\nhi\r\n`);
    const raised = await d.cliJson<PolicyTestResult>(['policy', 'test', eml]);
    assert.equal(raised.recipients[0]!.protection, 'portal');
  });

  it('reads PDF and Word attachments: PHI inside a lab report or a referral letter is found; an encrypted PDF is named as not scanned', async () => {
    const sendPdf = async (pdf: Buffer, filename = 'report.pdf') =>
      (
        await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({
          from: 'doc@clinic.test',
          to: 'pat@tls.test',
          subject: 'Your report',
          text: 'Attached.',
          attachments: [{ filename, content: pdf, contentType: 'application/octet-stream' }],
        })
      ).response
        .split(' ')
        .pop()!;
    const report = await sendPdf(await makePdf(['Laboratory report', 'Patient SSN 219-45-6789']));
    await settled(report, 'delivered');
    const found = await d.cliJson<ExplainResult>(['message', 'explain', report]);
    assert.deepEqual(found.findings.map((f) => [f.detector, f.part]), [['ssn', 'attachment:1']]);
    assert.deepEqual(found.unscanned, []);
    const locked = await sendPdf(await makePdf(['SSN 219-45-6789'], { userPassword: 'birthday' }));
    await settled(locked, 'delivered');
    const notRead = await d.cliJson<ExplainResult>(['message', 'explain', locked]);
    assert.deepEqual(notRead.unscanned, ['attachment:1 (application/pdf, encrypted)']);
    assert.ok(notRead.reasons.includes('not scanned: attachment:1 (application/pdf, encrypted)'), notRead.reasons.join('; '));
    const letter = await sendPdf(await makeDocx(['Referral', 'Diagnosis: E11.9, MRN: 00482913']), 'referral.docx');
    await settled(letter, 'delivered');
    const inWord = await d.cliJson<ExplainResult>(['message', 'explain', letter]);
    assert.deepEqual(inWord.findings.map((f) => [f.detector, f.part]).sort(), [['icd10', 'attachment:1'], ['mrn', 'attachment:1']]);
  });

  it('versions, replays and audits policy changes; quarantine holds for review', async () => {
    const v1 = await d.cliJson<PolicyInfo>(['policy', 'list']);
    assert.equal(v1.rules.at(-1)!.name, 'tls-default');
    // a candidate that sends everything with findings to the portal: replay before activating
    const candidate = [{ name: 'phi-portal', when: { findings: 'any' }, action: 'portal' }, ...v1.rules];
    writeFileSync(join(dir, 'candidate.json'), JSON.stringify(candidate));
    const replay = await d.cliJson<ReplayResult>(['policy', 'replay', '--file', join(dir, 'candidate.json'), '--days', '1']);
    assert.equal(replay.messages, 7, JSON.stringify(replay)); // the refused message was never recorded
    assert.ok((replay.changes['e2e->portal'] ?? 0) >= 2, `PGP and S/MIME recipients with PHI would move to the portal: ${JSON.stringify(replay.changes)}`);
    const bad = await d.cli(['policy', 'set', join(dir, 'candidate.json'), '--comment', 'x']);
    assert.notEqual(bad.code, 0);
    writeFileSync(join(dir, 'no-default.json'), JSON.stringify([{ name: 'only', when: { stream: 'marketing' }, action: 'portal' }]));
    const noDefault = await d.cli(['policy', 'set', join(dir, 'no-default.json'), '--comment', 'missing default']);
    assert.match(noDefault.stderr, /the last rule must be the default/);

    const v2 = await d.cliJson<PolicyInfo>(['policy', 'add', 'hold-quarantine', '--action', 'quarantine', '--recipient-domain', 'quarantine.test', '--position', '1']);
    assert.equal(v2.version, v1.version + 1);
    assert.equal(v2.rules[0]!.name, 'hold-quarantine');
    const id = await send('pat@quarantine.test', 'Hello', 'quarantined body');
    const held = await d.cliJson<QueueDetail>(['queue', 'show', id]);
    assert.equal(held.recipient_rows[0]!.state, 'held');
    assert.match(held.recipient_rows[0]!.hold_reason ?? '', /quarantine: rule hold-quarantine/);
    await d.cliJson(['queue', 'release', id, '--reason', 'reviewed by the privacy officer']);
    await settled(id, 'delivered');

    const v3 = await d.cliJson<PolicyInfo>(['policy', 'remove', 'hold-quarantine']);
    assert.equal(v3.version, v2.version + 1);
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '100']);
    assert.equal(audit.filter((e) => e.action === 'policy.changed').length, 2);
  });

  it('the DLP dictionary is edited through the CLI and used at once; keys are removed through the CLI', async () => {
    const eml = join(dir, 'rare.eml');
    writeFileSync(eml, 'From: doc@clinic.test\r\nTo: someone@tls.test\r\nSubject: hello\r\n\r\nFollow-up for moyamoya disease next week.\r\n');
    assert.deepEqual((await d.cliJson<PolicyTestResult>(['policy', 'test', eml])).findings, []);
    const terms = await d.cliJson<string[]>(['dlp', 'keywords', '--add', 'moyamoya disease']);
    assert.ok(terms.includes('moyamoya disease'));
    const after = await d.cliJson<PolicyTestResult>(['policy', 'test', eml]);
    assert.deepEqual(after.findings.map((f) => [f.detector, f.count, f.part]), [['keyword', 1, 'text']]);
    const keys = await d.cliJson<RecipientKeyInfo[]>(['keys', 'list']);
    const smime = keys.find((k) => k.kind === 'smime')!;
    await d.cliJson(['keys', 'remove', smime.id]);
    assert.deepEqual((await d.cliJson<RecipientKeyInfo[]>(['keys', 'list'])).map((k) => k.kind), ['pgp']);
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '10']);
    assert.ok(audit.some((e) => e.action === 'keys.removed' && e.subject === smime.id));
    assert.ok(audit.some((e) => e.action === 'dlp.keywords_changed' && e.detail.added === 1));
  });

  it('a rule can set how long its portal items live; others keep portal.expiry_days', async () => {
    await d.cliJson<PolicyInfo>(['policy', 'add', 'brief-portal', '--action', 'portal', '--recipient-domain', 'brief.test', '--portal-expiry-days', '2', '--position', '1']);
    const listed = await d.cli(['policy', 'list']);
    assert.match(listed.stdout, /brief-portal .*portal \(expires in 2 d\)/);
    const brief = await send('pat@brief.test', 'Your statement', 'nothing sensitive');
    const normal = await send('pat@tls.test', '[secure] Your statement', 'nothing sensitive');
    await Promise.all([settled(brief, 'portal'), settled(normal, 'portal')]);
    const days = async (id: string) => {
      const [item] = await d.cliJson<PortalItemInfo[]>(['portal', 'list', '--message', id]);
      return Math.round((Date.parse(item!.expires_at) - Date.parse(item!.created_at)) / 86_400_000);
    };
    assert.equal(await days(brief), 2);
    assert.equal(await days(normal), 30);
    await d.cliJson(['policy', 'remove', 'brief-portal']);
  });

  it('a rule on unscanned attachments routes a message whose attachment nobody could read', async () => {
    await d.cliJson<PolicyInfo>(['policy', 'add', 'unreadable-portal', '--action', 'portal', '--when', '{"unscanned_attachments":true}', '--position', '1']);
    const eml = join(dir, 'scan.eml');
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    writeFileSync(eml, `From: doc@clinic.test\r\nTo: someone@tls.test\r\nSubject: hello\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the scan.\r\n--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="scan.png"\r\nContent-Transfer-Encoding: base64\r\n\r\n${png}\r\n--b--\r\n`);
    const withImage = await d.cliJson<PolicyTestResult>(['policy', 'test', eml]);
    assert.equal(withImage.recipients[0]!.protection, 'portal');
    assert.equal(withImage.recipients[0]!.rule, 'unreadable-portal');
    writeFileSync(eml, 'From: doc@clinic.test\r\nTo: someone@tls.test\r\nSubject: hello\r\n\r\nNo attachment.\r\n');
    const plain = await d.cliJson<PolicyTestResult>(['policy', 'test', eml]);
    assert.equal(plain.recipients[0]!.protection, 'tls');
    await d.cliJson(['policy', 'remove', 'unreadable-portal']);
  });
});
