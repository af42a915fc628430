// AUTH brute force (RELIABILITY.md B1.8): a connection is dropped with 421 after 3 failures;
// past the per-IP limit even the right password gets 454 until the lockout passes; every
// failure is one audit entry; nothing is queued.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEntry } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { RawSmtp } from '../helpers/smtp.js';

const plain = (u: string, p: string) => `AUTH PLAIN ${Buffer.from(`\0${u}\0${p}`).toString('base64')}`;

/** A new connection that fails AUTH three times: 535, 535, then the third reply. */
async function threeFailures(port: number, user: string, guesses: [string, string, string]) {
  const c = await RawSmtp.open(port);
  assert.equal((await c.cmd('EHLO brute.test')).code, 250);
  assert.equal((await c.cmd(plain(user, guesses[0]))).code, 535);
  assert.equal((await c.cmd(plain(user, guesses[1]))).code, 535);
  return { c, third: await c.cmd(plain(user, guesses[2])) };
}

describe('AUTH failure limits', () => {
  const d = new TestDaemon({ smtpToml: 'auth_failures_per_ip = 6\nlockout_minutes = 15' });
  let pass = '';
  before(async () => {
    await d.start();
    pass = await d.addApp('ehr');
  });
  after(() => d.cleanup());

  it('drops the connection with 421 4.7.0 after the third failure', async () => {
    const { c, third } = await threeFailures(d.ports.submission_tls, 'ehr', ['guess1', 'guess2', 'guess3']);
    assert.equal(third.code, 421);
    assert.match(third.lines[0]!, /4\.7\.0/);
    assert.equal((await c.reply()).code, 0, 'connection closed');
  });

  it('locks the IP out with 454 once the per-IP limit is reached, even for the right password', async () => {
    const { third } = await threeFailures(d.ports.submission_tls, 'nosuchapp', ['x', 'y', 'z']);
    assert.equal(third.code, 421);
    const c2 = await RawSmtp.open(d.ports.submission_tls);
    assert.equal((await c2.cmd('EHLO brute.test')).code, 250);
    const locked = await c2.cmd(plain('ehr', pass));
    assert.equal(locked.code, 454);
    assert.match(locked.lines[0]!, /4\.7\.0/);
    c2.close();
  });

  it('writes one audit entry per failure, without the attempted password', async () => {
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '100']);
    const failures = audit.filter((e) => e.action === 'smtp.auth_failed');
    assert.equal(failures.length, 6);
    assert.equal(audit.filter((e) => e.action === 'smtp.auth_locked').length, 1);
    assert.ok(!JSON.stringify(audit).includes('guess'), 'attempted passwords never reach the audit');
    assert.equal((await d.cliJson<unknown[]>(['queue', 'list'])).length, 0);
  });
});
