// Loads and validates the TOML config, or the embedded default when no file is named.
// Inputs: a path or nothing. Output: a resolved Config, or ConfigError listing every problem.

import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { configSchema, formatIssues, type Config } from './schema.js';

export class ConfigError extends Error {
  constructor(readonly source: string, readonly problems: string[]) {
    super(`invalid config ${source}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Exit status for a configuration error (sysexits EX_CONFIG). */
export const EX_CONFIG = 78;

export function loadConfig(path?: string): Config {
  let raw: unknown = {};
  let base = process.cwd();
  const source = path ? resolve(path) : 'embedded default';
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(source, [`(file): cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
    }
    try {
      raw = parseToml(text);
    } catch (err) {
      const e = err as { line?: number; column?: number; message: string };
      throw new ConfigError(source, [`(syntax): line ${e.line ?? '?'} column ${e.column ?? '?'}: ${e.message.split('\n')[0]}`]);
    }
    base = dirname(source);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, formatIssues(parsed.error));
  const c = parsed.data;
  const problems: string[] = [];
  const host = c.hostname ?? osHostname();
  const domains = c.domains ?? [host.includes('.') ? host.slice(host.indexOf('.') + 1) : host];
  if (domains.length === 0) problems.push('domains: at least one sending domain is required');
  if ((c.smtp.tls_cert === '') !== (c.smtp.tls_key === '')) {
    problems.push('smtp.tls_cert: tls_cert and tls_key must be set together (or both empty for a generated certificate)');
  }
  if (problems.length > 0) throw new ConfigError(source, problems);
  const abs = (p: string) => (p === '' ? '' : resolve(base, p));
  return {
    ...c,
    hostname: host.toLowerCase(),
    domains: domains.map((d) => d.toLowerCase()),
    data_dir: abs(c.data_dir),
    smtp: { ...c.smtp, tls_cert: abs(c.smtp.tls_cert), tls_key: abs(c.smtp.tls_key) },
    control: { ...c.control, socket: abs(c.control.socket) },
    delivery: { ...c.delivery, tls: { ca_file: abs(c.delivery.tls.ca_file) } },
    source,
  };
}

export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hp.slice(i + 1)) };
}
