// The portal end to end. In headless Chromium (Debian's chromium through playwright-core;
// axe-core checks WCAG 2.1 A/AA on each page and the keyboard alone opens a message):
// open the notice link, ask for a code, read it from the test MX, enter it, read the
// message, download an attachment, send a secure reply (with a file) that arrives at the
// practice's mailbox; screenshots go to test-output/portal/. The message carries a hostile
// HTML corpus: no script runs and no request leaves the portal, observed in the browser and
// by a canary HTTP server. Over HTTPS without a browser: brute force, replay, a code for
// item A used on item B, an expired item and a recalled item are refused as specified.

import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import type { AuditEntry, PortalItemInfo } from '../../shared/domain.js';
import { TestDaemon } from '../helpers/daemon.js';
import { PortalClient } from '../helpers/portal-client.js';
import { startSink, type Received, type Sink } from '../helpers/sink.js';
import { transport } from '../helpers/smtp.js';

const SHOTS = join(process.cwd(), 'test-output', 'portal');
const PNG_1PX = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');

function hostileHtml(canary: string): string {
  return [
    '<p>Dear patient, <b>your results</b> are normal. MARKER-HTML</p>',
    '<p><img src="cid:logo@clinic" alt="logo"></p>',
    `<script>fetch('${canary}/script')</script>`,
    `<img src="x" onerror="fetch('${canary}/onerror')">`,
    `<a id="jslink" href="javascript:fetch('${canary}/javascript')">click me</a>`,
    `<meta http-equiv="refresh" content="0;url=${canary}/refresh">`,
    `<svg><script>fetch('${canary}/svg')</script><image href="${canary}/svgimage"/></svg>`,
    `<div style="background:url(${canary}/cssurl)">styled</div>`,
    `<style>@import url(${canary}/import); body{background:url(${canary}/stylebg)}</style>`,
    `<img src="${canary}/remote.png" alt="tracking pixel">`,
    `<form action="${canary}/form" method="post"><input name="a" value="b"><button>go</button></form>`,
    `<base href="${canary}/">`,
    `<iframe src="${canary}/iframe"></iframe>`,
    `<object data="${canary}/object"></object><embed src="${canary}/embed">`,
    `<link rel="stylesheet" href="${canary}/link.css">`,
    `<a href="https://example.org/info">a normal link</a>`,
  ].join('\n');
}

