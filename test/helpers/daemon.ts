import type { QueueDetail } from '../../shared/domain.js';
// Starts a real Sealpost daemon in a temporary directory (ports chosen by the kernel),
// waits for its "ready" line, and offers the CLI, restarts and kill -9.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = join(ROOT, 'dist/console/bin.js');

export interface Listeners {
  submission: number;
  submission_tls: number;
  portal: number;
}

export type LogRecord = { msg?: string; level?: number } & Record<string, unknown>;

export interface DaemonOptions {
  /** Extra TOML appended to the generated config. */
  extraToml?: string;
  smtpToml?: string;
  /** TOML lines for [portal]. */
  portalToml?: string;
  /** TOML lines for [delivery]; default: paused, so intake tests see mail stay queued. */
  deliveryToml?: string;
}

export class TestDaemon {
  readonly dir: string;
  readonly configPath: string;
  readonly socket: string;
  child: ChildProcess | null = null;
  ports: Listeners = { submission: 0, submission_tls: 0, portal: 0 };
  stderr = '';
  /** The daemon's log records (pino JSON lines) since the last start. */
  readonly records: LogRecord[] = [];
  private waiters = new Set<{ match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }>();
  private exit: Promise<number | null> | null = null;

  constructor(opts: DaemonOptions = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'sealpost-test-'));
    this.configPath = join(this.dir, 'sealpost.toml');
    this.socket = join(this.dir, 'var/run/control.sock');
    writeFileSync(
      this.configPath,
      [
        `data_dir = "${join(this.dir, 'var')}"`,
        'hostname = "mail.clinic.test"',
        'domains = ["clinic.test"]',
        '[smtp]',
        'submission = "127.0.0.1:0"',
        'submission_tls = "127.0.0.1:0"',
        opts.smtpToml ?? '',
        '[portal]',
        'listen = "127.0.0.1:0"',
        opts.portalToml ?? '',
        '[control]',
        `socket = "${this.socket}"`,
        '[delivery]',
        opts.deliveryToml ?? 'paused = true',
        '[log]',
        'level = "info"',
        opts.extraToml ?? '',
      ].join('\n'),
    );
  }

  async start(): Promise<void> {
    this.records.length = 0;
    // SEALPOST_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the daemon in benches
    const nodeArgs = (process.env.SEALPOST_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, BIN, 'daemon', '--config', this.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exit = new Promise((res) => child.once('exit', (code) => res(code)));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    const lines = createInterface({ input: child.stdout! });
    // every log record is kept and offered to waiters, so tests await events, never poll
    lines.on('line', (line) => {
      let rec: LogRecord;
      try {
        rec = JSON.parse(line) as LogRecord;
      } catch {
        return;
      }
      this.records.push(rec);
      for (const w of [...this.waiters]) {
        if (w.match(rec)) {
          this.waiters.delete(w);
          w.resolve(rec);
        }
      }
    });
    await new Promise<void>((res, rej) => {
      const onExit = (code: number | null) => rej(new Error(`daemon exited ${code} before ready: ${this.stderr}`));
      child.once('exit', onExit);
      void this.waitForLog((r) => r.msg === 'ready' && Array.isArray(r.listeners)).then((rec) => {
        for (const l of rec.listeners as Array<{ name: string; address: string }>) {
          if (l.name === 'submission' || l.name === 'submission_tls' || l.name === 'portal') this.ports[l.name] = Number(l.address.split(':').pop());
        }
        child.off('exit', onExit);
        res();
      });
    });
  }

  /** Resolves with the first log record (already seen, or still to come) that matches. */
  waitForLog(match: (r: LogRecord) => boolean, timeoutMs = 20_000): Promise<LogRecord> {
    const seen = this.records.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { match, resolve };
      this.waiters.add(w);
      setTimeout(() => {
        if (this.waiters.delete(w)) reject(new Error('timed out waiting for a daemon log record'));
      }, timeoutMs).unref();
    });
  }

  async stop(): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const code = await this.exit;
    this.child = null;
    return code;
  }

  async kill9(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.exit;
    this.child = null;
  }

  /** Runs the CLI against this daemon; resolves with exit code and output. */
  cli(args: string[], opts: { asUser?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const argv = [BIN, '--socket', this.socket, ...args];
    const [cmd, full] = opts.asUser ? ['runuser', ['-u', opts.asUser, '--', process.execPath, ...argv]] : [process.execPath, argv];
    return new Promise((res) => {
      const p = spawn(cmd, full as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('exit', (code) => res({ code: code ?? -1, stdout, stderr }));
    });
  }

  async cliJson<T>(args: string[]): Promise<T> {
    const r = await this.cli([...args, '--json']);
    if (r.code !== 0) throw new Error(`sealpost ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Awaits the daemon's delivery log line for this message and state, then reads the message. */
  async settled(id: string, state: string): Promise<QueueDetail> {
    await this.waitForLog((r) => r.msg === 'delivery' && r.id === id && r.state === state);
    return this.cliJson<QueueDetail>(['queue', 'show', id]);
  }

  /** Creates an app and returns its password. */
  async addApp(name: string, extra: string[] = []): Promise<string> {
    return (await this.cliJson<{ password: string }>(['app', 'add', name, ...extra])).password;
  }

  async cleanup(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Reads and unseals a stored message body straight from the daemon's files (tests only). */
export async function readStoredBody(d: TestDaemon, id: string): Promise<Buffer> {
  const { openDb } = await import('../../daemon/store/db.js');
  const { Vault } = await import('../../daemon/store/vault.js');
  const db = openDb(join(d.dir, 'var/sealpost.db'), { readonly: true, skipIntegrity: true });
  try {
    const row = db.prepare('SELECT sealed FROM bodies WHERE message_id = ?').get(id) as { sealed: Buffer } | undefined;
    if (!row) throw new Error(`no body for ${id}`);
    return Vault.open(join(d.dir, 'var/keys/master.key')).open(row.sealed, id);
  } finally {
    db.close();
  }
}
