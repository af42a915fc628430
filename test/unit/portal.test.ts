// Portal pieces without a browser: one-time codes (single use, bound to item and browser,
// 10 minutes, 5 tries), session rotation and timeouts, reply subjects, safe filenames and
// the HTML sanitiser on the hostile corpus's worst lines; each MIME part rendered on its own.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bodyParts } from '../../daemon/portal/parts.js';
import { Gate } from '../../daemon/portal/gate.js';
import { renderMessage, safeFilename, sanitizeEmailHtml } from '../../daemon/portal/render.js';
import { replySubject } from '../../daemon/portal/server.js';
import { SessionStore } from '../../daemon/portal/sessions.js';

describe('portal codes and sessions', () => {
  it('a code works once, only for its item, and not after 10 minutes', () => {
    const store = new SessionStore();
    const t = 1_000_000;
    const s = store.get(undefined, t);
    const code = store.issueCode(s, 'ITEM-A', t);
    assert.match(code, /^\d{6}$/);
    assert.equal(store.checkCode(s, 'ITEM-B', code, t), 'none', 'bound to its item');
    assert.equal(store.checkCode(s, 'ITEM-A', code, t), 'ok');
    assert.equal(store.checkCode(s, 'ITEM-A', code, t), 'none', 'single use');
    const late = store.issueCode(s, 'ITEM-A', t);
    assert.equal(store.checkCode(s, 'ITEM-A', late, t + 10 * 60_000 + 1), 'expired');
  });

  it('five wrong tries void the code; another browser cannot use it', () => {
    const store = new SessionStore();
    const s = store.get(undefined);
    const other = store.get(undefined);
    const code = store.issueCode(s, 'I', Date.now());
    assert.equal(store.checkCode(other, 'I', code), 'none');
    const wrong = code === '000000' ? '000001' : '000000';
    for (let i = 0; i < 4; i++) assert.equal(store.checkCode(s, 'I', wrong), 'wrong');
    assert.equal(store.checkCode(s, 'I', wrong), 'exhausted');
    assert.equal(store.checkCode(s, 'I', code), 'none');
  });

  it('rotates the id after verification and expires idle and old sessions', () => {
    const store = new SessionStore();
    const t = 5_000_000;
    const s = store.get(undefined, t);
    const oldId = s.id;
    const oldCsrf = s.csrf;
    store.rotate(s);
    assert.notEqual(s.id, oldId);
    assert.notEqual(s.csrf, oldCsrf);
    assert.notEqual(store.get(oldId, t).id, s.id, 'the old id no longer finds the session');
    assert.equal(store.get(s.id, t + 14 * 60_000).id, s.id);
    assert.notEqual(store.get(s.id, t + 14 * 60_000 + 15 * 60_000 + 1).id, s.id, 'idle timeout');
    const long = store.get(undefined, t);
    let now = t;
    for (let i = 0; i < 40; i++) store.get(long.id, (now += 14 * 60_000));
    assert.notEqual(store.get(long.id, now).id, long.id, 'absolute timeout of 8 hours');
    assert.equal(store.csrfOk(s, s.csrf), true);
    assert.equal(store.csrfOk(s, 'x'), false);
  });
});