describe('portal', { timeout: 120_000 }, () => {
  let practice: Sink;
  let patient: Sink;
  let canary: Server;
  const canaryHits: string[] = [];
  let d: TestDaemon;
  let browser: Browser;
  let pass = '';
  let canaryUrl = '';

  const sendSecure = async (to: string, extra: { html?: string; attachments?: unknown[]; headers?: Record<string, string> } = {}) => {
    const info = await transport(d.ports.submission, { secure: false, user: 'ehr', pass }).sendMail({
      from: '"Dr. Alvarez" <doc@clinic.test>',
      to,
      subject: '[secure] Your visit summary',
      text: 'MARKER-TEXT Your results are normal.',
      ...(extra.html ? { html: extra.html } : {}),
      ...(extra.attachments ? { attachments: extra.attachments as never } : {}),
      ...(extra.headers ? { headers: extra.headers } : {}),
    });
    const id = info.response.split(' ').pop()!;
    await d.waitForLog((r) => r.msg === 'delivery' && r.id === id && r.state === 'portal');
    return id;
  };
  /** The notice for `to`, and the portal path of its link. */
  const noticeFor = async (to: string): Promise<{ notice: Received; path: string }> => {
    const notice = await patient.next((r) => r.to[0] === to && /sent you a secure message/.test(r.data.toString()));
    return { notice, path: /https:\/\/127\.0\.0\.1:8443(\/m\/[A-Za-z0-9_-]+)/.exec(notice.data.toString())![1]! };
  };
  const codeAfter = async (to: string, count: number): Promise<string> => {
    const codes = () => patient.received.filter((r) => r.to[0] === to && /one-time code is \d{6}/.test(r.data.toString()));
    await patient.next((r) => r.to[0] === to && codes().length > count);
    return /one-time code is (\d{6})/.exec(codes()[count]!.data.toString())![1]!;
  };

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    canary = createServer((req, res) => {
      canaryHits.push(req.url ?? '');
      res.end('');
    });
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', () => r()));
    canaryUrl = `http://127.0.0.1:${(canary.address() as AddressInfo).port}`;
    practice = await startSink({ starttls: true });
    patient = await startSink({ starttls: true });
    d = new TestDaemon({
      deliveryToml: ['paused = false', '[delivery.routes]', `"clinic.test" = "127.0.0.1:${practice.port}"`, `"patient.test" = "127.0.0.1:${patient.port}"`].join('\n'),
    });
    await d.start();
    pass = await d.addApp('ehr');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await d.cleanup();
    await Promise.all([practice.close(), patient.close()]);
    await new Promise((r) => canary.close(r));
  });

  it('in Chromium: code, read, download, reply; hostile HTML runs nothing and fetches nothing', async (t) => {
    await sendSecure('maria@patient.test', {
      html: hostileHtml(canaryUrl),
      attachments: [
        { filename: '../../etc/lab report.pdf', content: Buffer.from('%PDF-1.4 MARKER-ATTACHMENT'), contentType: 'application/pdf' },
        { filename: 'logo.png', content: PNG_1PX, contentType: 'image/png', cid: 'logo@clinic' },
      ],
    });
    const { notice, path } = await noticeFor('maria@patient.test');
    assert.doesNotMatch(notice.data.toString(), /MARKER|visit summary/);
    const base = `https://127.0.0.1:${d.ports.portal}`;

    const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
    const page = await context.newPage();
    const outside: string[] = [];
    const dialogs: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:') && r.url() !== 'about:srcdoc') outside.push(r.url());
    });
    page.on('dialog', (dlg) => {
      dialogs.push(dlg.message());
      void dlg.dismiss();
    });

    await page.goto(`${base}${path}`);
    await page.screenshot({ path: join(SHOTS, '1-landing.png'), fullPage: true });
    assert.match(await page.title(), /Secure message from Dr\. Alvarez/);
    await page.getByRole('button', { name: 'Send me a code' }).click();
    const code = await codeAfter('maria@patient.test', 0);
    await page.getByLabel('6-digit code from the e-mail').fill(code);
    await page.screenshot({ path: join(SHOTS, '2-code.png'), fullPage: true });
    await page.getByRole('button', { name: 'Open the message' }).click();
    await page.waitForURL(/\/view$/);
    await page.screenshot({ path: join(SHOTS, '3-message.png'), fullPage: true });

    const frame = page.frameLocator('iframe[title="Message"]');
    await frame.locator('text=MARKER-HTML').waitFor();
    const body = frame.locator('body');
    assert.equal(await body.locator('script, style, form, iframe, object, embed, meta, base, link, svg').count(), 0, 'dangerous elements are gone');
    assert.equal(await body.locator('[onerror], [style]').count(), 0);
    assert.equal(await frame.locator('script').count(), 0, 'no script anywhere in the frame');
    assert.equal(await frame.locator('a#jslink[href]').count(), 0, 'javascript: links lose their href');
    assert.equal(await frame.locator('a[href="https://example.org/info"][rel="noopener noreferrer"]').count(), 1);
    const logo = frame.locator('img[alt="logo"]');
    assert.match((await logo.getAttribute('src')) ?? '', /^data:image\/png;base64,/, 'cid: images come from the message itself');
    assert.equal(await logo.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), 1, 'and load');
    assert.equal(await frame.locator('img[alt="tracking pixel"]').count(), 0, 'no remote images');
    assert.equal(await body.locator('img').count(), 1, 'only the embedded logo is an image');
    await page.getByText('Plain text version').click();
    assert.match(await page.locator('pre').innerText(), /MARKER-TEXT/);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /lab report\.pdf/ }).click()]);
    assert.equal(download.suggestedFilename(), 'lab report.pdf', 'no path in the offered name');
    const saved = join(SHOTS, 'download.bin');
    await download.saveAs(saved);
    const { readFileSync } = await import('node:fs');
    assert.match(readFileSync(saved, 'utf8'), /MARKER-ATTACHMENT/);

    await page.getByLabel(/Your reply to/).fill('MARKER-REPLY Thank you, doctor. See the attached form.');
    await page.getByLabel('Attach files (optional)').setInputFiles({ name: 'consent form.txt', mimeType: 'text/plain', buffer: Buffer.from('MARKER-REPLY-FILE signed') });
    await page.getByRole('button', { name: 'Send securely' }).click();
    await page.getByText('Your reply was sent securely').waitFor();
    await page.screenshot({ path: join(SHOTS, '4-replied.png'), fullPage: true });

    const replied = await practice.next((r) => /MARKER-REPLY/.test(r.data.toString()));
    const text = replied.data.toString();
    assert.deepEqual(replied.to, ['doc@clinic.test']);
    assert.equal(replied.secure, true);
    assert.match(text, /^Reply-To: maria@patient\.test/m);
    assert.match(text, /^Subject: Re: Your visit summary/m);
    assert.match(text, /filename="?consent form\.txt/);
    assert.match(text, /^DKIM-Signature:/m);

    // the hostile corpus: nothing executed, nothing fetched, from anywhere
    await page.goto(`${base}${path}/view`);
    await page.waitForLoadState('networkidle');
    assert.deepEqual(outside, [], 'the browser requested nothing outside the portal');
    assert.deepEqual(canaryHits, [], 'the canary server saw no request');
    assert.deepEqual(dialogs, []);
    t.diagnostic(`screenshots in ${SHOTS}`);
    await context.close();

    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '60']);
    for (const action of ['portal.code_sent', 'portal.verified', 'portal.viewed', 'portal.downloaded', 'portal.replied']) {
      assert.ok(audit.some((e) => e.action === action), `${action} is audited`);
    }
    const items = await d.cliJson<PortalItemInfo[]>(['portal', 'list']);
    assert.ok(items.find((i) => i.address === 'maria@patient.test')?.opened_at, 'opened status is visible to operators');
  });

  it('is accessible: axe finds no WCAG 2 A/AA violation on the landing, code and message pages; the keyboard alone gets through', async () => {
    await sendSecure('ines@patient.test', { html: '<h1>Visit summary</h1><p>Your results are <b>normal</b>.</p>' });
    const { path } = await noticeFor('ines@patient.test');
    // axe is injected as a script, which the portal's CSP (rightly) forbids: this context bypasses it
    const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true });
    const page = await context.newPage();
    const audit = async (where: string) => {
      await page.addScriptTag({ path: createRequire(import.meta.url).resolve('axe-core/axe.min.js') });
      const result = await page.evaluate(async () => {
        const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: Array<{ id: string; impact: string; nodes: unknown[] }> }> } }).axe;
        const r = await axe.run((globalThis as unknown as { document: unknown }).document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
        return r.violations.map((v) => `${v.id} (${v.impact}, ${v.nodes.length})`);
      });
      assert.deepEqual(result, [], `${where}: ${result.join('; ')}`);
    };
    await page.goto(`https://127.0.0.1:${d.ports.portal}${path}`);
    await audit('landing page');
    // keyboard only: tab to the button, press Enter; type the code, Enter
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { textContent: string | null } | null } }).document.activeElement?.textContent), 'Send me a code');
    await page.keyboard.press('Enter');
    const code = await codeAfter('ines@patient.test', 0);
    await page.getByLabel('6-digit code from the e-mail').waitFor();
    await audit('code page');
    await page.getByLabel('6-digit code from the e-mail').focus();
    await page.keyboard.type(code);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/view$/);
    await audit('message page');
    await context.close();
  });

  it('refuses brute force, replayed codes and a code for another item; expired and recalled items answer 410', async () => {
    await sendSecure('ana@patient.test');
    await sendSecure('ana@patient.test');
    const notices = patient.received.filter((r) => r.to[0] === 'ana@patient.test' && /sent you a secure message/.test(r.data.toString()));
    await patient.next(() => patient.received.filter((r) => r.to[0] === 'ana@patient.test' && /sent you a secure message/.test(r.data.toString())).length >= 2);
    const paths = patient.received
      .filter((r) => r.to[0] === 'ana@patient.test' && /sent you a secure message/.test(r.data.toString()))
      .map((r) => /https:\/\/127\.0\.0\.1:8443(\/m\/[A-Za-z0-9_-]+)/.exec(r.data.toString())![1]!);
    void notices;
    const [a, b] = paths as [string, string];
    let codes = 0;

    // brute force: five wrong codes void the pending code; the right one no longer works
    const brute = new PortalClient(d.ports.portal);
    await brute.get(a);
    await brute.post(`${a}/code`);
    const real = await codeAfter('ana@patient.test', codes++);
    for (let i = 0; i < 5; i++) {
      const wrong = await brute.post(`${a}/verify`, { code: real === '000000' ? '111111' : '000000' });
      assert.equal(wrong.status, 403);
    }
    const late = await brute.post(`${a}/verify`, { code: real });
    assert.equal(late.status, 403, 'after 5 wrong tries the code is void');

    // a code for item A does not open item B, even in the same browser
    const cross = new PortalClient(d.ports.portal);
    await cross.get(a);
    await cross.post(`${a}/code`);
    const codeA = await codeAfter('ana@patient.test', codes++);
    await cross.get(b);
    const onB = await cross.post(`${b}/verify`, { code: codeA });
    assert.equal(onB.status, 403);

    // the right code opens A once; replayed from another browser it is refused
    const ok = await cross.post(`${a}/verify`, { code: codeA });
    assert.equal(ok.status, 303);
    assert.ok(cross.cookie('__Host-sp_session'));
    assert.equal((await cross.get(`${a}/view`)).status, 200);
    const replay = new PortalClient(d.ports.portal);
    await replay.get(a);
    assert.equal((await replay.post(`${a}/verify`, { code: codeA })).status, 403);
    assert.equal((await replay.get(`${a}/view`)).status, 303, 'no session, no message');

    // wrong code, unknown item: the same status
    const unknownVerify = await replay.post('/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/verify', { code: '123456' });
    assert.equal(unknownVerify.status, 403);

    // expired item (its expiry moved into the past in the database): 410, like an unknown link
    const db = new Database(join(d.dir, 'var', 'sealpost.db'));
    db.pragma('busy_timeout = 5000');
    const items = await d.cliJson<PortalItemInfo[]>(['portal', 'list']);
    const itemB = items.filter((i) => i.address === 'ana@patient.test').find((i) => i.opened_at === null)!;
    const unopened = await d.cliJson<PortalItemInfo[]>(['portal', 'list', '--unopened']);
    assert.ok(unopened.some((i) => i.id === itemB.id));
    assert.ok(!unopened.some((i) => i.address === 'maria@patient.test'), 'an opened item is not listed as unopened');
    db.prepare('UPDATE portal_items SET expires_at = 0 WHERE id = ?').run(itemB.id);
    db.close();
    assert.equal((await cross.get(b)).status, 410);
    assert.equal((await cross.get('/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status, 410);

    // recalled by the sender: shredded, 410, even for the browser that had opened it
    const itemA = items.find((i) => i.address === 'ana@patient.test' && i.id !== itemB.id)!;
    await d.cliJson(['portal', 'recall', itemA.message_id, '--reason', 'sent to the wrong patient']);
    assert.equal((await cross.get(`${a}/view`)).status, 410);
    const after = await d.cliJson<PortalItemInfo[]>(['portal', 'list', '--message', itemA.message_id]);
    assert.equal(after[0]!.state, 'recalled');
    const audit = await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '80']);
    assert.ok(audit.filter((e) => e.action === 'portal.code_failed').length >= 7);
    assert.ok(audit.some((e) => e.action === 'portal.recalled' && e.actor === 'user:root'));
  });

  it('a passphrase the sender shared out of band replaces the code; parallel downloads all complete', async () => {
    const big = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n'.repeat(30_000); // 1.1 MB
    await sendSecure('lee@patient.test', { headers: { 'X-Sealpost-Portal-Passphrase': 'blue heron 42' }, attachments: [{ filename: 'scan.txt', content: big, contentType: 'text/plain' }] });
    const { notice, path } = await noticeFor('lee@patient.test');
    assert.doesNotMatch(notice.data.toString(), /blue heron|X-Sealpost/i);
    const c = new PortalClient(d.ports.portal);
    const landing = await c.get(path);
    assert.match(landing.body, /Passphrase from the sender/);
    assert.doesNotMatch(landing.body, /Send me a code/);
    assert.equal((await c.post(`${path}/code`)).status, 403, 'no codes for a passphrase message');
    const wrong = await c.post(`${path}/passphrase`, { passphrase: 'blue heron 43' });
    assert.equal(wrong.status, 403);
    // a guess on a link that does not exist reads exactly like a wrong passphrase (and is audited alike)
    const dead = await c.post('/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/passphrase', { passphrase: 'blue heron 43' });
    assert.equal(dead.status, 403);
    assert.equal(dead.body.replace(/\/m\/[A-Za-z0-9_-]+/g, '/m/T').replace(/value="[^"]+"/g, ''), wrong.body.replace(/\/m\/[A-Za-z0-9_-]+/g, '/m/T').replace(/value="[^"]+"/g, ''));
    const failures = (await d.cliJson<AuditEntry[]>(['audit', 'tail', '--limit', '10'])).filter((e) => e.action === 'portal.passphrase_failed');
    assert.deepEqual(failures.map((e) => e.detail.result), ['wrong', 'unknown_item']);
    assert.equal((await c.post(`${path}/passphrase`, { passphrase: 'blue heron 42' })).status, 303);
    const view = await c.get(`${path}/view`);
    assert.equal(view.status, 200);
    assert.match(view.body, /MARKER-TEXT/);
    assert.doesNotMatch(view.body, /blue heron/);
    // 12 downloads at once: the portal parses at most 4 stored messages at a time, the rest wait their turn
    const downloads = await Promise.all(Array.from({ length: 12 }, () => c.get(`${path}/a/1`)));
    assert.deepEqual(downloads.map((r) => r.status), new Array(12).fill(200));
    assert.ok(downloads.every((r) => r.body === big), 'every copy complete and intact');
  });
});
