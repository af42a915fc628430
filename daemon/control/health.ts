// System health for the console and `sealpost status`: CPU load, memory, disks and load
// average from systeminformation (about half a second of work, so cached for 5 seconds),
// the TLS certificate's days left, queue counts.
// Inputs: the system. Output: HealthResult.

import { statfsSync } from 'node:fs';
import si from 'systeminformation';
import type { HealthResult } from '../../shared/domain.js';

const CACHE_MS = 5000;

export class Health {
  private cached: { at: number; value: Omit<HealthResult, 'queue' | 'uptime_s' | 'tls_days_left'> } | null = null;

  constructor(private readonly deps: { dataDir: string; tlsNotAfter: Date; name: string; version: string; startedAt: number; queue: () => HealthResult['queue'] }) {}

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
    return {
      ...this.cached.value,
      tls_days_left: Math.floor((this.deps.tlsNotAfter.getTime() - Date.now()) / 86_400_000),
      queue: this.deps.queue(),
      uptime_s: Math.round((Date.now() - this.deps.startedAt) / 1000),
    };
  }
}
