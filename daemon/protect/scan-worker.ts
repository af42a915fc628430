// A DLP scan worker thread: receives the detector configuration (at start and on changes),
// then messages to scan; answers with the scan result. Runs off the event loop, so intake keeps serving while a
// large message is scanned, and the pool can stop a scan that overruns its budget.

import { parentPort } from 'node:worker_threads';
import { DetectorSet, type DetectorConfig } from './detectors.js';
import { extractText } from './attachment-text.js';
import { scanMessage, type TextReader } from './scan.js';

// in this thread: the pool terminates the whole worker if a document runs past the budget
const readText: TextReader = (kind, bytes, maxChars, budgetMs) =>
  Promise.race([extractText(kind, bytes, maxChars), new Promise<null>((resolve) => setTimeout(() => resolve(null), Math.max(1, budgetMs)).unref())]);

let detectors = new DetectorSet({ mrnPatterns: [], keywords: [] });

parentPort!.on('message', (m: { init: DetectorConfig } | { config: DetectorConfig } | { id: number; job: { raw: Uint8Array; budgetMs: number } }) => {
  if ('init' in m || 'config' in m) {
    detectors = new DetectorSet('init' in m ? m.init : m.config);
    return;
  }
  const raw = Buffer.from(m.job.raw.buffer, m.job.raw.byteOffset, m.job.raw.byteLength);
  scanMessage(raw, detectors, m.job.budgetMs, readText).then(
    (result) => parentPort!.postMessage({ id: m.id, result }),
    (err: Error) => parentPort!.postMessage({ id: m.id, error: err.message }),
  );
});
