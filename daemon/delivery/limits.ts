// Delivery slots: how many transactions a stream may start now, and which recipient domains
// are at their concurrency or per-minute limit for that stream. Pure bookkeeping (no I/O),
// so the scheduler's fairness can be unit-tested.

export interface Limit {
  concurrency: number;
  /** 0 = unlimited */
  perMinute: number;
}

class Gauge {
  running = 0;
  private starts: number[] = [];

  startsInLastMinute(now: number): number {
    while (this.starts.length > 0 && this.starts[0]! <= now - 60_000) this.starts.shift();
    return this.starts.length;
  }

  free(limit: Limit, now: number): number {
    let free = limit.concurrency - this.running;
    if (limit.perMinute > 0) free = Math.min(free, limit.perMinute - this.startsInLastMinute(now));
    return Math.max(0, free);
  }

  start(now: number): void {
    this.running++;
    this.starts.push(now);
  }
}

export class StreamLimits {
  private readonly pool = new Gauge();
  private readonly domains = new Map<string, Gauge>();

  constructor(
    private readonly streamLimit: Limit,
    private readonly domainLimit: (domain: string) => Limit,
  ) {}

  private gauge(domain: string): Gauge {
    let g = this.domains.get(domain);
    if (!g) this.domains.set(domain, (g = new Gauge()));
    return g;
  }

  /** Transactions this stream may start now. */
  free(now = Date.now()): number {
    return this.pool.free(this.streamLimit, now);
  }

  /** Domains that may not take another transaction now. */
  blockedDomains(now = Date.now()): string[] {
    const out: string[] = [];
    for (const [domain, g] of this.domains) {
      if (g.free(this.domainLimit(domain), now) === 0) out.push(domain);
      else if (g.running === 0 && g.startsInLastMinute(now) === 0) this.domains.delete(domain);
    }
    return out;
  }

  /** Slots left for a domain now (for picking several groups of one domain in one scan). */
  domainFree(domain: string, now = Date.now()): number {
    return this.gauge(domain).free(this.domainLimit(domain), now);
  }

  start(domain: string, now = Date.now()): void {
    this.pool.start(now);
    this.gauge(domain).start(now);
  }

  finish(domain: string): void {
    this.pool.running--;
    this.gauge(domain).running--;
  }

  get running(): number {
    return this.pool.running;
  }
}
