// Where the CLI and console look for the daemon: --socket, SEALPOST_SOCKET, the socket named
// by --config / SEALPOST_CONFIG, ./var/run/control.sock (the embedded default), then the
// appliance's /run/sealpost/control.sock.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from '../../daemon/config/loader.js';

export function findSocket(opts: { socket?: string; config?: string }): string {
  if (opts.socket) return resolve(opts.socket);
  if (process.env.SEALPOST_SOCKET) return resolve(process.env.SEALPOST_SOCKET);
  const configPath = opts.config ?? process.env.SEALPOST_CONFIG;
  if (configPath) return loadConfig(configPath).control.socket;
  const local = resolve('var/run/control.sock');
  if (existsSync(local)) return local;
  return '/run/sealpost/control.sock';
}
