// npm run screens: the README's console screens, taken from the real console in tmux against
// a real daemon with a little traffic (a deferred message, a portal item, a delivered one, a
// recipient key). Each view is captured as text (capture-pane) and as an image: the pane's
// colours (capture-pane -e) turned into HTML by ansi-to-html and photographed by headless
// Chromium. Output: console/screens/NAME.txt and NAME.png.

import Convert from 'ansi-to-html';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import * as openpgp from 'openpgp';
import { chromium } from 'playwright-core';
import { ROOT, TestDaemon } from './helpers/daemon.js';
import { TmuxSession } from './helpers/tmux.js';
import { startSink } from './helpers/sink.js';
import { transport } from './helpers/smtp.js';

const OUT = join(ROOT, 'console', 'screens');
const SESSION = `sealpost-screens-${process.pid}`;
const COLS = 118;
const LINES = 30;
let term: TmuxSession | null = null;
const until = (match: (t: string) => boolean, what: string) => term!.until(match, what, { timeoutMs: 15_000, pollMs: 50 });

const busy = await startSink({ starttls: true, reply: () => ({ code: 451, message: '4.3.2 busy, try later' }) });
const mx = await startSink({ starttls: true });
const d = new TestDaemon({
  deliveryToml: ['paused = false', '[delivery.routes]', `"busy.example" = "127.0.0.1:${busy.port}"`, `"*" = "127.0.0.1:${mx.port}"`].join('\n'),
});
await d.start();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
try {
  mkdirSync(OUT, { recursive: true });
  const pass = await d.addApp('ehr');
  const smtp = transport(d.ports.submission, { secure: false, user: 'ehr', pass });
  const key = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ name: 'Pat Doe', email: 'pat@patients.example' }], format: 'armored' });
  writeFileSync(join(d.dir, 'pat.asc'), key.publicKey);
  await d.cliJson(['keys', 'import', join(d.dir, 'pat.asc')]);
  const sent: string[] = [];
  for (const [to, subject, text] of [
    ['maria@busy.example', 'Appointment reminder', 'See you on Tuesday at 10:00.'],
    ['pat@patients.example', 'Your lab results', 'Patient SSN 219-45-6789: results attached.'],
    ['lee@family.example', '[secure] A note from Dr. Alvarez', 'Please call the office.'],
    ['sam@family.example', 'Flu shots are here', 'Walk-ins welcome this week.'],
  ]) {
    sent.push((await smtp.sendMail({ from: '"Dr. Alvarez" <doc@clinic.test>', to, subject, text })).response.split(' ').pop()!);
  }
  await Promise.all([d.settled(sent[0]!, 'deferred'), d.settled(sent[1]!, 'delivered'), d.settled(sent[2]!, 'portal'), d.settled(sent[3]!, 'delivered')]);

  term = new TmuxSession(SESSION, `TERM=xterm-256color ${process.execPath} ${join(ROOT, 'dist', 'console', 'bin.js')} console --socket ${d.socket}`, { cols: COLS, rows: LINES });
  const convert = new Convert({ fg: '#d8dee9', bg: '#1d2128', escapeXML: true });
  const shoot = async (name: string) => {
    await delay(300); // let the frame that follows the data settle
    writeFileSync(join(OUT, `${name}.txt`), term!.screen().replace(/[ \t]+$/gm, '').trimEnd() + '\n');
    const ansi = term!.screen({ colours: true });
    const page = await browser.newPage({ viewport: { width: COLS * 8 + 32, height: LINES * 17 + 32 } });
    await page.setContent(
      `<!doctype html><html><body style="margin:0;background:#1d2128"><pre style="margin:0;padding:16px;font:13.3px/17px 'DejaVu Sans Mono',monospace;color:#d8dee9">${convert.toHtml(ansi)}</pre></body></html>`,
    );
    await page.screenshot({ path: join(OUT, `${name}.png`) });
    await page.close();
    console.log(`console/screens/${name}.png`);
  };
  const keys = (...k: string[]) => term!.keys(...k);

  await until((t) => /TLS certificate: \d+ days left/.test(t) && /depth \d/.test(t), 'home');
  await shoot('home');
  keys(':queue', 'Enter');
  await until((t) => t.includes(sent[0]!), 'the queue');
  await shoot('queue');
  keys('Enter');
  await until((t) => /attempts:/.test(t) && /451/.test(t), 'the message');
  await shoot('message');
  keys(':policies', 'Enter');
  await until((t) => /tls-default/.test(t), 'the policies');
  await shoot('policies');
  keys(':keys', 'Enter');
  await until((t) => /pat@patients\.example/.test(t), 'the keys');
  await shoot('keys');
  keys(':portal', 'Enter');
  await until((t) => /lee@family\.example/.test(t), 'the portal items');
  await shoot('portal');
  keys(':audit', 'Enter');
  await until((t) => /intake\.accepted/.test(t), 'the audit');
  await shoot('audit');
  keys('?');
  await until((t) => /Commands/.test(t), 'the help');
  await shoot('help');
  keys('q');
} finally {
  term?.kill();
  await browser.close();
  await d.cleanup();
  await Promise.all([busy.close(), mx.close()]);
}
process.exit(0);
