// SMTP smuggling (RELIABILITY.md B1.1-2): every fake end-of-data sequence made of bare CR,
// bare LF or NUL, followed by a smuggled MAIL/RCPT/DATA, must yield no second message. With
// bare_newline = "normalize" the whole input is one message whose stored bytes have only
// CRLF line ends (so no bare sequence can be relayed on); with "reject" it is refused 550.
// NUL is refused in either mode.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { QueueEntry } from '../../shared/domain.js';
import { readStoredBody, TestDaemon } from '../helpers/daemon.js';
import { RawSmtp } from '../helpers/smtp.js';

const FAKE_ENDS = ['\n.\n', '\n.\r\n', '\r.\r\n', '\r.\r', '\r\n.\n', '\r.\n', '\n.\r'];
const NUL_ENDS = ['\r\n\0.\r\n', '\r\n.\0\r\n'];

function smuggle(end: string): string {
  return (
    'From: frontdesk@clinic.test\r\nTo: patient@example.org\r\nSubject: smuggle\r\n\r\nfirst message' +
    end +
    'MAIL FROM:<frontdesk@clinic.test>\r\nRCPT TO:<victim@evil.example>\r\nDATA\r\n' +
    'From: frontdesk@clinic.test\r\nSubject: smuggled\r\n\r\nsecond message\r\n.\r\n'
  );
}

async function submit(port: number, pass: string, data: string): Promise<{ codes: number[]; id: string | null }> {
  const c = await RawSmtp.open(port);
  await c.login('ehr', pass);
  await c.beginData('frontdesk@clinic.test', ['patient@example.org']);
  c.write(data);
  const end = await c.reply();
  // RSET+NOOP flush anything the server might still answer for smuggled commands
  const rset = await c.cmd('RSET');
  const noop = await c.cmd('NOOP');
  const stray = c.pendingReplies();
  c.close();
  assert.equal(rset.code, 250, `RSET answered ${rset.lines.join('|')} (a smuggled command was executed)`);
  assert.equal(noop.code, 250);
  assert.deepEqual(stray, []);
  return { codes: [end.code], id: end.code === 250 ? end.lines[0]!.split(' ').pop()! : null };
}

for (const mode of ['normalize', 'reject'] as const) {
  describe(`smuggling sequences, bare_newline = ${mode}`, () => {
    const d = new TestDaemon({ smtpToml: `bare_newline = "${mode}"` });
    let pass = '';
    before(async () => {
      await d.start();
      pass = await d.addApp('ehr');
    });
    after(() => d.cleanup());

    for (const end of FAKE_ENDS) {
      it(`fake end ${JSON.stringify(end)} smuggles nothing`, async () => {
        const r = await submit(d.ports.submission_tls, pass, smuggle(end));
        if (mode === 'reject') {
          assert.deepEqual(r.codes, [550]);
        } else {
          assert.deepEqual(r.codes, [250]);
          const body = await readStoredBody(d, r.id!);
          assert.doesNotMatch(body.toString('latin1'), /\r(?!\n)|(?<!\r)\n/, 'stored message has only CRLF line ends');
          assert.match(body.toString('latin1'), /second message/, 'the smuggled text stayed inside the one message');
        }
        const queue = await d.cliJson<QueueEntry[]>(['queue', 'list']);
        assert.ok(queue.every((q) => !q.recipients.includes('victim@evil.example')), 'no smuggled recipient queued');
      });
    }

    for (const end of NUL_ENDS) {
      it(`NUL sequence ${JSON.stringify(end)} is refused with 550`, async () => {
        const before = (await d.cliJson<QueueEntry[]>(['queue', 'list'])).length;
        const r = await submit(d.ports.submission_tls, pass, smuggle(end));
        assert.deepEqual(r.codes, [550]);
        assert.equal((await d.cliJson<QueueEntry[]>(['queue', 'list'])).length, before);
      });
    }

    it('counts: smuggled = 0 of all sequences', async () => {
      const queue = await d.cliJson<QueueEntry[]>(['queue', 'list']);
      assert.equal(queue.length, mode === 'normalize' ? FAKE_ENDS.length : 0);
      assert.ok(queue.every((q) => q.recipients.length === 1 && q.recipients[0] === 'patient@example.org'));
    });
  });
}
