// Numbered schema migrations, applied in order inside one transaction each.
// PRAGMA user_version records the last one applied. Never edit a shipped migration: add one.

export const MIGRATIONS: readonly string[] = [
  // 1: apps, users, messages, sealed bodies, recipients, the audit chain
  `
  CREATE TABLE apps (
    name TEXT PRIMARY KEY,
    stream TEXT NOT NULL CHECK (stream IN ('transactional','marketing')),
    from_patterns TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    last_auth_at TEXT
  ) STRICT;

  CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('admin','operator','auditor')),
    created_at TEXT NOT NULL
  ) STRICT;

  CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL,
    app TEXT NOT NULL,
    stream TEXT NOT NULL,
    sender TEXT NOT NULL,
    size INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    client_ip TEXT NOT NULL
  ) STRICT;
  CREATE INDEX messages_received ON messages(received_at);

  CREATE TABLE bodies (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    sealed BLOB NOT NULL
  ) STRICT;

  CREATE TABLE recipients (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    domain TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued','active','deferred','held','delivered','portal','bounced','expired','deleted')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error TEXT,
    hold_reason TEXT,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX recipients_due ON recipients(state, next_attempt_at);
  CREATE INDEX recipients_message ON recipients(message_id);
  CREATE INDEX recipients_domain ON recipients(domain, state);

  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  ) STRICT;
  CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
  CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  `,
  // 2: delivery: leases on recipients, attempt history
  `
  ALTER TABLE recipients ADD COLUMN lease_until INTEGER;
  ALTER TABLE recipients ADD COLUMN first_attempt_at INTEGER;
  CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    recipient_id INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    host TEXT NOT NULL,
    tls_version TEXT,
    tls_cipher TEXT,
    code INTEGER,
    response TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('delivered','deferred','bounced','held'))
  ) STRICT;
  CREATE INDEX attempts_recipient ON attempts(recipient_id);
  `,
  // 3: two streams on recipient rows, delay notices, notices/DSNs, DKIM keys, the TLS record
  `
  ALTER TABLE recipients ADD COLUMN stream TEXT NOT NULL DEFAULT 'transactional';
  UPDATE recipients SET stream = (SELECT m.stream FROM messages m WHERE m.id = recipients.message_id);
  CREATE INDEX recipients_stream_due ON recipients(stream, state, next_attempt_at);
  ALTER TABLE recipients ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'mail';
  ALTER TABLE attempts ADD COLUMN tls_verified TEXT;

  CREATE TABLE dkim_keys (
    domain TEXT NOT NULL,
    selector TEXT NOT NULL,
    algorithm TEXT NOT NULL CHECK (algorithm IN ('rsa','ed25519')),
    private_sealed BLOB NOT NULL,
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    PRIMARY KEY (domain, selector)
  ) STRICT;

  CREATE TABLE tls_domains (
    domain TEXT PRIMARY KEY,
    starttls INTEGER,
    tls_version TEXT,
    tls_cipher TEXT,
    cert_valid INTEGER,
    mta_sts TEXT,
    dane TEXT,
    last_result TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    last_ok_at INTEGER,
    degraded INTEGER NOT NULL DEFAULT 0,
    degraded_reason TEXT
  ) STRICT;

  CREATE TABLE mta_sts_policies (
    domain TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    mx TEXT NOT NULL,
    max_age INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL
  ) STRICT;
  `,
  // 4: protection: policy versions, decisions, recipient keys, portal items, DLP dictionary
  `
  CREATE TABLE policies (
    version INTEGER PRIMARY KEY,
    rules TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    comment TEXT NOT NULL
  ) STRICT;

  CREATE TABLE decisions (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    policy_version INTEGER NOT NULL,
    facts TEXT NOT NULL,
    findings TEXT NOT NULL,
    unscanned TEXT NOT NULL,
    scan_ms REAL NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX decisions_created ON decisions(created_at);

  ALTER TABLE recipients ADD COLUMN protection TEXT NOT NULL DEFAULT 'tls';
  ALTER TABLE recipients ADD COLUMN protection_rule TEXT;
  ALTER TABLE recipients ADD COLUMN protection_trace TEXT;
  ALTER TABLE recipients ADD COLUMN delivered_as TEXT;

  CREATE TABLE recipient_keys (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL COLLATE NOCASE,
    kind TEXT NOT NULL CHECK (kind IN ('pgp','smime')),
    fingerprint TEXT NOT NULL,
    material TEXT NOT NULL,
    not_after INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (email, fingerprint)
  ) STRICT;
  CREATE INDEX recipient_keys_email ON recipient_keys(email);

  CREATE TABLE portal_items (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    message_id TEXT NOT NULL,
    recipient_id INTEGER NOT NULL,
    address TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    sealed BLOB,
    token_sealed BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    opened_at INTEGER,
    state TEXT NOT NULL CHECK (state IN ('active','expired','recalled'))
  ) STRICT;
  CREATE INDEX portal_items_recipient ON portal_items(recipient_id);

  CREATE TABLE dlp_keywords (term TEXT PRIMARY KEY COLLATE NOCASE, added_at INTEGER NOT NULL) STRICT;
  `,
  // 5: portal: trusted browsers, one-time codes, reminders
  `
  CREATE TABLE portal_trust (
    token_hash TEXT PRIMARY KEY,
    address TEXT NOT NULL COLLATE NOCASE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  ALTER TABLE portal_items ADD COLUMN reminded_at INTEGER;
  ALTER TABLE portal_items ADD COLUMN recalled_by TEXT;
  ALTER TABLE portal_items ADD COLUMN passphrase_hash TEXT;
  ALTER TABLE portal_items ADD COLUMN sender_address TEXT;
  `,
  // 6: delivery throughput per minute for the console
  `
  CREATE INDEX attempts_at ON attempts(at);
  `,
  // 7: portal expiry chosen by the deciding policy rule
  `
  ALTER TABLE recipients ADD COLUMN portal_expiry_days INTEGER;
  `,
  // 8: the practice's OpenPGP signing keys (private halves sealed by the vault)
  `
  CREATE TABLE signing_keys (
    domain TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    public_armored TEXT NOT NULL,
    private_sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  `,
];
