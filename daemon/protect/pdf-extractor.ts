// PDF text extraction off the event loop, for the inline DLP scan: one worker thread,
// started on the first PDF and kept, with a memory cap; a document that overruns its time
// budget gets the worker terminated (and a fresh one next time), a document that exhausts
// the memory cap is "unreadable". Jobs run one at a time, in order.
// Inputs: PDF bytes and a budget. Outputs: PdfText, or null when the budget ran out.

import { Worker } from 'node:worker_threads';
import type { PdfText } from './pdf-text.js';

/** Heap for pdf.js: a PDF bomb fails the worker, not the daemon. */
const WORKER_HEAP_MB = 256;

interface Pending {
  id: number;
  resolve: (r: PdfText | null) => void;
  timer: NodeJS.Timeout;
}

export class PdfExtractor {
  private worker: Worker | null = null;
  private pending: Pending | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private nextId = 1;

  /** The text of `pdf`, or null if `budgetMs` ran out first. */
  extract(pdf: Uint8Array, maxChars: number, budgetMs: number): Promise<PdfText | null> {
    const run = this.tail.then(() => this.run(pdf, maxChars, budgetMs));
    this.tail = run;
    return run;
  }

  private run(pdf: Uint8Array, maxChars: number, budgetMs: number): Promise<PdfText | null> {
    const worker = this.ensureWorker();
    return new Promise((resolve) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending = null;
        this.kill();
        resolve(null);
      }, Math.max(1, budgetMs));
      this.pending = { id, resolve, timer };
      worker.postMessage({ id, pdf, maxChars });
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./pdf-worker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    worker.unref();
    worker.on('message', (m: { id: number; result: PdfText }) => this.settle(m.id, m.result));
    // out of memory, or a crash inside pdf.js: this document is unreadable, the next one gets
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

  private settle(id: number, result: PdfText): void {
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
