// The attachment text worker thread: receives an attachment's bytes and kind (PDF, docx),
// answers with its text (attachment-text.ts). Its parent (a BudgetedWorker) terminates it
// when a document overruns the scan's budget.

import { parentPort } from 'node:worker_threads';
import { extractText, type TextKind } from './attachment-text.js';

parentPort!.on('message', (m: { id: number; job: { kind: TextKind; bytes: Uint8Array; maxChars: number } }) => {
  extractText(m.job.kind, m.job.bytes, m.job.maxChars).then(
    (result) => parentPort!.postMessage({ id: m.id, result }),
    () => parentPort!.postMessage({ id: m.id, result: { unreadable: 'unreadable' } }),
  );
});