describe('portal rendering helpers', () => {
  it('makes reply subjects without the [secure] tag', () => {
    assert.equal(replySubject('[secure] Your results'), 'Re: Your results');
    assert.equal(replySubject('Re: [secure] Your results'), 'Re: Your results');
    assert.equal(replySubject(''), 'Re: (no subject)');
  });

  it('offers safe filenames', () => {
    assert.equal(safeFilename('../../etc/passwd', 1), 'passwd');
    assert.equal(safeFilename('..\\..\\boot.ini', 1), 'boot.ini');
    assert.equal(safeFilename('a"b<c>.pdf', 2), 'a_b_c_.pdf');
    assert.equal(safeFilename('', 3), 'attachment-3');
    assert.equal(safeFilename('.htaccess', 4), 'htaccess');
  });

  it('sanitises the hostile corpus: no script, handler, style, remote or relative image, javascript: or relative link', () => {
    const out = sanitizeEmailHtml(
      '<script>x()</script><img src=x onerror=y()><a href="javascript:z()">j</a><a href="/m/t/a/1">r</a><a href="https://e.org">ok</a>' +
        '<div style="background:url(http://e.org/x)">s</div><style>@import url(http://e.org)</style><img src="http://e.org/p.png"><svg><script>1</script></svg>' +
        '<form action="http://e.org"><input></form><base href="http://e.org/"><meta http-equiv="refresh" content="0;url=http://e.org"><iframe src="http://e.org"></iframe>',
      [],
    );
    assert.doesNotMatch(out, /<script|onerror|javascript:|style|@import|<img|<svg|<form|<input|<base|<meta|<iframe|\/m\/t\/a\/1/i);
    assert.match(out, /<a rel="noopener noreferrer" target="_blank" href="https:\/\/e\.org">ok<\/a>/);
  });
});

describe('portal housekeeping', () => {
  it('shreds expired items and tells the sender about unopened ones, once', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { openDb } = await import('../../daemon/store/db.js');
    const { AuditChain } = await import('../../daemon/audit/chain.js');
    const { GroupCommitter } = await import('../../daemon/store/committer.js');
    const { Vault } = await import('../../daemon/store/vault.js');
    const { PortalItems } = await import('../../daemon/protect/portal-items.js');
    const { PortalHousekeeping } = await import('../../daemon/portal/housekeeping.js');
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-portal-'));
    const db = openDb(join(dir, 'db.sqlite'));
    const committer = new GroupCommitter(db, new AuditChain(db, Buffer.alloc(32, 2), join(dir, 'anchor')));
    const items = new PortalItems({ db, vault: Vault.open(join(dir, 'master.key')), expiryDays: 30 });
    const made = await committer.submit((ctx) => [
      items.ensure({ recipientId: 1, messageId: 'MSGA', address: 'a@x.test', senderName: 'Dr', senderAddress: 'doc@clinic.test', passphraseHash: null }, Buffer.from('body'), ctx),
      items.ensure({ recipientId: 2, messageId: 'MSGB', address: 'b@x.test', senderName: 'Dr', senderAddress: 'doc@clinic.test', passphraseHash: null }, Buffer.from('body'), ctx),
    ]);
    await committer.submit((ctx) => items.markOpened(made[1]!.id, ctx));
    db.prepare('UPDATE portal_items SET expires_at = 0').run();
    const told: string[] = [];
    const mailer = { sendNeverOpened: async (to: string, recipient: string) => (told.push(`${to}:${recipient}`), 'Q'), sendReminder: async () => 'Q' };
    const hk = new PortalHousekeeping({ items, committer, mailer: mailer as never, log: { info: () => undefined, error: () => undefined } as never, publicUrl: 'https://x', reminderDays: 3 });
    await hk.run();
    await hk.run();
    assert.deepEqual(told, ['doc@clinic.test:a@x.test'], 'only the unopened item, only once');
    const rows = db.prepare('SELECT state, sealed, token_sealed FROM portal_items').all() as Array<{ state: string; sealed: unknown; token_sealed: unknown }>;
    assert.ok(rows.every((r) => r.state === 'expired' && r.sealed === null && r.token_sealed === null), 'shredded');

    // an unopened, unexpired item older than reminder_days gets exactly one reminder
    const fresh = await committer.submit((ctx) =>
      items.ensure({ recipientId: 3, messageId: 'MSGC', address: 'c@x.test', senderName: 'Dr', senderAddress: 'doc@clinic.test', passphraseHash: null }, Buffer.from('body'), ctx),
    );
    db.prepare('UPDATE portal_items SET created_at = 0 WHERE id = ?').run(fresh.id);
    const reminded: string[] = [];
    const mailer2 = { sendNeverOpened: async () => 'Q', sendReminder: async (to: string, _n: string, link: string) => (reminded.push(`${to} ${link}`), 'Q') };
    const hk2 = new PortalHousekeeping({ items, committer, mailer: mailer2 as never, log: { info: () => undefined, error: () => undefined } as never, publicUrl: 'https://portal.test/', reminderDays: 3 });
    await hk2.run();
    await hk2.run();
    assert.deepEqual(reminded, [`c@x.test https://portal.test/m/${fresh.token}`]);
    await committer.close();
    db.close();
  });
});

