// A pool of DLP scan worker threads (node:worker_threads): scans run beside the event loop
// on the other cores, and a scan that overruns its budget is stopped for real (the worker
// is terminated and replaced) and reported as over budget, so the message is held.
// Inputs: message bytes. Outputs: ScanResult.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DetectorConfig } from './detectors.js';
import type { ScanResult } from './scan.js';

interface Job {
  id: number;
  raw: Buffer;
  budgetMs: number;
  resolve: (r: ScanResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  timer: NodeJS.Timeout | null;
}

const GRACE_MS = 250;

export class ScanPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private config: DetectorConfig;
  private closed = false;

  constructor(config: DetectorConfig, size = Math.min(4, Math.max(1, availableParallelism() - 1))) {
    this.config = config;
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    // a heap cap: a hostile attachment (a PDF bomb) fails its worker, not the daemon
    const worker = new Worker(new URL('./scan-worker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: 512 } });
    const slot: Slot = { worker, job: null, timer: null };
    worker.unref();
    worker.postMessage({ type: 'config', config: this.config });
    worker.on('message', (m: { id: number; result?: ScanResult; error?: string }) => {
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      this.finish(slot);
      if (m.result) job.resolve(m.result);
      else job.reject(new Error(`DLP scan failed: ${m.error}`));
    });
    // a worker that dies mid-scan (out of memory on a hostile attachment) could not finish
    // the scan: like an overrun, the message is held for review rather than refused
    worker.on('error', () => {
      const job = slot.job;
      this.replace(slot);
      job?.resolve({ findings: [], unscanned: [], overBudget: true, subject: '', parts: 0, ms: 0 });
    });
    return slot;
  }

  private finish(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.job = null;
    this.pump();
  }

  private replace(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    void slot.worker.terminate();
    const i = this.slots.indexOf(slot);
    if (i >= 0 && !this.closed) this.slots[i] = this.spawn();
    this.pump();
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.job || this.waiting.length === 0) continue;
      const job = this.waiting.shift()!;
      slot.job = job;
      // the worker enforces the budget between parts; this stops a scan stuck inside one
      slot.timer = setTimeout(() => {
        this.replace(slot);
        job.resolve({ findings: [], unscanned: [], overBudget: true, subject: '', parts: 0, ms: job.budgetMs + GRACE_MS });
      }, job.budgetMs + GRACE_MS);
      slot.worker.postMessage({ type: 'scan', id: job.id, raw: job.raw, budgetMs: job.budgetMs });
    }
  }

  scan(raw: Buffer, budgetMs: number): Promise<ScanResult> {
    if (this.closed) return Promise.reject(new Error('the DLP scan pool is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, raw, budgetMs, resolve, reject });
      this.pump();
    });
  }

  configure(config: DetectorConfig): void {
    this.config = config;
    for (const slot of this.slots) slot.worker.postMessage({ type: 'config', config });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
