// PDF attachments in the DLP scan: text found on any page, whatever the declared content
// type; encrypted and broken PDFs listed as unscanned (and matchable by policy); a PDF
// that overruns the budget holds the message, and the extractor keeps serving afterwards.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEFAULT_KEYWORDS, DEFAULT_MRN_PATTERNS, DetectorSet } from '../../daemon/protect/detectors.js';
import { PdfExtractor } from '../../daemon/protect/pdf-extractor.js';
import { DEFAULT_RULES, evaluate, type MessageFacts, type Rule } from '../../daemon/protect/policy.js';
import { ScanPool } from '../../daemon/protect/scan-pool.js';
import { scanMessage, type PdfReader } from '../../daemon/protect/scan.js';
import { makePdf } from '../helpers/pdf.js';

const detectors = new DetectorSet({ mrnPatterns: DEFAULT_MRN_PATTERNS, keywords: DEFAULT_KEYWORDS });

function withAttachment(pdf: Buffer, contentType = 'application/pdf'): Buffer {
  return Buffer.from(
    'From: a@clinic.test\r\nTo: b@x.test\r\nSubject: Your results\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' +
      '--b\r\nContent-Type: text/plain\r\n\r\nPlease see the attached file.\r\n' +
      `--b\r\nContent-Type: ${contentType}\r\nContent-Disposition: attachment; filename="results.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${pdf.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b--\r\n`,
  );
}

describe('PDF attachments in the DLP scan', () => {
  const extractor = new PdfExtractor();
  const readPdf: PdfReader = (pdf, maxChars, budgetMs) => extractor.extract(pdf, maxChars, budgetMs);
  after(() => extractor.close());

  it('finds PHI on a later page, also when the PDF is declared application/octet-stream', async () => {
    const pdf = await makePdf(['Lab report', 'Patient SSN 219-45-6789, Dx E11.9 (ICD-10)']);
    for (const type of ['application/pdf', 'application/octet-stream']) {
      const r = await scanMessage(withAttachment(pdf, type), detectors, 5000, readPdf);
      const found = r.findings.map((f) => `${f.detector}@${f.part}`);
      assert.ok(found.includes('ssn@attachment:1'), `${type}: ${found.join()}`);
      assert.ok(found.includes('icd10@attachment:1'), `${type}: ${found.join()}`);
      assert.deepEqual(r.unscanned, []);
      assert.equal(r.overBudget, false);
    }
  });

  it('lists an encrypted PDF and a broken one as unscanned, and still reads the next', async () => {
    const locked = await scanMessage(withAttachment(await makePdf(['SSN 219-45-6789'], { userPassword: 'secret' })), detectors, 5000, readPdf);
    assert.deepEqual(locked.unscanned, ['attachment:1 (application/pdf, encrypted)']);
    assert.equal(locked.findings.filter((f) => f.part === 'attachment:1').length, 0);
    const broken = await scanMessage(withAttachment(Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> garbage')), detectors, 5000, readPdf);
    assert.deepEqual(broken.unscanned, ['attachment:1 (application/pdf, unreadable)']);
    const next = await scanMessage(withAttachment(await makePdf(['MRN: 00482913'])), detectors, 5000, readPdf);
    assert.ok(next.findings.some((f) => f.detector === 'mrn' && f.part === 'attachment:1'));
  });

  it('holds the message when a PDF overruns the budget; the extractor is replaced and keeps serving', async () => {
    const long = await makePdf(Array.from({ length: 400 }, (_, i) => `Page ${i + 1} `.repeat(200)));
    const r = await scanMessage(withAttachment(long), detectors, 30, readPdf);
    assert.equal(r.overBudget, true);
    const after = await scanMessage(withAttachment(await makePdf(['SSN 219-45-6789'])), detectors, 5000, readPdf);
    assert.ok(after.findings.some((f) => f.detector === 'ssn'));
  });

  it('reads PDFs in the scan pool threads too', async () => {
    const pool = new ScanPool({ mrnPatterns: DEFAULT_MRN_PATTERNS, keywords: DEFAULT_KEYWORDS }, 1);
    try {
      const r = await pool.scan(withAttachment(await makePdf(['Cover', 'NPI 1234567893'])), 5000);
      assert.ok(r.findings.some((f) => f.detector === 'npi' && f.part === 'attachment:1'), JSON.stringify(r.findings));
    } finally {
      await pool.close();
    }
  });
});

describe('policy: unscanned attachments', () => {
  const facts = (unscanned: number): MessageFacts => ({ sender: 'a@clinic.test', app: 'ehr', stream: 'transactional', subjectTag: false, headerProtect: null, findings: {}, subjectFindings: [], unscanned });
  const rules: Rule[] = [{ name: 'unreadable-to-portal', when: { unscanned_attachments: true }, action: 'portal' }, ...DEFAULT_RULES.slice(-1)];
  const rcpt = [{ address: 'p@x.test', hasKey: false, tls: 'supported' as const }];

  it('sends a message with an attachment nobody could read to the portal, and others by TLS', () => {
    assert.equal(evaluate(rules, facts(1), rcpt)[0]!.action, 'portal');
    const plain = evaluate(rules, facts(0), rcpt)[0]!;
    assert.equal(plain.action, 'tls');
    assert.deepEqual(plain.trace[0], { rule: 'unreadable-to-portal', matched: false, failed: 'unscanned_attachments' });
  });
});
