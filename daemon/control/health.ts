// System health for the console and `sealpost status`: CPU load, memory, disks and load
// average from systeminformation (about half a second of work, so cached for 5 seconds),
// the TLS certificate's days left, queue counts.
// Inputs: the system. Output: HealthResult.

import { statfsSync } from 'node:fs';
import si from 'systeminformation';
import type { HealthResult } from '../../shared/domain.js';
import type { Db } from '../store/db.js';

const CACHE_MS = 5000;

export class Health {
  private cached: { at: number; value: Omit<HealthResult, 'queue' | 'uptime_s' | 'tls_days_left' | 'delivered_per_minute' | 'alerts'> } | null = null;

  constructor(
    private readonly deps: {
      db: Db;
      dataDir: string;
      tlsNotAfter: Date;
      name: string;
      version: string;
      startedAt: number;
      deliveryPaused: boolean;
      queue: () => HealthResult['queue'];
    },
  ) {}

  private throughput(): number[] {
    const now = Date.now();
    const first = Math.floor(now / 60_000) - 29;
    const rows = this.deps.db.prepare("SELECT at / 60000 AS minute, count(*) AS n FROM attempts WHERE outcome = 'delivered' AND at >= ? GROUP BY minute").all(first * 60_000) as Array<{ minute: number; n: number }>;
    const out = new Array<number>(30).fill(0);
    for (const r of rows) {
      const i = Math.floor(r.minute) - first;
      if (i >= 0 && i < 30) out[i] = r.n;
    }
    return out;
  }

  private alerts(h: Omit<HealthResult, 'alerts'>): string[] {
    const out: string[] = [];
    if (h.tls_days_left < 14) out.push(`the TLS certificate expires in ${h.tls_days_left} days`);
    if (h.data_dir_free_bytes !== null && h.data_dir_free_bytes < 2 * 1024 ** 3) out.push(`only ${(h.data_dir_free_bytes / 1024 ** 3).toFixed(1)} GB free for the data directory`);
    if ((h.queue.held ?? 0) > 0) out.push(`${h.queue.held} recipient(s) held: review with :queue held`);
    const degraded = (this.deps.db.prepare('SELECT count(*) AS n FROM tls_domains WHERE degraded = 1').get() as { n: number }).n;
    if (degraded > 0) out.push(`${degraded} recipient domain(s) lost TLS quality (sealpost tls)`);
    if (this.deps.deliveryPaused) out.push('delivery is paused (delivery.paused): mail is only queued');
    return out;
  }

  async get(): Promise<HealthResult> {
    if (!this.cached || Date.now() - this.cached.at > CACHE_MS) {
      const [load, mem, disks] = await Promise.all([si.currentLoad(), si.mem(), si.fsSize()]);
      let free: number | null = null;
      try {
        const st = statfsSync(this.deps.dataDir);
        free = st.bavail * st.bsize;
      } catch {
        free = null;
      }
      this.cached = {
        at: Date.now(),
        value: {
          cpu_load_pct: Math.round(load.currentLoad * 10) / 10,
          load_avg: [load.avgLoad],
          mem_used_pct: Math.round((mem.active / mem.total) * 1000) / 10,
          mem_total_bytes: mem.total,
          disks: disks.filter((d) => d.size > 0).map((d) => ({ mount: d.mount, used_pct: Math.round(d.use * 10) / 10, size_bytes: d.size })),
          data_dir_free_bytes: free,
          version: this.deps.version,
          name: this.deps.name,
        },
      };
    }
    const h = {
      ...this.cached.value,
      tls_days_left: Math.floor((this.deps.tlsNotAfter.getTime() - Date.now()) / 86_400_000),
      queue: this.deps.queue(),
      uptime_s: Math.round((Date.now() - this.deps.startedAt) / 1000),
      delivered_per_minute: this.throughput(),
    };
    return { ...h, alerts: this.alerts(h) };
  }
}
