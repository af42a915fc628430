// The daemon's logger: pino, one JSON line per record on stdout (journald takes it).
// Redacts fields that could carry secrets or PHI; callers log identifiers, never content.

import { pino, type Logger } from 'pino';

export type Log = Logger;

export function createLogger(level: string): Log {
  return pino({
    level,
    base: { svc: 'sealpost' },
    redact: {
      paths: ['password', '*.password', 'body', '*.body', 'subject', '*.subject', 'text', '*.text', 'html', '*.html', 'headers', '*.headers'],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
