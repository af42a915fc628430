// Vault: envelope encryption at rest (ARCHITECTURE.md principle 2).
// Purpose: seal message bodies and other secrets with AES-256-GCM under a fresh data key per
// item, the data key wrapped by the master key. The master key lives in a 0600 file outside
// the database. Inputs: plaintext + an associated-data label (the item id, so a sealed blob
// cannot be moved to another row). Outputs: one self-describing buffer.
// Side effects: creates the master key file on first start.

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const FORMAT_V1 = 1;
const IV = 12;
const TAG = 16;
const KEY = 32;
const WRAPPED = IV + TAG + KEY; // 60
const HEADER = 1 + WRAPPED + IV + TAG;

export class VaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VaultError';
  }
}

function gcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

function gcmOpen(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const iv = sealed.subarray(0, IV);
  const tag = sealed.subarray(IV, IV + TAG);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.subarray(IV + TAG)), decipher.final()]);
}

export class Vault {
  private constructor(private readonly masterKey: Buffer) {}

  /** Reads the master key, creating it (0600, directory 0700) on first start. */
  static open(keyPath: string): Vault {
    mkdirSync(dirname(keyPath), { recursive: true, mode: 0o700 });
    if (!existsSync(keyPath)) {
      const fd = openSync(keyPath, 'wx', 0o600);
      try {
        writeSync(fd, randomBytes(KEY).toString('base64') + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    const st = statSync(keyPath);
    if ((st.mode & 0o077) !== 0) chmodSync(keyPath, 0o600);
    const key = Buffer.from(readFileSync(keyPath, 'utf8').trim(), 'base64');
    if (key.length !== KEY) throw new VaultError(`master key ${keyPath} is not 32 bytes of base64`);
    return new Vault(key);
  }

  /** Reads an existing master key; never creates one (restore must not invent a key). */
  static openExisting(keyPath: string): Vault {
    if (!existsSync(keyPath)) throw new VaultError(`the master key ${keyPath} is missing: put the escrowed key there first`);
    return Vault.open(keyPath);
  }

  /** Seals plaintext under a new data key. Layout: ver | wrapped DEK (60) | iv | tag | ciphertext. */
  seal(plaintext: Buffer, label: string): Buffer {
    const dek = randomBytes(KEY);
    const aad = Buffer.from(label);
    const wrapped = gcmSeal(this.masterKey, dek, Buffer.concat([Buffer.from('dek:'), aad]));
    const body = gcmSeal(dek, plaintext, aad);
    dek.fill(0);
    return Buffer.concat([Buffer.of(FORMAT_V1), wrapped, body]);
  }

  open(sealed: Buffer, label: string): Buffer {
    if (sealed.length < HEADER || sealed[0] !== FORMAT_V1) throw new VaultError('sealed blob has an unknown format');
    const aad = Buffer.from(label);
    try {
      const dek = gcmOpen(this.masterKey, sealed.subarray(1, 1 + WRAPPED), Buffer.concat([Buffer.from('dek:'), aad]));
      const plain = gcmOpen(dek, sealed.subarray(1 + WRAPPED), aad);
      dek.fill(0);
      return plain;
    } catch {
      throw new VaultError(`sealed blob for ${label} does not authenticate (wrong key, wrong row or tampered)`);
    }
  }

  /** A key for one purpose, derived from the master key (HKDF-SHA256). */
  deriveKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.masterKey, Buffer.alloc(0), Buffer.from(`sealpost:${purpose}`), KEY));
  }
}
