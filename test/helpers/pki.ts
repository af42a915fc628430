// A throwaway certificate authority for tests (openssl, no shell): a CA and leaf
// certificates for given DNS names, as PEM strings, plus self-signed leaves.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  key: string;
  cert: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export class TestCa {
  readonly dir = mkdtempSync(join(tmpdir(), 'sealpost-ca-'));
  readonly ca: Pem;
  private serial = 1;

  constructor() {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Sealpost Test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], this.dir);
    this.ca = { key: readFileSync(join(this.dir, 'ca.key'), 'utf8'), cert: readFileSync(join(this.dir, 'ca.pem'), 'utf8') };
  }

  get caPath(): string {
    return join(this.dir, 'ca.pem');
  }

  /** A leaf for `name`, signed by this CA (or self-signed). */
  issue(names: string | string[], opts: { selfSigned?: boolean } = {}): Pem {
    const all = typeof names === 'string' ? [names] : names;
    const name = all[0]!;
    const n = this.serial++;
    const ext = join(this.dir, `ext${n}.cnf`);
    writeFileSync(ext, `subjectAltName=${all.map((n) => `DNS:${n}`).join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `leaf${n}.key`, '-out', `leaf${n}.csr`, '-subj', `/CN=${name}`], this.dir);
    if (opts.selfSigned) {
      openssl(['x509', '-req', '-in', `leaf${n}.csr`, '-key', `leaf${n}.key`, '-out', `leaf${n}.pem`, '-days', '2', '-extfile', ext], this.dir);
    } else {
      openssl(['x509', '-req', '-in', `leaf${n}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(1000 + n), '-out', `leaf${n}.pem`, '-days', '2', '-extfile', ext], this.dir);
    }
    return { key: readFileSync(join(this.dir, `leaf${n}.key`), 'utf8'), cert: readFileSync(join(this.dir, `leaf${n}.pem`), 'utf8') };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
