// Console views with ink-testing-library and a stand-in for the control API (the real API
// is driven by the tmux end-to-end test): home shows alerts, counts and the throughput
// line; ":queue" renders the table; "?" the help; an unreachable daemon is said plainly.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { render } from 'ink-testing-library';
import type { HealthResult, QueueEntry, StatusResult } from '../../shared/domain.js';
import { App, sparkline, type ConsoleApi } from '../../console/tui/app.js';

const health: HealthResult = {
  cpu_load_pct: 12.5,
  load_avg: [0.42],
  mem_used_pct: 33.1,
  mem_total_bytes: 8e9,
  disks: [{ mount: '/', used_pct: 40, size_bytes: 1e11 }],
  data_dir_free_bytes: 5e10,
  tls_days_left: 9,
  queue: { deferred: 2, held: 1 },
  uptime_s: 600,
  version: '0.1.0',
  name: 'Clinic Mail',
  delivered_per_minute: [0, 1, 2, 4, 8],
  alerts: ['the TLS certificate expires in 9 days', '1 recipient(s) held: review with :queue held'],
  last_backup_at: new Date(Date.now() - 3 * 3600_000).toISOString(),
  checkpoint_age_s: 42,
  wal_bytes: 2_500_000,
};
const status = { queue: { depth: 3, by_state: {} }, listeners: [{ name: 'submission', address: '127.0.0.1:2587' }] } as unknown as StatusResult;
const rows: QueueEntry[] = [{ id: 'ABC123DEF45678', state: 'deferred', stream: 'transactional', app: 'ehr', sender: 's@clinic.test', received_at: '2026-12-03T10:00:00.000Z', size: 10, recipients: ['pat@x.test'] } as QueueEntry];

function api(overrides: Partial<ConsoleApi> = {}): ConsoleApi {
  return {
    status: async () => status,
    health: async () => health,
    queue: async () => ({ total: rows.length, offset: 0, rows }),
    perform: async () => 'done',
    whoami: async () => ({ user: 'root', role: 'admin' }),
    lines: async () => ['a line'],
    ...overrides,
  };
}

/** The frame once it contains `text` (the app renders after its first API answers). */
async function frameWith(get: () => string | undefined, text: string | RegExp): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const f = get() ?? '';
    if (typeof text === 'string' ? f.includes(text) : text.test(f)) return f;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`never rendered ${String(text)}:\n${get() ?? ''}`);
}

describe('console views', () => {
  it('draws a throughput sparkline', () => {
    assert.equal(sparkline([0, 1, 2, 4, 8]), ' ▁▂▄█');
    assert.equal(sparkline([0, 0]), '  ');
  });

  it('home shows alerts, queue counts, the throughput line and health', async () => {
    const app = render(<App api={api()} />);
    const f = await frameWith(app.lastFrame, 'TLS certificate: 9 days left');
    assert.match(f, /! the TLS certificate expires in 9 days/);
    assert.match(f, /! 1 recipient\(s\) held/);
    assert.match(f, /depth 3\s+deferred 2\s+held 1/);
    assert.match(f, /delivered\/min \(30 min\) \[ ▁▂▄█\] last 8, peak 8/);
    assert.match(f, /CPU 12\.5%/);
    assert.match(f, /last backup 3 h ago   WAL checkpoint 42 s ago \(WAL 2\.5 MB\)/);
    app.unmount();
  });

  it(':queue renders the table, ? the help', async () => {
    const app = render(<App api={api()} />);
    await frameWith(app.lastFrame, 'Queue');
    app.stdin.write(':queue');
    app.stdin.write('\r');
    const table = await frameWith(app.lastFrame, 'ABC123DEF45678');
    assert.match(table, /deferred\s+transactional/);
    assert.match(table, /1\/1/);
    app.stdin.write('?');
    await frameWith(app.lastFrame, ':queue [state]');
    app.unmount();
  });

  it('says when the daemon is unreachable', async () => {
    const down = api({ status: async () => Promise.reject(new Error('control socket /run/x.sock: ECONNREFUSED')) });
    const app = render(<App api={down} />);
    await frameWith(app.lastFrame, /daemon unreachable: control socket \/run\/x\.sock: ECONNREFUSED \(retrying\)/);
    app.unmount();
  });
});
