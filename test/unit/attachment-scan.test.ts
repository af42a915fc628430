// PDF and Word attachments in the DLP scan: text found on any page, whatever the declared
// content type (PDF); encrypted and broken documents listed as unscanned (and matchable by
// policy); a document that overruns the budget holds the message, and the extractor keeps
// serving afterwards.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEFAULT_KEYWORDS, DEFAULT_MRN_PATTERNS, DetectorSet } from '../../daemon/protect/detectors.js';
import { TextExtractor } from '../../daemon/protect/text-extractor.js';
import { DEFAULT_RULES, evaluate, type MessageFacts, type Rule } from '../../daemon/protect/policy.js';
import { ScanPool } from '../../daemon/protect/scan-pool.js';
import { scanMessage, type TextReader } from '../../daemon/protect/scan.js';
import { makeDocx, makePdf } from '../helpers/documents.js';

const detectors = new DetectorSet({ mrnPatterns: DEFAULT_MRN_PATTERNS, keywords: DEFAULT_KEYWORDS });

function withAttachment(pdf: Buffer, contentType = 'application/pdf', filename = 'results.pdf'): Buffer {
  return Buffer.from(
    'From: a@clinic.test\r\nTo: b@x.test\r\nSubject: Your results\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' +
      '--b\r\nContent-Type: text/plain\r\n\r\nPlease see the attached file.\r\n' +
      `--b\r\nContent-Type: ${contentType}\r\nContent-Disposition: attachment; filename="${filename}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${pdf.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b--\r\n`,
  );
}

describe('PDF and Word attachments in the DLP scan', () => {
  const extractor = new TextExtractor();
  const readPdf: TextReader = (kind, bytes, maxChars, budgetMs) => extractor.extract(kind, bytes, maxChars, budgetMs);
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

  it('reads Word .docx attachments; a damaged one, and other zips, are named as not scanned', async () => {
    const docx = await makeDocx(['Referral letter', 'Patient MRN: 00482913, SSN 219-45-6789']);
    const r = await scanMessage(withAttachment(docx, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'referral.docx'), detectors, 5000, readPdf);
    assert.deepEqual(r.findings.filter((f) => f.part === 'attachment:1').map((f) => f.detector).sort(), ['mrn', 'ssn']);
    const byName = await scanMessage(withAttachment(docx, 'application/octet-stream', 'referral.docx'), detectors, 5000, readPdf);
    assert.ok(byName.findings.some((f) => f.detector === 'ssn' && f.part === 'attachment:1'), 'recognised by its name too');
    const damaged = await scanMessage(withAttachment(docx.subarray(0, 200), 'application/octet-stream', 'letter.docx'), detectors, 5000, readPdf);
    assert.deepEqual(damaged.unscanned, ['attachment:1 (docx, unreadable)']);
    const sheet = await scanMessage(withAttachment(docx, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'labs.xlsx'), detectors, 5000, readPdf);
    assert.deepEqual(sheet.unscanned, ['attachment:1 (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet)']);
  });

  it('survives a zip bomb: a 60 MB document.xml in a 59 KB .docx is read (text capped), held or unreadable, and the reader survives', async (t) => {
    const bomb = await makeDocx(['x'.repeat(60_000_000)]);
    const t0 = performance.now();
    const r = await scanMessage(withAttachment(bomb, 'application/octet-stream', 'bomb.docx'), detectors, 2000, readPdf);
    const ms = performance.now() - t0;
    t.diagnostic(`bomb: ${bomb.length} bytes zipped, ${ms.toFixed(0)} ms, ${r.overBudget ? 'held' : r.unscanned.length ? 'unreadable' : 'read'}`);
    assert.ok(r.overBudget || r.unscanned[0] === 'attachment:1 (docx, unreadable)' || r.parts === 3, JSON.stringify(r));
    const next = await scanMessage(withAttachment(await makeDocx(['SSN 219-45-6789']), 'application/octet-stream', 'ok.docx'), detectors, 5000, readPdf);
    assert.ok(next.findings.some((f) => f.detector === 'ssn'));
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
