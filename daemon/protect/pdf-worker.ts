// The PDF text worker thread: receives PDF bytes, answers with their text (pdf-text.ts).
// Its parent (PdfExtractor) terminates it when a document overruns the scan's budget.

import { parentPort } from 'node:worker_threads';
import { extractPdfText } from './pdf-text.js';

parentPort!.on('message', (m: { id: number; pdf: Uint8Array; maxChars: number }) => {
  extractPdfText(m.pdf, m.maxChars).then(
    (result) => parentPort!.postMessage({ id: m.id, result }),
    () => parentPort!.postMessage({ id: m.id, result: { unreadable: 'unreadable' } }),
  );
});