describe('portal: each MIME part on its own', () => {
  const mime = (type: string, body: string) => Buffer.from(`From: doc@clinic.test\r\nTo: p@x.test\r\nSubject: Parts\r\nMIME-Version: 1.0\r\nContent-Type: ${type}\r\n\r\n${body}`);

  it('keeps mixed parts apart and in order; unclosed markup in one part cannot swallow the next', async () => {
    const raw = mime(
      'multipart/mixed; boundary="m"',
      '--m\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nFirst: caf=E9\r\n' +
        '--m\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
        Buffer.from('<p>Second <b>bold never closed <table><tr><td>cell').toString('base64') +
        '\r\n--m\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="x.png"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n' +
        '--m\r\nContent-Type: text/plain\r\n\r\nThird <not markup>\r\n' +
        '--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="notes.txt"\r\n\r\nan attached file\r\n' +
        '--m\r\nContent-Type: message/rfc822\r\n\r\nSubject: forwarded\r\nContent-Type: text/plain\r\n\r\nforwarded body\r\n--m--\r\n',
    );
    const parts = await bodyParts(raw);
    assert.deepEqual(
      parts.map((p) => [p.html === null ? null : p.html.slice(0, 9), p.text?.trim() ?? null]),
      [
        [null, 'First: café'],
        ['<p>Second', null],
        [null, 'Third <not markup>'],
      ],
    );
    const { view } = await renderMessage(raw);
    assert.equal(view.parts.length, 3);
    assert.match(view.parts[1]!.html!, /<\/table><\/b><\/p><\/body><\/html>$/, 'the sanitiser closes what the part left open, inside its own document');
    assert.equal(view.parts[2]!.text!.trim(), 'Third &lt;not markup&gt;');
    assert.deepEqual(view.attachments.map((a) => a.filename), ['x.png', 'notes.txt', 'attachment-3']);
  });

  it('shows one part per alternative group: the HTML (also inside multipart/related), its text beside it', async () => {
    const raw = mime(
      'multipart/alternative; boundary="a"',
      '--a\r\nContent-Type: text/plain\r\n\r\nplain version\r\n' +
        '--a\r\nContent-Type: multipart/related; boundary="r"\r\n\r\n' +
        '--r\r\nContent-Type: text/html\r\n\r\n<p>rich version <img src="cid:logo"></p>\r\n' +
        '--r\r\nContent-Type: image/png\r\nContent-ID: <logo>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--r--\r\n--a--\r\n',
    );
    const parts = await bodyParts(raw);
    assert.equal(parts.length, 1);
    assert.match(parts[0]!.html!, /rich version/);
    assert.equal(parts[0]!.text!.trim(), 'plain version');
  });
});

describe('portal parse gate', () => {
  it('runs at most its limit at once, in order, and hands slots over without exceeding it', async () => {
    const gate = new Gate(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const tasks = Array.from({ length: 6 }, (_, i) =>
      gate.run(async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        await new Promise<void>((r) => releases.push(r));
        running--;
        return i;
      }),
    );
    // release one task at a time; a newcomer arriving between release and hand-over must wait its turn
    for (let done = 0; done < 6; done++) {
      while (releases.length === 0) await new Promise((r) => setImmediate(r));
      releases.shift()!();
      if (done === 0) tasks.push(gate.run(async () => (order.push(99), 99)));
    }
    assert.deepEqual(await Promise.all(tasks), [0, 1, 2, 3, 4, 5, 99]);
    assert.equal(peak, 2);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 99], 'first come, first served');
    assert.deepEqual(gate.load(), { active: 0, waiting: 0 });
  });
});
