// The detector corpus: true positives and near misses per detector (invalid SSN ranges,
// Luhn failures, codes inside URLs, numbers without context). Precision and recall per
// detector are printed as test diagnostics and must stay above the floor.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_KEYWORDS, DEFAULT_MRN_PATTERNS, DetectorSet, type DetectorName } from '../../daemon/protect/detectors.js';
import { ScanPool } from '../../daemon/protect/scan-pool.js';
import { scanMessage } from '../../daemon/protect/scan.js';

interface Sample {
  text: string;
  /** The detector that must fire, or null for a near miss that must not. */
  expect: DetectorName | null;
  /** For near misses: the detector that must stay silent. */
  not?: DetectorName;
}

const CORPUS: Sample[] = [
  // SSN
  { text: 'SSN: 219-45-6789', expect: 'ssn' },
  { text: 'her social security number is 531 84 2210', expect: 'ssn' },
  { text: 'SSN 212456789 on file', expect: 'ssn' },
  { text: 'ss# 078-12-3344 (patient)', expect: 'ssn' },
  { text: 'invalid area 000-12-3456', expect: null, not: 'ssn' },
  { text: 'invalid area 666-12-3456', expect: null, not: 'ssn' },
  { text: 'invalid area 912-34-5678', expect: null, not: 'ssn' },
  { text: 'invalid group 219-00-6789', expect: null, not: 'ssn' },
  { text: 'invalid serial 219-45-0000', expect: null, not: 'ssn' },
  { text: 'the famous sample 078-05-1120', expect: null, not: 'ssn' },
  { text: 'order number 212456789 shipped', expect: null, not: 'ssn' },
  { text: 'call 219-456-7890 tomorrow', expect: null, not: 'ssn' },
  // MBI
  { text: 'Medicare MBI 1EG4-TE5-MK73', expect: 'mbi' },
  { text: 'mbi: 1EG4TE5MK73', expect: 'mbi' },
  { text: 'not an MBI: 1EG4-TE5-MK7', expect: null, not: 'mbi' },
  { text: 'letters S L O I B Z are excluded: 1SG4-TE5-MK73', expect: null, not: 'mbi' },
  { text: 'starts with zero 0EG4-TE5-MK73', expect: null, not: 'mbi' },
  // MRN
  { text: 'MRN: 00482913', expect: 'mrn' },
  { text: 'Medical record number #AB1234567', expect: 'mrn' },
  { text: 'MRN pending', expect: null, not: 'mrn' },
  // DOB
  { text: 'DOB: 04/12/1961', expect: 'dob' },
  { text: 'Date of birth 1961-04-12', expect: 'dob' },
  { text: 'born on March 3, 1954', expect: 'dob' },
  { text: 'appointment on 04/12/2027', expect: null, not: 'dob' },
  { text: 'DOB unknown', expect: null, not: 'dob' },
  // ICD-10
  { text: 'Diagnosis: E11.9 type 2', expect: 'icd10' },
  { text: 'codes F32.A and I10 ICD', expect: 'icd10' },
  { text: 'dx J45 today', expect: 'icd10' },
  { text: 'see https://example.org/E11.9/info', expect: null, not: 'icd10' },
  { text: 'room B12 on floor 3', expect: null, not: 'icd10' },
  { text: 'model A320 aircraft', expect: null, not: 'icd10' },
  { text: 'version U07.1 of the spec', expect: null, not: 'icd10' },
  // NPI
  { text: 'Provider NPI 1234567893', expect: 'npi' },
  { text: 'NPI: 1245319599', expect: 'npi' },
  { text: 'NPI 1234567890 (bad check digit)', expect: null, not: 'npi' },
  { text: 'tracking 1234567893', expect: null, not: 'npi' },
  // cards
  { text: 'card 4111 1111 1111 1111 exp 12/29', expect: 'card' },
  { text: 'amex 378282246310005', expect: 'card' },
  { text: 'mc 5555-5555-5555-4444', expect: 'card' },
  { text: 'Luhn failure 4111 1111 1111 1112', expect: null, not: 'card' },
  { text: 'not an issuer 9111111111111111', expect: null, not: 'card' },
  { text: 'timestamp 1712345678901234', expect: null, not: 'card' },
  // patient contact
  { text: 'Patient: Maria Lopez, phone (555) 201-3344', expect: 'patient_contact' },
  { text: 'Name: John Smith lives at 12 Oak Street', expect: 'patient_contact' },
  { text: 'Office phone (555) 201-3344', expect: null, not: 'patient_contact' },
  // keywords
  { text: 'started on metformin last week', expect: 'keyword' },
  { text: 'history of Bipolar   disorder', expect: 'keyword' },
  { text: 'information about insulation', expect: null, not: 'keyword' },
];

