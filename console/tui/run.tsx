// `sealpost console`: enters the terminal's alternate screen, renders the Ink app over a
// control client that reconnects by itself, and leaves the alternate screen on every exit
// path (quit, Ctrl-C, SIGTERM, a crash).

import { render } from 'ink';
import { readFileSync } from 'node:fs';
import type { Method, ParamsOf, ResultOf } from '../../shared/api.js';
import { ControlClient } from '../client.js';
import { App, type ConsoleApi } from './app.js';
import { editPolicy } from './edit-policy.js';
import { viewLines } from './views.js';

const ENTER_ALT = '\x1b[?1049h\x1b[H';
const LEAVE_ALT = '\x1b[?1049l';

/** A control connection that is (re)opened on demand. */
class Reconnecting {
  private client: ControlClient | null = null;

  constructor(private readonly socketPath: string) {}

  async call<M extends Method>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    try {
      this.client ??= await ControlClient.connect(this.socketPath);
      return await this.client.call(method, params);
    } catch (err) {
      this.client?.close();
      this.client = null;
      throw err;
    }
  }

  close(): void {
    this.client?.close();
  }
}

export async function runConsole(socketPath: string): Promise<void> {
  const conn = new Reconnecting(socketPath);
  let readOnly = false;
  try {
    const who = await conn.call('whoami', {});
    readOnly = who.role === 'auditor';
  } catch {
    // not reachable yet: the app says so and keeps retrying
  }
  const api: ConsoleApi = {
    status: () => conn.call('status', {}),
    health: () => conn.call('health', {}),
    // the table asks for the window around its cursor: any queue size fits one control frame
    queue: (q) => conn.call('queue.page', { ...(q.state ? { state: q.state as never } : {}), ...(q.text ? { text: q.text } : {}), order: q.order, offset: q.offset, limit: q.limit }),
    whoami: () => conn.call('whoami', {}),
    perform: async (r) => {
      if (r.method === 'policy.edit') return 'editing';
      if (r.method === 'policy.test') {
        const t = await conn.call('policy.test', { eml_base64: readFileSync(r.path).toString('base64') });
        if (t.blocked) return `test: BLOCKED by ${t.blocked.rule}: ${t.blocked.reason}`;
        const findings = t.findings.map((f) => `${f.detector} x${f.count} in ${f.part}`).join(', ') || 'no findings';
        return `test: ${t.recipients.map((x) => `${x.address} -> ${x.protection} (${x.rule})`).join('; ')}; ${findings}`;
      }
      if (r.method === 'keys.import') {
        const keys = await conn.call('keys.import', { material: readFileSync(r.path, 'utf8') });
        return `imported ${keys.map((k) => `${k.kind} key for ${k.email}`).join(', ')}`;
      }
      if (r.method === 'user.add') {
        const u = await conn.call('user.add', { name: r.name, role: r.role });
        return `user ${u.name} is ${u.role}`;
      }
      if (r.method === 'user.remove') return `user ${(await conn.call('user.remove', { name: r.name })).removed} removed`;
      if (r.method === 'audit.verify') {
        const v = await conn.call('audit.verify', {});
        return v.ok ? `audit chain intact: ${v.entries} entries` : `AUDIT CHAIN BROKEN at entry ${v.first_bad}: ${v.problem ?? ''}`;
      }
      for (const id of r.ids) {
        if (r.method === 'queue.retry') await conn.call('queue.retry', { id });
        else if (r.method === 'queue.hold') await conn.call('queue.hold', { id, reason: r.reason });
        else if (r.method === 'queue.release') await conn.call('queue.release', { id, reason: r.reason });
        else await conn.call('queue.delete', { id, reason: r.reason });
      }
      return `${r.method.replace('queue.', '')}: ${r.ids.join(' ')}`;
    },
    lines: (view, arg) => viewLines(conn, view, arg),
  };
  const leave = () => process.stdout.write(LEAVE_ALT);
  process.once('exit', leave);
  let flash: string | undefined;
  try {
    for (;;) {
      let editRequested = false;
      process.stdout.write(ENTER_ALT);
      const instance = render(
        <App
          api={api}
          readOnly={readOnly}
          {...(flash !== undefined ? { flash } : {})}
          onEditPolicy={() => {
            editRequested = true;
            instance.unmount();
          }}
        />,
        // 60 frames a second at most (Ink's default 30 adds up to 34 ms to a keypress), and
        // only changed lines are rewritten, which keeps SSH sessions light
        { exitOnCtrlC: false, maxFps: 60, incrementalRendering: true },
      );
      const stop = () => instance.unmount();
      process.once('SIGTERM', stop);
      process.once('SIGHUP', stop);
      await instance.waitUntilExit();
      process.off('SIGTERM', stop);
      process.off('SIGHUP', stop);
      leave();
      if (!editRequested) break;
      try {
        flash = await editPolicy(conn);
      } catch (err) {
        flash = `policy edit failed: ${(err as Error).message}`;
      }
    }
  } finally {
    conn.close();
    leave();
    process.off('exit', leave);
  }
}
