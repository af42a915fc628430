// One worker thread that runs jobs within a time budget, for work on hostile input that must
// not block the event loop nor run forever (DLP scans, PDF and Word text). Jobs run one at a
// time, in order. A job past its budget gets the thread terminated (a fresh one starts for the
// next job); a thread that dies (out of its heap cap, a crash in a library) fails only the job
// it was running. Events of a thread already replaced are ignored.
// Protocol with the worker script: it receives `{ init }` once when it starts (when `init` is
// given) and `{ id, job }` per job, and answers `{ id, result }` or `{ id, error }`.
// Inputs: jobs and budgets. Outputs: the job's result, or why there is none.

import { Worker } from 'node:worker_threads';

export type Outcome<R> = { kind: 'done'; result: R } | { kind: 'failed'; error: string } | { kind: 'timeout' } | { kind: 'died' };

interface Running<R> {
  id: number;
  resolve: (o: Outcome<R>) => void;
  timer: NodeJS.Timeout;
}

export class BudgetedWorker<J, R> {
  private worker: Worker | null = null;
  private running: Running<R> | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private queued = 0;

  constructor(
    private readonly script: URL,
    private readonly opts: { heapMb: number; init?: () => unknown },
  ) {}

  /** Whether a job is running or waiting. */
  get busy(): boolean {
    return this.queued > 0;
  }

  run(job: J, budgetMs: number): Promise<Outcome<R>> {
    this.queued++;
    const done = this.tail.then(() => this.start(job, budgetMs));
    this.tail = done;
    return done.finally(() => this.queued--);
  }

  /** Starts the thread now rather than with the first job (its start-up then never eats a budget). */
  warm(): void {
    this.ensureWorker();
  }

  /** Sends a message to the live thread (a thread started later gets `init` instead). */
  post(message: unknown): void {
    this.worker?.postMessage(message);
  }

  private start(job: J, budgetMs: number): Promise<Outcome<R>> {
    const worker = this.ensureWorker();
    return new Promise((resolve) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.running = null;
        this.kill();
        resolve({ kind: 'timeout' });
      }, Math.max(1, budgetMs));
      this.running = { id, resolve, timer };
      worker.postMessage({ id, job });
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.script, { resourceLimits: { maxOldGenerationSizeMb: this.opts.heapMb } });
    worker.unref();
    if (this.opts.init) worker.postMessage({ init: this.opts.init() });
    worker.on('message', (m: { id: number; result?: R; error?: string }) => this.settle(m.id, m.error !== undefined ? { kind: 'failed', error: m.error } : { kind: 'done', result: m.result as R }));
    const died = () => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.settle(this.running?.id ?? 0, { kind: 'died' });
    };
    worker.on('error', died);
    worker.on('exit', died);
    this.worker = worker;
    return worker;
  }

  private settle(id: number, outcome: Outcome<R>): void {
    const r = this.running;
    if (!r || r.id !== id) return;
    this.running = null;
    clearTimeout(r.timer);
    r.resolve(outcome);
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