describe('DLP detector corpus', () => {
  const detectors = new DetectorSet({ mrnPatterns: DEFAULT_MRN_PATTERNS, keywords: DEFAULT_KEYWORDS });

  it('reports precision and recall per detector above the floor', (t) => {
    const stats = new Map<string, { tp: number; fp: number; fn: number }>();
    const stat = (d: string) => stats.get(d) ?? (stats.set(d, { tp: 0, fp: 0, fn: 0 }), stats.get(d)!);
    const misses: string[] = [];
    for (const s of CORPUS) {
      const found = detectors.scan(s.text);
      if (s.expect) {
        if (found[s.expect]) stat(s.expect).tp++;
        else {
          stat(s.expect).fn++;
          misses.push(`missed ${s.expect}: ${s.text}`);
        }
      } else if (s.not && found[s.not]) {
        stat(s.not).fp++;
        misses.push(`false ${s.not}: ${s.text}`);
      }
    }
    for (const [d, { tp, fp, fn }] of stats) {
      const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
      const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
      t.diagnostic(`${d.padEnd(16)} precision ${precision.toFixed(2)} recall ${recall.toFixed(2)} (tp ${tp}, fp ${fp}, fn ${fn})`);
      assert.ok(precision >= 0.9, `${d} precision ${precision}: ${misses.join('; ')}`);
      assert.ok(recall >= 0.9, `${d} recall ${recall}: ${misses.join('; ')}`);
    }
  });

  it('never returns the matched text, only counts', () => {
    const out = detectors.scan('SSN 219-45-6789 and 219-45-6780');
    assert.deepEqual(out, { ssn: 2 });
  });

  it('stays linear on hostile input (1 MB of each pathological shape)', (t) => {
    const shapes: Record<string, string> = {
      dashes: '1-'.repeat(500_000),
      digits: '1'.repeat(1_000_000),
      ats: 'a@'.repeat(500_000), // an unbounded e-mail pattern used to make this quadratic
      alnum: 'A1'.repeat(500_000),
      labels: 'Name: Ab '.repeat(110_000),
      dob: 'DOB '.repeat(250_000),
      dots: 'x.'.repeat(500_000),
      urls: 'http://'.repeat(140_000),
    };
    for (const [name, text] of Object.entries(shapes)) {
      const t0 = performance.now();
      detectors.scan(text);
      const ms = performance.now() - t0;
      t.diagnostic(`${name}: ${ms.toFixed(0)} ms`);
      assert.ok(ms < 5000, `${name}: ${ms.toFixed(0)} ms`);
    }
  });
});

describe('DLP message scan', () => {
  const detectors = new DetectorSet({ mrnPatterns: DEFAULT_MRN_PATTERNS, keywords: DEFAULT_KEYWORDS });
  const mime = (parts: string) =>
    Buffer.from(`From: a@clinic.test\r\nTo: b@x.test\r\nSubject: DOB: 04/12/1961\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n${parts}--b--\r\n`);

  it('scans subject, text, HTML and text attachments, naming the part; lists unreadable attachments', async () => {
    const raw = mime(
      '--b\r\nContent-Type: text/plain\r\n\r\nSSN 219-45-6789\r\n' +
        '--b\r\nContent-Type: text/html\r\n\r\n<p>MRN: <b>00482913</b></p>\r\n' +
        '--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename="a.csv"\r\n\r\nname,npi\r\nx,NPI 1234567893\r\n' +
        '--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n',
    );
    const r = await scanMessage(raw, detectors, 2000);
    const found = r.findings.map((f) => `${f.detector}@${f.part}`).sort();
    assert.ok(found.includes('dob@subject'), found.join());
    assert.ok(found.includes('ssn@text'), found.join());
    assert.ok(found.some((f) => f.startsWith('mrn@')), found.join());
    assert.ok(found.some((f) => /^npi@attachment:/.test(f)), found.join());
    assert.equal(r.unscanned.length, 1);
    assert.match(r.unscanned[0]!, /application\/pdf/);
    assert.equal(r.overBudget, false);
  });

  it('reports a scan that runs out of its budget (the message is then held)', async () => {
    const big = mime(`--b\r\nContent-Type: text/plain\r\n\r\n${'SSN 219-45-6789 lorem ipsum\r\n'.repeat(100_000)}`);
    const r = await scanMessage(big, detectors, 1);
    assert.equal(r.overBudget, true);
  });
});

describe('DLP scan pool', () => {
  it('stops a scan stuck in a catastrophic administrator pattern, and keeps serving', async () => {
    const pool = new ScanPool({ mrnPatterns: ['(a+)+$'], keywords: [] }, 1);
    try {
      const stuck = Buffer.from(`From: a@x.test\r\nSubject: s\r\n\r\n${'a'.repeat(40)}!\r\n`);
      const r = await pool.scan(stuck, 200);
      assert.equal(r.overBudget, true);
      const ok = await pool.scan(Buffer.from('From: a@x.test\r\nSubject: s\r\n\r\nSSN 219-45-6789\r\n'), 2000);
      assert.equal(ok.overBudget, false);
      assert.deepEqual(ok.findings.map((f) => f.detector), ['ssn']);
    } finally {
      await pool.close();
    }
  });
});
