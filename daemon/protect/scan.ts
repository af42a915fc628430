// The DLP scan of one message: mailparser splits the MIME tree; the subject, the plain
// text, the HTML (as text, via html-to-text) and every text-like attachment are scanned by
// the detectors, within a time budget. Findings name the detector, the count and the part
// ("subject", "text", "html", "attachment:N"), never the text. PDFs (recognised by their
// bytes, whatever the declared type) and Word .docx files are read through `readText`
// (pdf.js, mammoth), off the event loop; attachments whose text no library here extracts
// (images, other office files, encrypted or broken documents) are listed as unscanned.
// Inputs: raw message bytes. Outputs: findings, or a budget overrun.

import { convert } from 'html-to-text';
import { simpleParser } from 'mailparser';
import type { DetectorName, DetectorSet } from './detectors.js';
import { textKindOf, type AttachmentText, type TextKind } from './attachment-text.js';

/** Reads an attachment's text within `budgetMs`; null when the budget ran out. */
export type TextReader = (kind: TextKind, bytes: Buffer, maxChars: number, budgetMs: number) => Promise<AttachmentText | null>;

export interface Finding {
  detector: DetectorName;
  count: number;
  part: string;
}

export interface ScanResult {
  findings: Finding[];
  /** Attachments that could not be read as text (by content type, never by name). */
  unscanned: string[];
  /** The scan ran out of its time budget: the message must be held. */
  overBudget: boolean;
  subject: string;
  /** Parts scanned, for the trace. */
  parts: number;
  ms: number;
}

const MAX_TEXT = 4 * 1024 * 1024; // per part
const TEXT_TYPES = /^(text\/|application\/(json|xml|csv|x-csv|rtf|x-sh|javascript)|message\/rfc822)/i;

export async function scanMessage(raw: Buffer, detectors: DetectorSet, budgetMs: number, readText?: TextReader): Promise<ScanResult> {
  const t0 = performance.now();
  const deadline = t0 + budgetMs;
  const findings: Finding[] = [];
  const unscanned: string[] = [];
  let parts = 0;
  const over = () => performance.now() > deadline;
  const scanPart = (part: string, text: string) => {
    parts++;
    for (const [detector, count] of Object.entries(detectors.scan(text.slice(0, MAX_TEXT)))) findings.push({ detector: detector as DetectorName, count: count!, part });
  };

  const parsed = await Promise.race([
    simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, maxHtmlLengthToParse: MAX_TEXT }),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), budgetMs).unref()),
  ]);
  if (!parsed) return { findings, unscanned, overBudget: true, subject: '', parts, ms: performance.now() - t0 };

  const subject = parsed.subject ?? '';
  scanPart('subject', subject);
  if (parsed.text) scanPart('text', parsed.text);
  if (typeof parsed.html === 'string' && parsed.html && !over()) {
    scanPart('html', convert(parsed.html.slice(0, MAX_TEXT), { wordwrap: false, selectors: [{ selector: 'a', options: { ignoreHref: true } }, { selector: 'img', format: 'skip' }] }));
  }
  for (const [i, a] of parsed.attachments.entries()) {
    if (over()) break;
    const part = `attachment:${i + 1}`;
    const kind = readText ? textKindOf(a.content, a.contentType, a.filename) : null;
    if (readText && kind) {
      const read = await readText(kind, a.content, MAX_TEXT, deadline - performance.now());
      if (!read) return { findings, unscanned, overBudget: true, subject, parts, ms: performance.now() - t0 };
      if ('text' in read) scanPart(part, read.text);
      else unscanned.push(`${part} (${kind === 'pdf' ? 'application/pdf' : 'docx'}, ${read.unreadable})`);
    } else if (TEXT_TYPES.test(a.contentType)) {
      const text = a.contentType.toLowerCase() === 'text/html' ? convert(a.content.toString('utf8', 0, MAX_TEXT), { wordwrap: false }) : a.content.toString('utf8', 0, MAX_TEXT);
      scanPart(part, text);
    } else {
      unscanned.push(`${part} (${a.contentType})`);
    }
  }
  return { findings, unscanned, overBudget: over(), subject, parts, ms: performance.now() - t0 };
}
