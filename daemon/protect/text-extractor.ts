// Attachment text extraction (PDF, docx) off the event loop, for the inline DLP scan: one
// worker thread, started on the first such attachment and kept, with a memory cap; a
// document that overruns its time budget gets the worker terminated (and a fresh one next
// time), a document that exhausts the memory cap (a PDF or zip bomb) is "unreadable".
// Jobs run one at a time, in order.
// Inputs: bytes, kind and a budget. Outputs: AttachmentText, or null when the budget ran out.

import { Worker } from 'node:worker_threads';
import type { AttachmentText, TextKind } from './attachment-text.js';

/** Heap for pdf.js and mammoth: a PDF or zip bomb fails the worker, not the daemon. */
const WORKER_HEAP_MB = 256;

interface Pending {
  id: number;
  resolve: (r: AttachmentText | null) => void;
  timer: NodeJS.Timeout;
}

export class TextExtractor {
  private worker: Worker | null = null;
  private pending: Pending | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private nextId = 1;

  /** The text of an attachment, or null if `budgetMs` ran out first. */
  extract(kind: TextKind, bytes: Uint8Array, maxChars: number, budgetMs: number): Promise<AttachmentText | null> {
    const run = this.tail.then(() => this.run(kind, bytes, maxChars, budgetMs));
    this.tail = run;
    return run;
  }

  private run(kind: TextKind, bytes: Uint8Array, maxChars: number, budgetMs: number): Promise<AttachmentText | null> {
    const worker = this.ensureWorker();
    return new Promise((resolve) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending = null;
        this.kill();
        resolve(null);
      }, Math.max(1, budgetMs));
      this.pending = { id, resolve, timer };
      worker.postMessage({ id, kind, bytes, maxChars });
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./text-worker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    worker.unref();
    worker.on('message', (m: { id: number; result: AttachmentText }) => this.settle(m.id, m.result));
    // out of memory, or a crash inside the reader: this document is unreadable, the next one gets
    // a new worker (events of a worker already replaced are ignored)
    const died = () => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.settle(this.pending?.id ?? 0, { unreadable: 'unreadable' });
    };
    worker.on('error', died);
    worker.on('exit', died);
    this.worker = worker;
    return worker;
  }

  private settle(id: number, result: AttachmentText): void {
    const p = this.pending;
    if (!p || p.id !== id) return;
    this.pending = null;
    clearTimeout(p.timer);
    p.resolve(result);
  }

  private kill(): void {
    const w = this.worker;
    this.worker = null;
    void w?.terminate();
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }
}
