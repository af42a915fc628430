// Durability: a flood of submissions from several concurrent clients, kill -9 of the daemon
// in the middle, restart: every message that got 250 is in the queue. And at rest: a marker
// submitted in a message appears in no file under data_dir (database, WAL, keys, anything).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { QueueEntry } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { transport } from '../helpers/smtp.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    const st = statSync(p);
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });
}

describe('durability', () => {
  const d = new TestDaemon();
  after(() => d.cleanup());

  it('loses no acknowledged message when killed with SIGKILL mid-flood', async () => {
    await d.start();
    const pass = await d.addApp('flood');
    const acked: string[] = [];
    let stop = false;
    let enoughAcked: () => void = () => undefined;
    const killPoint = new Promise<void>((r) => (enoughAcked = r));
    const clients = Array.from({ length: 6 }, async (_, n) => {
      const t = transport(d.ports.submission, { secure: false, user: 'flood', pass, pool: true, maxConnections: 2 });
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 400 && !stop; i++) {
        sends.push(
          t.sendMail({ from: `c${n}@clinic.test`, to: `p${i}@example.org`, subject: `m${n}-${i}`, text: 'x'.repeat(2000) }).then(
            (info) => {
              acked.push(info.response.split(' ').pop()!);
              if (acked.length === 300) enoughAcked();
            },
            () => undefined, // refused or cut off by the kill: never acknowledged
          ),
        );
        if (sends.length % 4 === 0) await Promise.race(sends);
      }
      await Promise.allSettled(sends);
      t.close();
    });
    // kill once a good share has been acknowledged, while clients are still sending
    await killPoint;
    await d.kill9();
    stop = true;
    await Promise.all(clients);
    const ackedAtKill = acked.length;
    assert.ok(ackedAtKill >= 300);

    await d.start();
    const queue = await d.cliJson<QueueEntry[]>(['queue', 'list', '--limit', '100000']);
    const present = new Set(queue.map((q) => q.id));
    const lost = acked.filter((id) => !present.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${ackedAtKill} acknowledged messages lost`);
    const verify = await d.cliJson<{ ok: boolean }>(['audit', 'verify']);
    assert.equal(verify.ok, true);
  });

  it('keeps message content out of every file under data_dir', async () => {
    const pass = (await d.cliJson<{ password: string }>(['app', 'rotate', 'flood'])).password;
    const marker = 'PHI-MARKER-7f3a9c1e-Jane-Doe-SSN-078-05-1120';
    const t = transport(d.ports.submission, { secure: false, user: 'flood', pass });
    await t.sendMail({ from: 'doc@clinic.test', to: 'p@example.org', subject: `Results ${marker}`, text: `Dear patient ${marker}`, attachments: [{ filename: 'lab.txt', content: marker }] });
    const files = filesUnder(join(d.dir, 'var'));
    assert.ok(files.some((f) => f.endsWith('-wal')), 'the WAL is among the scanned files');
    for (const f of files) {
      const bytes = readFileSync(f);
      assert.equal(bytes.indexOf(marker), -1, `marker found in clear in ${f}`);
      assert.equal(bytes.indexOf(Buffer.from(marker).toString('base64').slice(0, 24)), -1, `marker found base64-encoded in ${f}`);
    }
  });
});
