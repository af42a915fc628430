// A pool of DLP scan worker threads (budgeted-worker.ts): scans run beside the event loop on
// the other cores, and a scan that overruns its budget is stopped for real (the thread is
// terminated and replaced) and reported as over budget, so the message is held; a thread that
// dies mid-scan (out of its heap on a hostile attachment) holds its message the same way.
// Each job goes to an idle thread; the rest wait in order.
// Inputs: message bytes. Outputs: ScanResult.

import { availableParallelism } from 'node:os';
import { BudgetedWorker } from '../threads/budgeted-worker.js';
import type { DetectorConfig } from './detectors.js';
import type { ScanResult } from './scan.js';

interface Job {
  raw: Buffer;
  budgetMs: number;
  resolve: (r: ScanResult) => void;
  reject: (e: Error) => void;
}

/** The thread enforces the budget between parts itself; this margin catches a scan stuck inside one. */
const GRACE_MS = 250;
/** A heap cap: a hostile attachment (a PDF bomb) fails its thread, not the daemon. */
const WORKER_HEAP_MB = 512;

const heldUnscanned = (ms: number): ScanResult => ({ findings: [], unscanned: [], overBudget: true, subject: '', parts: 0, ms });

export class ScanPool {
  private readonly workers: Array<BudgetedWorker<{ raw: Buffer; budgetMs: number }, ScanResult>>;
  private readonly waiting: Job[] = [];
  private config: DetectorConfig;
  private closed = false;

  constructor(config: DetectorConfig, size = Math.min(4, Math.max(1, availableParallelism() - 1))) {
    this.config = config;
    this.workers = Array.from({ length: size }, () => new BudgetedWorker(new URL('./scan-worker.js', import.meta.url), { heapMb: WORKER_HEAP_MB, init: () => this.config }));
    for (const w of this.workers) w.warm();
  }

  private pump(): void {
    for (const worker of this.workers) {
      if (worker.busy || this.waiting.length === 0) continue;
      const job = this.waiting.shift()!;
      void worker.run({ raw: job.raw, budgetMs: job.budgetMs }, job.budgetMs + GRACE_MS).then((o) => {
        if (o.kind === 'done') job.resolve(o.result);
        else if (o.kind === 'failed') job.reject(new Error(`DLP scan failed: ${o.error}`));
        else job.resolve(heldUnscanned(job.budgetMs + GRACE_MS));
        this.pump();
      });
    }
  }

  scan(raw: Buffer, budgetMs: number): Promise<ScanResult> {
    if (this.closed) return Promise.reject(new Error('the DLP scan pool is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ raw, budgetMs, resolve, reject });
      this.pump();
    });
  }

  configure(config: DetectorConfig): void {
    this.config = config;
    for (const worker of this.workers) worker.post({ config });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
