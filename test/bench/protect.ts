// test/bench/protect: messages per second, on one core, through the DLP scan (mailparser +
// every detector) for 10 KB and 1 MB bodies and for PDF attachments (pdf.js in its worker
// thread, 2 and 50 pages; a Word .docx through mammoth), and through PGP/MIME (openpgp, Curve25519
// and RSA-3072 keys) and S/MIME (pkijs, RSA-2048 certificate) encryption of a 10 KB message.
//
//   npm run bench:protect
//   BENCH_SECONDS=5 node dist/test/bench/protect.js

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { DEFAULT_KEYWORDS, DEFAULT_MRN_PATTERNS, DetectorSet } from '../../daemon/protect/detectors.js';
import { pgpMime, smimeEnvelope } from '../../daemon/protect/encrypt.js';
import { TextExtractor } from '../../daemon/protect/text-extractor.js';
import { scanMessage } from '../../daemon/protect/scan.js';
import { makeDocx, makePdf } from '../helpers/documents.js';
import { machine } from './load.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

function message(bodyBytes: number): Buffer {
  const line = 'Patient follow-up: blood pressure stable, continue lisinopril 10 mg. Next visit in 3 months.\r\n';
  const body = line.repeat(Math.ceil(bodyBytes / line.length)).slice(0, bodyBytes);
  return Buffer.from(`From: "Dr. A" <doc@clinic.test>\r\nTo: pat@example.org\r\nSubject: Visit summary\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`);
}

async function rate(name: string, f: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 3; i++) await f(); // warm up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    await f();
    n++;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  console.log(`${name.padEnd(34)} ${(n / seconds).toFixed(0).padStart(7)} msgs/s  (${((cpuS / n) * 1000).toFixed(2)} ms CPU each, ${n} in ${seconds.toFixed(1)} s)`);
}

console.log(`protect bench: one core, ${SECONDS} s per figure; ${machine()}`);
const detectors = new DetectorSet({ mrnPatterns: DEFAULT_MRN_PATTERNS, keywords: DEFAULT_KEYWORDS });
const m10k = message(10 * 1024);
const m1m = message(1024 * 1024);
await rate('DLP scan, 10 KB', () => scanMessage(m10k, detectors, 60_000));
await rate('DLP scan, 1 MB', () => scanMessage(m1m, detectors, 60_000));
const pdfs = new TextExtractor();
const withPdf = async (pages: number) => {
  const pdf = await makePdf(Array.from({ length: pages }, (_, i) => `Page ${i + 1}. ${'Result within normal range; continue current medication. '.repeat(30)}`));
  const b64 = pdf.toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(`From: doc@clinic.test\r\nTo: pat@example.org\r\nSubject: Report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--b--\r\n`);
};
for (const pages of [2, 50]) {
  const m = await withPdf(pages);
  await rate(`DLP scan, PDF ${pages} pages (${Math.round(m.length / 1024)} KB)`, () => scanMessage(m, detectors, 60_000, (kind, bytes, max, budget) => pdfs.extract(kind, bytes, max, budget)));
}
const docx = await makeDocx(Array.from({ length: 60 }, (_, i) => `Paragraph ${i + 1}. ${'Result within normal range; continue current medication. '.repeat(6)}`));
const withDocx = Buffer.from(
  `From: doc@clinic.test\r\nTo: pat@example.org\r\nSubject: Letter\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n--b\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\nContent-Disposition: attachment; filename="letter.docx"\r\nContent-Transfer-Encoding: base64\r\n\r\n${docx.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b--\r\n`,
);
await rate(`DLP scan, .docx 60 paragraphs (${Math.round(withDocx.length / 1024)} KB)`, () => scanMessage(withDocx, detectors, 60_000, (kind, bytes, max, budget) => pdfs.extract(kind, bytes, max, budget)));
await pdfs.close();

const curve = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'pat@example.org' }], format: 'object' });
const rsa = await openpgp.generateKey({ type: 'rsa', rsaBits: 3072, userIDs: [{ email: 'pat@example.org' }], format: 'object' });
await rate('PGP/MIME, 10 KB, Curve25519', () => pgpMime(m10k, curve.publicKey));
await rate('PGP/MIME, 10 KB, RSA-3072', () => pgpMime(m10k, rsa.publicKey));
const practice = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ email: 'postmaster@clinic.test' }], format: 'object' });
await rate('PGP/MIME, 10 KB, Curve25519, signed', () => pgpMime(m10k, curve.publicKey, practice.privateKey));

const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k'), '-out', join(dir, 'c'), '-days', '1', '-subj', '/CN=p', '-addext', 'subjectAltName=email:pat@example.org'], { stdio: 'ignore' });
const cert = readFileSync(join(dir, 'c'), 'utf8');
rmSync(dir, { recursive: true, force: true });
await rate('S/MIME, 10 KB, RSA-2048 (PKCS #1 v1.5)', () => smimeEnvelope(m10k, cert, 'rsa-pkcs1'));
await rate('S/MIME, 10 KB, RSA-2048 (OAEP)', () => smimeEnvelope(m10k, cert, 'rsa-oaep'));
