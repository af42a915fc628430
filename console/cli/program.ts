// The scriptable CLI: `sealpost <command>`. Every command speaks the typed control API
// through ControlClient, prints text or --json, exits 0 on success and non-zero with one
// line on stderr on failure.

import { Command, Option } from 'commander';
import type { Method, ParamsOf, ResultOf } from '../../shared/api.js';
import { ROLES, STREAMS } from '../../shared/domain.js';
import { ControlError } from '../../shared/errors.js';
import { SEALPOST_VERSION } from '../../shared/version.js';
import { ControlClient } from '../client.js';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PolicyRule } from '../../shared/domain.js';
import { formatApps, formatAudit, formatDetail, formatHealth, formatDkim, formatExplain, formatKeys, formatPortalItems, formatPolicy, formatPolicyTest, formatQueue, formatReplay, formatStatus, formatTlsDomains, formatUsers } from './format.js';
import { findSocket } from './socket-path.js';

interface GlobalOpts {
  json?: boolean;
  socket?: string;
  config?: string;
}

export class CliFailure extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** "90s", "30m", "4h", "2d" (or plain seconds) to seconds. */
export function parseAge(v: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(v.trim());
  if (!m) throw new CliFailure(`--older-than: "${v}" is not an age such as 90s, 30m, 4h or 2d`, 2);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

function readFileOrFail(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliFailure(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2);
  }
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileOrFail(file).toString('utf8')) as unknown;
  } catch (err) {
    if (err instanceof CliFailure) throw err;
    throw new CliFailure(`${file}: not valid JSON`, 2);
  }
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function buildProgram(): Command {
  const program = new Command('sealpost')
    .description('Sealpost secure email appliance')
    .version(SEALPOST_VERSION)
    .option('--json', 'machine-readable output')
    .option('--socket <path>', 'control socket of the daemon')
    .option('--config <file>', 'config file (to find the control socket)')
    .showHelpAfterError()
    .exitOverride();

  const globals = (): GlobalOpts => program.opts<GlobalOpts>();

  async function call<M extends Method>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const client = await ControlClient.connect(findSocket(globals()));
    try {
      return await client.call(method, params);
    } finally {
      client.close();
    }
  }

  function show<T>(result: T, text: (r: T) => string): void {
    out(globals().json ? JSON.stringify(result, null, 2) : text(result));
  }

  program
    .command('daemon')
    .description('run the daemon in the foreground')
    .option('--config <file>', 'TOML config file (default: SEALPOST_CONFIG or the embedded default)')
    .action(async (o: { config?: string }) => {
      const { runDaemon } = await import('../../daemon/main.js');
      await runDaemon(o.config ?? globals().config ?? process.env.SEALPOST_CONFIG);
    });

  program
    .command('backup')
    .description('an encrypted, verifiable backup of all state, written by the daemon (keep the master key apart from it)')
    .requiredOption('--out <file>', 'the backup file to write (must not exist; the daemon user must be able to write there)')
    .action(async (o: { out: string }) =>
      show(await call('backup.create', { out: resolve(o.out) }), (b) => `backup ${b.path}: ${b.bytes} bytes, ${b.messages} messages, ${b.audit_entries} audit entries, ${b.ms} ms\nrestoring it needs this appliance's master key (keys/master.key in the data directory): escrow the key, not beside the backup`),
    );

  program
    .command('restore <file>')
    .description('replace the store with a backup (stop the daemon first); recipients still to deliver come back held')
    .option('--config <file>', 'TOML config file (default: SEALPOST_CONFIG or the embedded default)')
    .option('--check', 'only decrypt and check the backup; change nothing')
    .action(async (file: string, o: { config?: string; check?: boolean }) => {
      const { loadConfig } = await import('../../daemon/config/loader.js');
      const { restoreBackup } = await import('../../daemon/store/backup.js');
      const { Vault } = await import('../../daemon/store/vault.js');
      const config = loadConfig(o.config ?? globals().config ?? process.env.SEALPOST_CONFIG);
      if (!o.check) {
        // the daemon holds the store open: refuse while its control socket answers
        const running = await ControlClient.connect(config.control.socket).then(
          (c) => (c.close(), true),
          () => false,
        );
        if (running) throw new CliFailure(`the daemon is running (${config.control.socket}): stop it before restoring`, 1);
      }
      const vault = Vault.openExisting(join(config.data_dir, 'keys', 'master.key'));
      const whoRan = process.env.SUDO_USER ?? process.env.USER ?? 'root';
      const r = await restoreBackup(resolve(file), vault, config.data_dir, { checkOnly: Boolean(o.check), actor: `user:${whoRan}` });
      show(r, (x) =>
        x.checked_only
          ? `backup ${x.backup} is intact: taken ${x.created_at ?? '?'}, ${x.messages} messages, ${x.audit_entries} audit entries`
          : `restored ${x.backup} (taken ${x.created_at ?? '?'}): ${x.messages} messages, ${x.audit_entries} audit entries; ${x.held} recipient(s) held for review (sealpost queue list --state held)${x.previous ? `; the replaced store is ${x.previous}` : ''}`,
      );
    });

  program
    .command('status')
    .description('daemon health, queue depth, listeners, versions')
    .action(async () => show(await call('status', {}), formatStatus));

  program
    .command('health')
    .description('system health, alerts, last backup and WAL checkpoint (what the console home shows)')
    .action(async () => show(await call('health', {}), formatHealth));

  program
    .command('whoami')
    .description('the identity and role the daemon sees')
    .action(async () => show(await call('whoami', {}), (w) => `${w.user} (uid ${w.uid}) role ${w.role}`));

  const app = program.command('app').description('sending applications (SMTP credentials)');
  app
    .command('add <name>')
    .addOption(new Option('--stream <stream>', 'delivery stream').choices([...STREAMS]).default('transactional'))
    .option('--from <pattern...>', 'allowed sender addresses, * as wildcard (default: any address in domains)')
    .action(async (name: string, o: { stream: (typeof STREAMS)[number]; from?: string[] }) =>
      show(await call('app.add', { name, stream: o.stream, ...(o.from ? { from: o.from } : {}) }), (r) =>
        [`app ${r.username} created (${r.app.stream}; may send as ${r.app.from.join(', ')})`, `username: ${r.username}`, `password: ${r.password}`, 'the password is shown only once'].join('\n'),
      ),
    );
  app.command('list').action(async () => show(await call('app.list', {}), formatApps));
  app.command('disable <name>').action(async (name: string) => show(await call('app.disable', { name }), (a) => `app ${a.name} disabled`));
  app
    .command('rotate <name>')
    .action(async (name: string) => show(await call('app.rotate', { name }), (r) => `new password for ${r.username}: ${r.password}\nthe password is shown only once`));

  program
    .command('console')
    .description('the full-screen terminal console')
    .action(async () => {
      // Ink reads CI / CONTINUOUS_INTEGRATION when it is loaded and, if set, draws only the
      // last frame at exit: a blank screen for an administrator whose shell (or a CI job
      // driving the console in tmux) exports them. The console is interactive by definition.
      delete process.env.CI;
      delete process.env.CONTINUOUS_INTEGRATION;
      const { runConsole } = await import('../tui/run.js');
      await runConsole(findSocket(globals()));
    });

  const user = program.command('user').description('console/CLI identities (Unix users and their roles)');
  user
    .command('add <name>')
    .addOption(new Option('--role <role>', 'role').choices([...ROLES]).makeOptionMandatory())
    .action(async (name: string, o: { role: (typeof ROLES)[number] }) => show(await call('user.add', { name, role: o.role }), (u) => `user ${u.name} is ${u.role}`));
  user.command('list').action(async () => show(await call('user.list', {}), formatUsers));
  user.command('remove <name>').action(async (name: string) => show(await call('user.remove', { name }), (r) => `user ${r.removed} removed`));

  const queue = program.command('queue').description('the delivery queue');
  queue
    .command('list')
    .option('--state <state>', 'only messages in this state')
    .option('--domain <domain>', 'only messages with a recipient at this domain')
    .option('--older-than <age>', 'only messages accepted at least this long ago: 90s, 30m, 4h, 2d', parseAge)
    .option('--limit <n>', 'at most n messages', (v) => Number(v))
    .action(async (o: { state?: string; domain?: string; olderThan?: number; limit?: number }) =>
      show(
        await call('queue.list', {
          ...(o.state ? { state: o.state as never } : {}),
          ...(o.domain ? { domain: o.domain } : {}),
          ...(o.olderThan !== undefined ? { min_age_s: o.olderThan } : {}),
          ...(o.limit ? { limit: o.limit } : {}),
        }),
        formatQueue,
      ),
    );
  queue.command('show <id>').action(async (id: string) => show(await call('queue.show', { id }), formatDetail));
  queue
    .command('hold <id>')
    .option('--reason <text>', 'why (audited)')
    .action(async (id: string, o: { reason?: string }) => show(await call('queue.hold', { id, ...(o.reason ? { reason: o.reason } : {}) }), formatDetail));
  queue
    .command('release <id>')
    .requiredOption('--reason <text>', 'why (audited)')
    .action(async (id: string, o: { reason: string }) => show(await call('queue.release', { id, reason: o.reason }), formatDetail));
  queue.command('retry <id>').action(async (id: string) => show(await call('queue.retry', { id }), formatDetail));
  queue
    .command('delete <id>')
    .requiredOption('--reason <text>', 'why (audited)')
    .action(async (id: string, o: { reason: string }) => show(await call('queue.delete', { id, reason: o.reason }), formatDetail));

  const dkim = program.command('dkim').description('DKIM signing keys and the DNS records to publish');
  dkim
    .command('show')
    .option('--domain <domain>', 'one of the configured domains (default: the first)')
    .action(async (o: { domain?: string }) => show(await call('dkim.show', o.domain ? { domain: o.domain } : {}), formatDkim));
  dkim
    .command('rotate <domain>')
    .description('new keys; the old selectors stay listed (publish both) for dkim.retire_days')
    .action(async (domain: string) => show(await call('dkim.rotate', { domain }), formatDkim));

  program
    .command('tls')
    .description("recipient domains' TLS as learned from deliveries (STARTTLS, protocol, certificate, MTA-STS, DANE)")
    .option('--domain <domain>', 'one domain')
    .action(async (o: { domain?: string }) => show(await call('tls.domains', o.domain ? { domain: o.domain } : {}), formatTlsDomains));

  const policy = program.command('policy').description('protection policy: ordered rules, DLP findings, versions');
  policy.command('list').action(async () => show(await call('policy.list', {}), formatPolicy));
  policy
    .command('add <name>')
    .description('add a rule before the default rule (or at --position)')
    .requiredOption('--action <action>', 'tls | e2e | portal | quarantine | block')
    .option('--when <json>', 'conditions as JSON, e.g. \'{"findings":["ssn"],"stream":"marketing"}\'')
    .option('--findings <detectors>', 'comma-separated detectors (ssn,mbi,mrn,dob,icd10,npi,card,patient_contact,keyword) or "any"')
    .option('--recipient-domain <glob>', 'recipient domain, * wildcards')
    .option('--recipient <glob>', 'recipient address, * wildcards')
    .option('--sender <glob>', 'envelope sender, * wildcards')
    .option('--app <name>', 'sending application')
    .option('--stream <stream>', 'transactional | marketing')
    .option('--reason <text>', 'shown to the sender when the action is block')
    .option('--position <n>', '1-based position in the ruleset', (v) => Number(v))
    .option('--portal-expiry-days <n>', 'portal items made under this rule can be read for n days (default portal.expiry_days)', (v) => Number(v))
    .action(async (ruleName: string, o: { action: string; when?: string; findings?: string; recipientDomain?: string; recipient?: string; sender?: string; app?: string; stream?: string; reason?: string; position?: number; portalExpiryDays?: number }) => {
      let when: Record<string, unknown> = {};
      if (o.when) {
        try {
          when = JSON.parse(o.when) as Record<string, unknown>;
        } catch {
          throw new CliFailure('--when: not valid JSON', 2);
        }
      }
      if (o.findings) when.findings = o.findings === 'any' ? 'any' : o.findings.split(',').map((x) => x.trim());
      if (o.recipientDomain) when.recipient_domain = o.recipientDomain;
      if (o.recipient) when.recipient = o.recipient;
      if (o.sender) when.sender = o.sender;
      if (o.app) when.app = o.app;
      if (o.stream) when.stream = o.stream;
      const rule = { name: ruleName, when, action: o.action as PolicyRule['action'], ...(o.reason ? { reason: o.reason } : {}), ...(o.portalExpiryDays !== undefined ? { portal_expiry_days: o.portalExpiryDays } : {}) };
      show(await call('policy.add', { rule, ...(o.position ? { position: o.position } : {}) }), formatPolicy);
    });
  policy.command('remove <name>').action(async (ruleName: string) => show(await call('policy.remove', { name: ruleName }), formatPolicy));
  policy
    .command('set <file>')
    .description('replace the whole ruleset with the JSON array in FILE (validated; a new version)')
    .requiredOption('--comment <text>', 'why (kept with the version and audited)')
    .action(async (file: string, o: { comment: string }) => show(await call('policy.set', { rules: readJson(file) as PolicyRule[], comment: o.comment }), formatPolicy));
  policy
    .command('test <file>')
    .description('run FILE.eml through the detectors and rules without sending it')
    .option('--to <addresses>', 'comma-separated recipients (default: To and Cc of the message)')
    .option('--app <name>', 'as if sent by this application')
    .option('--stream <stream>', 'transactional | marketing')
    .action(async (file: string, o: { to?: string; app?: string; stream?: string }) =>
      show(
        await call('policy.test', {
          eml_base64: readFileOrFail(file).toString('base64'),
          ...(o.to ? { recipients: o.to.split(',').map((x) => x.trim()) } : {}),
          ...(o.app ? { app: o.app } : {}),
          ...(o.stream ? { stream: o.stream as 'transactional' | 'marketing' } : {}),
        }),
        formatPolicyTest,
      ),
    );
  policy
    .command('replay')
    .description('how a candidate ruleset (FILE, default: the active one) would have decided recent traffic')
    .option('--file <file>', 'candidate ruleset (JSON array)')
    .option('--days <n>', 'how far back', (v) => Number(v), 30)
    .action(async (o: { file?: string; days: number }) => show(await call('policy.replay', { ...(o.file ? { rules: readJson(o.file) as PolicyRule[] } : {}), days: o.days }), formatReplay));

  program
    .command('message')
    .description('one message')
    .command('explain <id>')
    .description('why the message was protected the way it was: rules, detectors, attempts')
    .action(async (id: string) => show(await call('message.explain', { id }), formatExplain));

  const portalCmd = program.command('portal').description('secure-portal messages');
  portalCmd
    .command('list')
    .option('--unopened', 'only items nobody has opened yet')
    .option('--message <id>', 'only the items of one queued message')
    .action(async (o: { unopened?: boolean; message?: string }) =>
      show(await call('portal.items', { ...(o.unopened ? { unopened: true } : {}), ...(o.message ? { message: o.message } : {}) }), formatPortalItems),
    );
  portalCmd
    .command('recall <id>')
    .description('withdraw a message from the portal: its copies are shredded and the links answer 410')
    .requiredOption('--reason <text>', 'why (audited)')
    .action(async (id: string, o: { reason: string }) => show(await call('portal.recall', { id, reason: o.reason }), (r) => `${r.recalled} portal item(s) recalled`));

  const keys = program.command('keys').description('recipient OpenPGP keys and S/MIME certificates; the practice\'s own signing keys');
  keys
    .command('practice')
    .description("the practice's OpenPGP public keys that sign its PGP/MIME (keys.pgp_sign), to publish")
    .option('--domain <domain>', 'one domain')
    .action(async (o: { domain?: string }) =>
      show(await call('keys.practice', { ...(o.domain ? { domain: o.domain } : {}) }), (ks) => (ks.length ? ks.map((k) => `# ${k.domain} ${k.fingerprint} (created ${k.created_at})\n${k.public_key.trim()}`).join('\n\n') : 'no practice signing keys (set keys.pgp_sign = true)')),
    );
  keys
    .command('import <file>')
    .option('--email <address>', 'only for this address (default: every address the key names)')
    .action(async (file: string, o: { email?: string }) => show(await call('keys.import', { material: readFileOrFail(file).toString('utf8'), ...(o.email ? { email: o.email } : {}) }), formatKeys));
  keys.command('list').action(async () => show(await call('keys.list', {}), formatKeys));
  keys.command('remove <id>').action(async (id: string) => show(await call('keys.remove', { id }), (r) => `key ${r.removed} removed`));

  program
    .command('dlp')
    .description('data loss prevention')
    .command('keywords')
    .description('the dictionary of diagnoses and drugs; without options, list it')
    .option('--add <terms>', 'comma-separated terms to add')
    .option('--remove <terms>', 'comma-separated terms to remove')
    .action(async (o: { add?: string; remove?: string }) => {
      const split = (v?: string) => (v ? v.split(',').map((x) => x.trim()).filter(Boolean) : []);
      const result = o.add || o.remove ? await call('dlp.keywords.edit', { add: split(o.add), remove: split(o.remove) }) : await call('dlp.keywords', {});
      show(result, (r) => r.join('\n'));
    });

  const audit = program.command('audit').description('the tamper-evident audit log');
  audit.command('verify').action(async () => {
    const r = await call('audit.verify', {});
    show(r, (v) => (v.ok ? `audit chain intact: ${v.entries} entries` : `audit chain BROKEN at entry ${v.first_bad}: ${v.problem}`));
    if (!r.ok) throw new CliFailure(`audit chain broken at entry ${r.first_bad}: ${r.problem}`, 2);
  });
  audit
    .command('tail')
    .option('--limit <n>', 'how many recent entries', (v) => Number(v), 20)
    .option('--follow', 'keep printing new entries')
    .action(async (o: { limit: number; follow?: boolean }) => {
      const client = await ControlClient.connect(findSocket(globals()));
      const print = (entries: ResultOf<'audit.tail'>) => {
        if (entries.length === 0) return;
        out(globals().json ? entries.map((e) => JSON.stringify(e)).join('\n') : formatAudit(entries));
      };
      try {
        let entries = await client.call('audit.tail', { limit: o.limit });
        if (!o.follow && globals().json) out(JSON.stringify(entries, null, 2));
        else print(entries);
        let last = entries.at(-1)?.seq ?? 0;
        while (o.follow) {
          await new Promise((r) => setTimeout(r, 1000));
          entries = await client.call('audit.tail', { after: last, limit: 1000 });
          print(entries);
          last = entries.at(-1)?.seq ?? last;
        }
      } finally {
        client.close();
      }
    });

  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : (e.exitCode ?? 64);
    }
    if (err instanceof CliFailure) {
      process.stderr.write(`sealpost: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof ControlError) {
      process.stderr.write(`sealpost: ${err.code}: ${err.message}\n`);
      return err.code === 'UNAVAILABLE' ? 69 : 1;
    }
    process.stderr.write(`sealpost: ${e.message ?? String(err)}\n`);
    return 1;
  }
}
