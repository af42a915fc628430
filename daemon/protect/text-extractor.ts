// Attachment text extraction (PDF, docx) off the event loop, for the inline DLP scan: one
// budgeted worker thread (budgeted-worker.ts) with a 256 MB heap, so a document past the
// scan's budget is stopped and a PDF or zip bomb that exhausts the heap is "unreadable".
// Inputs: bytes, kind and a budget. Outputs: AttachmentText, or null when the budget ran out.

import type { AttachmentText, TextKind } from './attachment-text.js';
import { BudgetedWorker } from '../threads/budgeted-worker.js';

/** Heap for pdf.js and mammoth: a PDF or zip bomb fails the worker, not the daemon. */
const WORKER_HEAP_MB = 256;

export class TextExtractor {
  private readonly worker = new BudgetedWorker<{ kind: TextKind; bytes: Uint8Array; maxChars: number }, AttachmentText>(new URL('./text-worker.js', import.meta.url), { heapMb: WORKER_HEAP_MB });

  /** The text of an attachment, or null if `budgetMs` ran out first. */
  async extract(kind: TextKind, bytes: Uint8Array, maxChars: number, budgetMs: number): Promise<AttachmentText | null> {
    const o = await this.worker.run({ kind, bytes, maxChars }, budgetMs);
    if (o.kind === 'timeout') return null;
    return o.kind === 'done' ? o.result : { unreadable: 'unreadable' };
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
