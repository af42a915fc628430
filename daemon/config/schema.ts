// Config schema: the TOML keys of CONTRACT.md plus ours, validated strictly.
// Unknown keys are errors, so a typo in a TLS or policy setting stops the appliance
// instead of quietly weakening it.

import { z } from 'zod';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, for example 127.0.0.1:2587')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be 0-65535');

const hostname = z
  .string()
  .regex(/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, 'must be a DNS host name');

function streamSettings(concurrency: number, perMinute: number) {
  return z
    .object({
      concurrency: z.number().int().min(1).max(500).default(concurrency),
      /** Messages per minute for the whole stream; 0 = no limit. */
      per_minute: z.number().int().min(0).max(1_000_000).default(perMinute),
      /** HELO name for this stream's connections; empty = hostname. */
      helo: z.union([z.literal(''), hostname]).default(''),
      /** Local address to send from (a distinct IP for bulk mail); empty = the system's choice. */
      source_ip: z.string().regex(/^([0-9.]+|[0-9a-fA-F:]+)?$/, 'must be an IP address').default(''),
    })
    .strict()
    .prefault({});
}

export const configSchema = z
  .object({
    data_dir: z.string().min(1).default('./var'),
    hostname: hostname.optional(),
    domains: z.array(hostname).optional(),
    name: z.string().min(1).max(80).default('Sealpost'),
    smtp: z
      .object({
        submission: hostPort.default('127.0.0.1:2587'),
        submission_tls: hostPort.default('127.0.0.1:2465'),
        max_message_bytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(26214400),
        tls_cert: z.string().default(''),
        tls_key: z.string().default(''),
        /** RCPT beyond this gets 452 4.5.3 (RFC 5321 §4.5.3.1.8 asks servers to take at least 100). */
        max_recipients: z.number().int().min(1).max(10000).default(100),
        /** "normalize" rewrites bare CR / bare LF to CRLF; "reject" answers 550 5.6.0 (Postfix smtpd_forbid_bare_newline). */
        bare_newline: z.enum(['normalize', 'reject']).default('normalize'),
        max_clients: z.number().int().min(1).max(100000).default(500),
        socket_timeout_s: z.number().int().min(5).max(3600).default(120),
        /** Failed AUTH attempts allowed on one connection before 421 and disconnect. */
        auth_failures_per_connection: z.number().int().min(1).max(20).default(3),
        /** Failures from one IP, or against one app, within lockout_minutes before a 4xx lockout. */
        auth_failures_per_ip: z.number().int().min(1).max(10000).default(10),
        auth_failures_per_app: z.number().int().min(1).max(10000).default(10),
        lockout_minutes: z.number().int().min(1).max(24 * 60).default(15),
      })
      .strict()
      .prefault({}),
    portal: z
      .object({
        listen: hostPort.default('127.0.0.1:8443'),
        public_url: z.string().url('must be an https URL').refine((u) => u.startsWith('https://'), 'must be an https URL').default('https://127.0.0.1:8443'),
        /** Days a portal message stays readable; then its key is destroyed and the link answers 410. */
        expiry_days: z.number().min(0.001).max(365).default(30),
        /** Days a browser that proved a recipient's address stays trusted for that address (no new code). 0 = never. */
        trust_days: z.number().min(0).max(365).default(30),
        /** Requests per minute from one IP address to the portal (code and reply requests have tighter limits). */
        requests_per_minute: z.number().int().min(10).max(1_000_000).default(120),
        /** Days after which an unopened item gets one reminder notice. 0 = none. */
        reminder_days: z.number().min(0).max(365).default(3),
        /** PEM paths for the portal's HTTPS; empty = the SMTP certificate (smtp.tls_cert, or the generated one). */
        tls_cert: z.string().default(''),
        tls_key: z.string().default(''),
      })
      .strict()
      .prefault({}),
    control: z
      .object({
        socket: z.string().min(1).default('./var/run/control.sock'),
        /** Unix group given read/write on the socket (others have no access). Empty: root/owner only. */
        group: z.string().default(''),
      })
      .strict()
      .prefault({}),
    delivery: z
      .object({
        routes: z.record(z.string(), hostPort).default({}),
        /** Accept and queue, but attempt no delivery (maintenance; like Postfix defer_transports). */
        paused: z.boolean().default(false),
        /** Transactional stream: its own worker pool, always claimed first. */
        transactional: streamSettings(10, 0),
        /** Marketing stream: its own (smaller) pool and an overall rate cap, so bulk never delays transactional mail. */
        marketing: streamSettings(4, 0),
        /** Parallel transactions to one recipient domain, per stream (Postfix default_destination_concurrency_limit). */
        domain_concurrency: z.number().int().min(1).max(100).default(5),
        /** Messages per minute to one recipient domain, per stream; 0 = no limit. */
        domain_per_minute: z.number().int().min(0).max(1_000_000).default(0),
        /** Per recipient domain overrides, for example { "bigmail.example" = { concurrency = 10, per_minute = 600 } }. */
        domain_limits: z
          .record(hostname, z.object({ concurrency: z.number().int().min(1).max(100).optional(), per_minute: z.number().int().min(0).max(1_000_000).optional() }).strict())
          .default({}),
        /** Tell the sender once when a recipient is still undelivered after this many hours (0 = never). */
        delay_notice_hours: z.number().min(0).max(24 * 30).default(4),
        /** TCP port of MX hosts (25; other values only for test labs). */
        mx_port: z.number().int().min(1).max(65535).default(25),
        dns: z
          .object({
            /** Resolvers to ask ("ip" or "ip:port"); empty = the system's. DANE needs a validating resolver here (it trusts the AD bit). */
            servers: z.array(z.string().regex(/^[0-9a-fA-F:.[\]]+$/, 'must be an IP address, optionally with :port')).default([]),
          })
          .strict()
          .prefault({}),
        mta_sts: z
          .object({
            enabled: z.boolean().default(true),
            /** HTTPS port of mta-sts.<domain> (443; other values only for test labs). */
            port: z.number().int().min(1).max(65535).default(443),
          })
          .strict()
          .prefault({}),
        dane: z.object({ enabled: z.boolean().default(true) }).strict().prefault({}),
        /** Give up on a recipient this many hours after it was accepted (Postfix: 5 days). */
        give_up_hours: z.number().min(0.0001).max(24 * 30).default(120), // fractions of an hour serve test labs
        tls: z
          .object({ ca_file: z.string().default('') })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    dlp: z
      .object({
        /** A scan that takes longer than this holds the message for review. */
        budget_ms: z.number().int().min(10).max(60_000).default(2000),
        /**
         * Worker threads for DLP scans. 0 scans on the event loop (budget checked between parts);
         * threads use the other cores and can stop a scan stuck inside one part. Default: one per
         * core beyond the second (at most 4); on a 2-core box 0 (measured faster there), or 1 when
         * custom mrn_patterns are set (a worker can be stopped; the event loop cannot).
         */
        scan_threads: z.number().int().min(0).max(16).optional(),
        /** Regular expressions (case-insensitive) for the practice's medical record numbers. */
        mrn_patterns: z
          .array(
            z
              .string()
              .min(1)
              .max(300)
              .refine((p) => {
                try {
                  new RegExp(p, 'gi');
                  return true;
                } catch {
                  return false;
                }
              }, 'not a valid regular expression'),
          )
          .optional(),
      })
      .strict()
      .prefault({}),
    keys: z
      .object({
        /** Look up recipients' OpenPGP keys in their domain's Web Key Directory when none is on file. */
        wkd: z.boolean().default(false),
        /** HTTPS port for WKD (443; other values only for test labs). */
        wkd_port: z.number().int().min(1).max(65535).default(443),
        /** S/MIME key transport: RSA PKCS #1 v1.5 (every client decrypts it) or RSAES-OAEP. */
        smime_key_transport: z.enum(['rsa-pkcs1', 'rsa-oaep']).default('rsa-pkcs1'),
        /** Sign outgoing PGP/MIME with the practice's key for the sender's domain (generated at start). */
        pgp_sign: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    dkim: z
      .object({
        /** Sign outgoing mail of `domains` (keys are generated at first start). */
        enabled: z.boolean().default(true),
        /**
         * Also sign with the Ed25519 key (RFC 8463) beside the RSA one. Both keys are generated and
         * listed by `dkim show` either way; off by default because the Ed25519 signer (mailauth)
         * costs about 1 ms of CPU per message, while receivers that verify Ed25519 also verify RSA.
         */
        ed25519: z.boolean().default(false),
        /** Keep a retired selector listed by `dkim show` this many days (mail in flight and in mailboxes still verifies). */
        retire_days: z.number().int().min(1).max(365).default(7),
      })
      .strict()
      .prefault({}),
    store: z
      .object({
        /** Cap on the database size; past it intake answers 452 4.3.1 instead of filling the disk. 0 = no cap. */
        max_size_mb: z.number().int().min(0).max(16 * 1024 * 1024).default(0),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') })
      .strict()
      .prefault({}),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;

export interface Config extends Omit<RawConfig, 'hostname' | 'domains'> {
  hostname: string;
  domains: string[];
  /** Where the config came from: a path, or "embedded default". */
  source: string;
}

/** `key.path: problem` lines, one per issue, in the order zod found them. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const key = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => `${[...issue.path, k].join('.')}: unknown key`).join('\n');
    }
    return `${key}: ${issue.message}`;
  }).flatMap((l) => l.split('\n'));
}
