// The text of a PDF attachment, for the DLP detectors: pdf.js (Mozilla's pdfjs-dist, legacy
// build for Node) parses the document and returns each page's text items. Script evaluation
// and font loading are off (a PDF is hostile input: CVE-2024-4367 was font code run through
// eval); pages and characters are capped. Runs in a worker thread (text-worker.ts, or the
// DLP scan pool's threads), so a slow or huge document never blocks the event loop and can
// be stopped at the scan's budget.
// Inputs: PDF bytes. Outputs: text, or why there is none (encrypted, unreadable).

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const MAX_PDF_PAGES = 500;

import type { AttachmentText } from './attachment-text.js';

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');
let pdfjs: Promise<PdfJs> | null = null;

const cmaps = join(dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json')), 'cmaps') + '/';

export async function extractPdfText(pdf: Uint8Array, maxChars: number): Promise<AttachmentText> {
  pdfjs ??= import('pdfjs-dist/legacy/build/pdf.mjs');
  const { getDocument } = await pdfjs;
  // pdf.js takes ownership of (and detaches) the buffer it is given: hand it a copy
  const task = getDocument({
    data: new Uint8Array(pdf),
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    enableXfa: false,
    stopAtErrors: false,
    verbosity: 0,
    cMapUrl: cmaps,
    cMapPacked: true,
  });
  let doc;
  try {
    doc = await task.promise;
  } catch (err) {
    await task.destroy();
    return { unreadable: (err as Error).name === 'PasswordException' ? 'encrypted' : 'unreadable' };
  }
  try {
    const out: string[] = [];
    let length = 0;
    for (let n = 1; n <= Math.min(doc.numPages, MAX_PDF_PAGES) && length < maxChars; n++) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      for (const item of content.items) {
        if (!('str' in item)) continue;
        out.push(item.str, item.hasEOL ? '\n' : ' ');
        length += item.str.length + 1;
      }
      out.push('\n');
      page.cleanup();
    }
    return { text: out.join('').slice(0, maxChars) };
  } catch {
    return { unreadable: 'unreadable' };
  } finally {
    await doc.destroy();
  }
}
