// System health for the console and `sealpost status`: CPU load, memory, disks and load
// average from systeminformation (about half a second of work, so cached for 5 seconds),
// the TLS certificate's days left, queue counts, the last backup and WAL checkpoint.
// Inputs: the system. Output: HealthResult.

import { statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import si from 'systeminformation';
import type { HealthResult } from '../../shared/domain.js';
import type { Db } from '../store/db.js';

const CACHE_MS = 5000;
const BACKUP_STALE_MS = 7 * 86_400_000;

export class Health {
  private cached: { at: number; value: Omit<HealthResult, 'queue' | 'uptime_s' | 'tls_days_left' | 'delivered_per_minute' | 'alerts' | 'last_backup_at' | 'checkpoint_age_s' | 'wal_bytes'> } | null = null;

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
      /** When the daemon last checkpointed the WAL (null: not yet). */
      lastCheckpoint: () => number | null;
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
    if (h.last_backup_at === null) out.push('no backup yet: sealpost backup --out FILE (and keep the master key apart from it)');
    else if (Date.now() - Date.parse(h.last_backup_at) > BACKUP_STALE_MS) out.push(`the last backup is ${Math.floor((Date.now() - Date.parse(h.last_backup_at)) / 86_400_000)} days old`);
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
    const backup = this.deps.db.prepare("SELECT value FROM meta WHERE key = 'backup.last'").get() as { value: string } | undefined;
    const checkpoint = this.deps.lastCheckpoint();
    let wal = 0;
    try {
      wal = statSync(join(this.deps.dataDir, 'sealpost.db-wal')).size;
    } catch {
      wal = 0;
    }
    const h = {
      ...this.cached!.value,
      last_backup_at: backup ? (JSON.parse(backup.value) as { created_at: string }).created_at : null,
      checkpoint_age_s: checkpoint === null ? null : Math.round((Date.now() - checkpoint) / 1000),
      wal_bytes: wal,
      tls_days_left: Math.floor((this.deps.tlsNotAfter.getTime() - Date.now()) / 86_400_000),
      queue: this.deps.queue(),
      uptime_s: Math.round((Date.now() - this.deps.startedAt) / 1000),
      delivered_per_minute: this.throughput(),
    };
    return { ...h, alerts: this.alerts(h) };
  }
}
