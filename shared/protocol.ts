// Wire format of the control socket: one JSON object per line (NDJSON), both ways.
//
// 1. client -> {"id":1,"method":"hello","params":{"version":1}}
//    daemon -> {"id":1,"ok":true,"result":{"version":1,"challenge":"<hex>","proof_dir":"/…/auth"}}
// 2. client creates <proof_dir>/<challenge> (O_EXCL, regular file) and sends
//    {"id":2,"method":"prove","params":{"challenge":"<hex>"}}; the daemon reads the
//    file's owner uid (the kernel's word for who created it), removes it and maps the
//    uid to a role.
// 3. any method of shared/api.ts; each answer is {"id","ok":true,"result"} or
//    {"id","ok":false,"error":{"code","message","ref"?}}.

import type { ControlErrorCode } from './errors.js';

export const MAX_FRAME_BYTES = 1024 * 1024;

export interface RequestFrame {
  id: number;
  method: string;
  params?: unknown;
}

export type ResponseFrame =
  | { id: number; ok: true; result: unknown }
  | { id: number | null; ok: false; error: { code: ControlErrorCode; message: string; ref?: string } };

export interface HelloResult {
  version: number;
  daemon_version: string;
  challenge: string;
  proof_dir: string;
}

/** Splits a byte stream into lines and enforces the frame size limit. */
export class LineSplitter {
  private buffered = '';
  constructor(private readonly maxBytes = MAX_FRAME_BYTES) {}

  /** Returns complete lines; throws RangeError when a line outgrows the limit. */
  push(chunk: string): string[] {
    this.buffered += chunk;
    const lines = this.buffered.split('\n');
    this.buffered = lines.pop() ?? '';
    if (Buffer.byteLength(this.buffered) > this.maxBytes) throw new RangeError('frame too large');
    for (const line of lines) {
      if (Buffer.byteLength(line) > this.maxBytes) throw new RangeError('frame too large');
    }
    return lines.filter((l) => l.trim() !== '');
  }
}
