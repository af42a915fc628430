// test/bench/backup: how long an online backup and a restore take for a store of N messages
// with 10 KB sealed bodies (rows written straight into a stopped daemon's database): the
// recovery-time figure for a restore drill. Intake's slowdown during a backup is not measured.
//
//   npm run bench:backup            (BENCH_MESSAGES=20000 by default)

import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { BackupInfo, RestoreInfo } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { machine } from './load.js';

const N = Number(process.env.BENCH_MESSAGES ?? 20_000);
const d = new TestDaemon();
await d.start();
try {
  await d.stop();
  const db = new Database(join(d.dir, 'var', 'sealpost.db'));
  db.transaction(() => {
    const m = db.prepare("INSERT INTO messages (id, received_at, app, stream, sender, size, message_id, client_ip) VALUES (?, ?, 'bench', 'transactional', 'doc@clinic.test', 10240, '<m@x>', '127.0.0.1')");
    const b = db.prepare('INSERT INTO bodies (message_id, sealed) VALUES (?, ?)');
    const r = db.prepare("INSERT INTO recipients (message_id, address, domain, state, next_attempt_at, updated_at) VALUES (?, ?, 'example.org', 'deferred', ?, 0)");
    for (let i = 0; i < N; i++) {
      const id = `K${String(i).padStart(13, '0')}`;
      m.run(id, Date.now());
      b.run(id, randomBytes(10_300)); // sealed bodies do not compress
      r.run(id, `patient${i}@example.org`, Date.now() + 86_400_000);
    }
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const dbBytes = statSync(join(d.dir, 'var', 'sealpost.db')).size;
  await d.start();
  const out = join(d.dir, 'bench.backup');
  const t0 = performance.now();
  const b = await d.cliJson<BackupInfo>(['backup', '--out', out]);
  const backupMs = performance.now() - t0;
  await d.stop();
  const t1 = performance.now();
  const r = await d.cliJson<RestoreInfo>(['restore', out, '--config', d.configPath]);
  const restoreMs = performance.now() - t1;
  console.log(`backup bench: ${N} messages, database ${(dbBytes / 1e6).toFixed(0)} MB; ${machine()}`);
  console.log(`backup  ${(backupMs / 1000).toFixed(1)} s (daemon ${b.ms} ms, ${((dbBytes / 1e6) / (b.ms / 1000)).toFixed(0)} MB/s), file ${(b.bytes / 1e6).toFixed(0)} MB`);
  console.log(`restore ${(restoreMs / 1000).toFixed(1)} s (decrypt, integrity_check, hold ${r.held} recipients, re-anchor the audit chain)`);
} finally {
  await d.cleanup();
}
process.exit(0);
