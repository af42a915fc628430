// The control socket: NDJSON frames (shared/protocol.ts) on a Unix socket, mode 0660.
// Every connection proves a local identity first; every method is checked against its
// least role (shared/api.ts) before its handler runs. Handlers audit their own changes.
// Inputs: frames. Outputs: frames. Side effects: the socket file and the proof directory.

import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { METHODS, PROTOCOL_VERSION, type Method } from '../../shared/api.js';
import { roleAllows, type Role } from '../../shared/domain.js';
import { ControlError } from '../../shared/errors.js';
import { LineSplitter, type RequestFrame, type ResponseFrame } from '../../shared/protocol.js';
import type { Log } from '../log.js';
import type { Handlers } from './handlers/index.js';
import { prepareProofDir, readProof, resolveRole, type Identity } from './identity.js';

export interface ControlServerOptions {
  socketPath: string;
  /** Unix group that gets read/write on the socket (empty: owner only). */
  group: string;
  version: string;
  log: Log;
  handlers: Handlers;
  roleOf: (user: string) => Role | null;
  onDenied: (identity: Identity, method: string) => void;
}

function groupId(name: string): number {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined) return Number(f[2]);
  }
  throw new Error(`control.group: no Unix group ${name}`);
}

export class ControlServer {
  private server: Server | null = null;
  private readonly proofDir: string;
  private sockets = new Set<Socket>();

  constructor(private readonly opts: ControlServerOptions) {
    this.proofDir = join(dirname(opts.socketPath), 'proof');
  }

  async start(): Promise<void> {
    const path = this.opts.socketPath;
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    if (existsSync(path)) {
      // A leftover socket from a crash is replaced; anything else planted there is refused.
      if (!lstatSync(path).isSocket()) throw new Error(`control socket path ${path} exists and is not a socket`);
      unlinkSync(path);
    }
    prepareProofDir(this.proofDir);
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o660);
    if (this.opts.group) chownSync(path, -1, groupId(this.opts.group));
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setEncoding('utf8');
    const splitter = new LineSplitter();
    let identity: Identity | null = null;
    let challenge: string | null = null;
    let chain = Promise.resolve();
    const send = (frame: ResponseFrame) => {
      if (!socket.destroyed) socket.write(JSON.stringify(frame) + '\n');
    };
    const fail = (id: number | null, err: unknown) => {
      if (err instanceof ControlError) return send({ id, ok: false, error: { code: err.code, message: err.message } });
      const ref = randomBytes(6).toString('hex');
      this.opts.log.error({ ref, err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'control handler failed');
      send({ id, ok: false, error: { code: 'INTERNAL', message: `internal error (ref ${ref})`, ref } });
    };
    const handle = async (frame: RequestFrame) => {
      if (frame.method === 'hello') {
        const v = (frame.params as { version?: number } | undefined)?.version;
        if (v !== PROTOCOL_VERSION) throw new ControlError('VERSION_MISMATCH', `daemon speaks protocol ${PROTOCOL_VERSION}, client ${String(v)}`);
        challenge = randomBytes(32).toString('hex');
        return { version: PROTOCOL_VERSION, daemon_version: this.opts.version, challenge, proof_dir: this.proofDir };
      }
      if (frame.method === 'prove') {
        const c = (frame.params as { challenge?: string } | undefined)?.challenge;
        if (!challenge || c !== challenge) throw new ControlError('IDENTITY_FAILED', 'challenge does not match this connection');
        challenge = null;
        identity = resolveRole(readProof(this.proofDir, c), this.opts.roleOf);
        return identity;
      }
      if (!identity) throw new ControlError('UNAUTHENTICATED');
      if (!Object.hasOwn(METHODS, frame.method)) throw new ControlError('UNKNOWN_METHOD', `no method ${frame.method}`);
      const method = frame.method as Method;
      if (!roleAllows(identity.role, METHODS[method].role)) {
        this.opts.onDenied(identity, method);
        throw new ControlError('FORBIDDEN', `${method} needs role ${METHODS[method].role}; ${identity.user} is ${identity.role}`);
      }
      const handler = this.opts.handlers[method] as (p: unknown, who: Identity) => Promise<unknown>;
      return handler(frame.params ?? {}, identity);
    };
    socket.on('data', (chunk: string) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch {
        send({ id: null, ok: false, error: { code: 'FRAME_TOO_LARGE', message: 'frame exceeds 1 MiB' } });
        socket.end();
        return;
      }
      for (const line of lines) {
        let frame: RequestFrame;
        try {
          frame = JSON.parse(line) as RequestFrame;
          if (typeof frame !== 'object' || frame === null || typeof frame.id !== 'number' || typeof frame.method !== 'string') throw new Error();
        } catch {
          send({ id: null, ok: false, error: { code: 'BAD_REQUEST', message: 'expected {"id":number,"method":string,"params":{}}' } });
          continue;
        }
        // one request at a time per connection, answered in order
        chain = chain.then(() => handle(frame).then((result) => send({ id: frame.id, ok: true, result }), (err) => fail(frame.id, err)));
      }
    });
  }
}
