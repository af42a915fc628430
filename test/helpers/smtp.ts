// SMTP clients for tests: nodemailer for the real-client paths, and a raw line client over
// implicit TLS for protocol abuse (smuggling sequences, parameters nodemailer won't send).

import nodemailer, { type TransportOptions } from 'nodemailer';
import { connect, type TLSSocket } from 'node:tls';

export function transport(port: number, opts: { secure: boolean; user?: string; pass?: string; pool?: boolean; maxConnections?: number }) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: opts.secure,
    requireTLS: !opts.secure,
    ...(opts.user ? { auth: { user: opts.user, pass: opts.pass ?? '' } } : {}),
    tls: { rejectUnauthorized: false, minVersion: 'TLSv1.2' },
    ...(opts.pool ? { pool: true, maxConnections: opts.maxConnections ?? 5, maxMessages: Infinity } : {}),
  } as TransportOptions);
}

export interface Reply {
  code: number;
  lines: string[];
}

export class RawSmtp {
  private buffer = '';
  private waiters: Array<(r: Reply) => void> = [];
  private replies: Reply[] = [];
  private partial: string[] = [];
  closed = false;

  private constructor(private readonly socket: TLSSocket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => this.feed(d));
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w({ code: 0, lines: ['(closed)'] });
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawSmtp> {
    const socket = await new Promise<TLSSocket>((res, rej) => {
      const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => res(s));
      s.once('error', rej);
    });
    const c = new RawSmtp(socket);
    await c.reply(); // greeting
    return c;
  }

  private feed(d: string): void {
    this.buffer += d;
    let i: number;
    while ((i = this.buffer.indexOf('\r\n')) !== -1) {
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 2);
      this.partial.push(line);
      if (line[3] !== '-') {
        const r = { code: Number(line.slice(0, 3)), lines: this.partial };
        this.partial = [];
        const w = this.waiters.shift();
        if (w) w(r);
        else this.replies.push(r);
      }
    }
  }

  reply(): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve({ code: 0, lines: ['(closed)'] });
    return new Promise((res) => this.waiters.push(res));
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  async cmd(line: string): Promise<Reply> {
    this.write(line + '\r\n');
    return this.reply();
  }

  async login(user: string, pass: string): Promise<void> {
    const ehlo = await this.cmd('EHLO test.client');
    if (ehlo.code !== 250) throw new Error(`EHLO: ${ehlo.lines.join(' ')}`);
    const auth = await this.cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`);
    if (auth.code !== 235) throw new Error(`AUTH: ${auth.lines.join(' ')}`);
  }

  /** MAIL, RCPT for each recipient, DATA; throws unless they get 250, 250…, 354. */
  async beginData(from: string, to: string[]): Promise<void> {
    const expect = async (line: string, code: number) => {
      const r = await this.cmd(line);
      if (r.code !== code) throw new Error(`${line}: expected ${code}, got ${r.lines.join(' | ')}`);
    };
    await expect(`MAIL FROM:<${from}>`, 250);
    for (const rcpt of to) await expect(`RCPT TO:<${rcpt}>`, 250);
    await expect('DATA', 354);
  }

  /** Replies that arrived and were not yet read. */
  pendingReplies(): Reply[] {
    return this.replies.splice(0);
  }

  close(): void {
    this.socket.destroy();
  }
}
