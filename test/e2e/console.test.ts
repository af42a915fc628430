// The real console in tmux against a real daemon, read with capture-pane: home shows health
// and queue counts; ":queue" lists a deferred message; hold and release with a reason
// (audited with the console user's name); enter describes the message; ":audit" lists and
// verifies the chain; ":policies" + "e" edits the rules in $EDITOR and activates them only
// after validation, a diff, a replay and "y"; "?" shows help; "q" quits and leaves the
// alternate screen.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { AuditEntry, PolicyInfo, QueueDetail } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { TmuxSession } from '../helpers/tmux.js';
import { startSink, type Sink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';

const SESSION = `sealpost-console-${process.pid}`;
const BIN = join(process.cwd(), 'dist', 'console', 'bin.js');

let term: TmuxSession | null = null;
const keys = (...k: string[]) => term!.keys(...k);
/** Where the console's stderr goes, so a failure shows why the pane stayed empty. */
let consoleErr = '';
const stderrOf = () => {
  try {
    return readFileSync(consoleErr, 'utf8');
  } catch {
    return '(none)';
  }
};

/** The pane, once `match` holds (the console redraws on its own clock; 10 s at most). */
const until = async (match: (text: string) => boolean, what: string): Promise<string> =>
  (await term!.until(match, what, { explain: () => `console stderr:\n${stderrOf()}` })).text;

describe('console in tmux', () => {
  let busy: Sink;
  let d: TestDaemon;
  let id = '';

  before(async () => {
    busy = await startSink({ starttls: true, reply: () => ({ code: 451, message: '4.3.2 busy' }) });
    d = new TestDaemon({ deliveryToml: ['paused = false', '[delivery.routes]', `"busy.test" = "127.0.0.1:${busy.port}"`].join('\n') });
    await d.start();
    const pass = await d.addApp('ehr');
    const info = await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({ from: 'doc@clinic.test', to: 'pat@busy.test', subject: 'Reminder', text: 'See you Tuesday.' });
    id = info.response.split(' ').pop()!;
    await d.waitForLog((r) => r.msg === 'delivery' && r.id === id && r.state === 'deferred');
    // the "editor" adds a rule in front, as an administrator would in vi
    const editor = join(d.dir, 'editor.mjs');
    writeFileSync(
      editor,
      `import { readFileSync, writeFileSync } from 'node:fs';\nconst f = process.argv[2];\nconst rules = JSON.parse(readFileSync(f, 'utf8'));\nrules.unshift({ name: 'marketing-portal', when: { stream: 'marketing' }, action: 'portal' });\nwriteFileSync(f, JSON.stringify(rules, null, 2));\n`,
    );
    consoleErr = join(d.dir, 'console.err');
    term = new TmuxSession(SESSION, `EDITOR='${process.execPath} ${editor}' ${process.execPath} ${BIN} console --socket ${d.socket} 2>${consoleErr}; echo exit $? >> ${consoleErr}; sleep 30`, { cols: 140, rows: 32 });
  });
  after(async () => {
    term?.kill();
    await d.cleanup();
    await busy.close();
  });

  it('home shows health and queue counts', async () => {
    const home = await until((t) => /TLS certificate: \d+ days left/.test(t), 'the home view');
    assert.match(home, /depth 1/);
    assert.match(home, /deferred 1/);
    assert.match(home, /CPU [\d.]+%/);
    assert.match(home, /submission\s+127\.0\.0\.1:\d+/);
    assert.match(home, /sealpost > home/);
  });

  it(':queue lists the deferred message; hold and release with a reason', async () => {
    keys(':', 'que', 'Tab', 'Enter');
    await until((t) => t.includes(id) && /deferred/.test(t), 'the queue with the message');
    keys('h');
    await until((t) => /reason for hold/.test(t), 'the reason prompt');
    keys('checking the address', 'Enter');
    await until((t) => /hold: /.test(t) && new RegExp(`${id}\\s+held`).test(t), 'the held message');
    keys('r');
    await until((t) => /reason for release/.test(t), 'the release prompt');
    keys('x', 'Enter'); // too short: refused in the console already
    await until((t) => /at least 3 characters/.test(t), 'the reason rule');
    keys('BSpace', 'address confirmed', 'Enter');
    await until((t) => /release: /.test(t), 'the release result');
    const detail = await d.cliJson<QueueDetail>(['queue', 'show', id]);
    assert.notEqual(detail.recipient_rows[0]!.state, 'held');
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '30']);
    assert.equal(audit.find((e) => e.action === 'queue.hold')?.detail.reason, 'checking the address');
    assert.equal(audit.find((e) => e.action === 'queue.release')?.detail.reason, 'address confirmed');
    assert.equal(audit.find((e) => e.action === 'queue.release')?.actor, 'user:root');
  });

  it('enter describes a message (decision and attempts); :audit lists and verifies the chain', async () => {
    keys('g', 'Enter');
    const msg = await until((t) => /protection: tls/.test(t) && /attempts:/.test(t), 'the message view');
    assert.match(msg, new RegExp(`message\\(${id}\\)`));
    assert.match(msg, /rule tls-default -> tls/);
    assert.match(msg, /deferred 451 via 127\.0\.0\.1:\d+ TLSv1\.[23]/);
    assert.doesNotMatch(msg, /See you Tuesday/, 'never the body');
    keys(':audit', 'Enter');
    await until((t) => /queue\.release/.test(t), 'the audit view');
    keys('v');
    await until((t) => /audit chain intact: \d+ entries/.test(t), 'the verification');
  });

  it(':policies, e: edited in $EDITOR, validated, diffed, replayed, activated only on y', async () => {
    keys(':policies', 'Enter');
    await until((t) => /policy version 1: shipped default/.test(t), 'the policies view');
    keys('e');
    await until((t) => /activate as version 2\? \[y\/N\]/.test(t) && /\+.*marketing-portal/.test(t) && /would change protection/.test(t), 'the diff, the replay and the question');
    keys('y', 'Enter');
    await until((t) => /policy version 2 active/.test(t) && /marketing-portal/.test(t), 'the console again, with the new rule');
    const eml = join(d.dir, 'test.eml');
    writeFileSync(eml, 'From: doc@clinic.test\r\nTo: pat@busy.test\r\nSubject: hi\r\n\r\nSSN 219-45-6789\r\n');
    keys('t');
    await until((t) => /file for the policy test/.test(t), 'the file prompt');
    keys(eml, 'Enter');
    await until((t) => /test: pat@busy\.test -> tls \(tls-default\); ssn x1 in text/.test(t), 'the policy test result');
    const p = await d.cliJson<PolicyInfo>(['policy', 'list']);
    assert.equal(p.version, 2);
    assert.equal(p.rules[0]!.name, 'marketing-portal');
    assert.equal(p.comment, 'edited in the console');
  });

  it(':users, a and d: adds a console user with a role and removes it after y', async () => {
    keys(':users', 'Enter');
    await until((t) => /sealpost > users/.test(t), 'the users');
    keys('a', 'nobody auditor', 'Enter');
    await until((t) => /user nobody is auditor/.test(t) && /nobody\s+auditor/.test(t), 'the new user');
    keys('d', 'nobody', 'Enter');
    await until((t) => /remove user nobody\? y = remove/.test(t), 'the confirmation');
    keys('y');
    await until((t) => /user nobody removed/.test(t) && !/nobody\s+auditor/.test(t), 'the user removed');
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '10']);
    assert.deepEqual(
      audit.filter((e) => e.action.startsWith('user.')).map((e) => [e.action, e.actor]),
      [
        ['user.add', 'user:root'],
        ['user.remove', 'user:root'],
      ],
    );
  });

  it('? shows help; q quits and leaves the alternate screen', async () => {
    keys('?');
    await until((t) => /:queue \[state\]/.test(t) && /command mode \(tab completes/.test(t), 'the help');
    keys('G'); // the generated help is longer than the pane: it scrolls like the lists
    await until((t) => /In :keys/.test(t) && /import an armored PGP public key/.test(t), 'the end of the help');
    keys('Escape', 'q');
    await until((t) => !/sealpost > /.test(t), 'the shell again');
    // the tmux command records the console's exit status (and its stderr) in this file
    const deadline = Date.now() + 5000;
    let log = '';
    while (!/exit \d+/.test(log) && Date.now() < deadline) {
      await delay(50);
      log = readFileSync(join(d.dir, 'console.err'), 'utf8');
    }
    assert.match(log, /exit 0$/m, log);
  });
});
