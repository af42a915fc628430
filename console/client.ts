// The control client used by the CLI and the console: connects to the daemon's Unix socket,
// shakes hands (protocol version), proves the local identity and makes typed calls.

import { closeSync, openSync, unlinkSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { PROTOCOL_VERSION, type Method, type ParamsOf, type ResultOf } from '../shared/api.js';
import { ControlError } from '../shared/errors.js';
import { LineSplitter, type HelloResult, type ResponseFrame } from '../shared/protocol.js';

export class ControlClient {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closedError: Error | null = null;

  private constructor(private readonly socket: Socket, readonly socketPath: string) {
    const splitter = new LineSplitter(64 * 1024 * 1024);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const line of splitter.push(chunk)) {
        const frame = JSON.parse(line) as ResponseFrame;
        const p = frame.id === null ? undefined : this.pending.get(frame.id);
        if (!p) continue;
        this.pending.delete(frame.id as number);
        if (frame.ok) p.resolve(frame.result);
        else p.reject(new ControlError(frame.error.code, frame.error.message));
      }
    });
    const fail = (err: Error) => {
      this.closedError = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    socket.on('error', (err) => fail(new ControlError('UNAVAILABLE', `control socket ${socketPath}: ${err.message}`)));
    socket.on('close', () => fail(new ControlError('UNAVAILABLE', `control socket ${socketPath} closed`)));
  }

  static async connect(socketPath: string): Promise<ControlClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(socketPath);
      s.once('connect', () => resolve(s));
      s.once('error', (err: NodeJS.ErrnoException) =>
        reject(new ControlError('UNAVAILABLE', `cannot reach the daemon at ${socketPath} (${err.code ?? err.message}); is it running?`)),
      );
    });
    const client = new ControlClient(socket, socketPath);
    try {
      const hello = (await client.raw('hello', { version: PROTOCOL_VERSION })) as HelloResult;
      const proof = join(hello.proof_dir, hello.challenge);
      closeSync(openSync(proof, 'wx', 0o600));
      try {
        await client.raw('prove', { challenge: hello.challenge });
      } finally {
        try {
          unlinkSync(proof);
        } catch {
          // the daemon removed it
        }
      }
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return client;
  }

  private raw(method: string, params: unknown): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(JSON.stringify({ id, method, params }) + '\n');
    });
  }

  call<M extends Method>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    return this.raw(method, params) as Promise<ResultOf<M>>;
  }

  close(): void {
    this.socket.end();
  }
}
