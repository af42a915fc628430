// AUTH failure limits (RELIABILITY.md B1.8): counts failures per client IP and per app
// name in a sliding window; past the limit the IP or the app is locked out (4xx) until the
// window has passed. The per-connection limit lives in the SMTP session itself.
// Durations use the monotonic clock, so a wall-clock jump neither lifts nor extends a lockout.

import { performance } from 'node:perf_hooks';

export class FailureWindow {
  private failures = new Map<string, number[]>();
  constructor(private readonly limit: number, private readonly windowMs: number, private readonly now = () => performance.now()) {}

  private recent(key: string): number[] {
    const t = this.now();
    const list = (this.failures.get(key) ?? []).filter((x) => t - x < this.windowMs);
    if (list.length === 0) this.failures.delete(key);
    else this.failures.set(key, list);
    return list;
  }

  record(key: string): void {
    const list = this.recent(key);
    list.push(this.now());
    this.failures.set(key, list);
    if (this.failures.size > 100_000) this.sweep();
  }

  locked(key: string): boolean {
    return this.recent(key).length >= this.limit;
  }

  clear(key: string): void {
    this.failures.delete(key);
  }

  private sweep(): void {
    for (const key of [...this.failures.keys()]) this.recent(key);
  }
}
