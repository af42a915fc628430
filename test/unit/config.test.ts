import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../daemon/config/loader.js';
import { SEALPOST_VERSION } from '../../shared/version.js';
import { BIN, ROOT } from '../helpers/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'sealpost-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('config', () => {
  it('embedded default matches CONTRACT.md', () => {
    const c = loadConfig();
    assert.equal(c.smtp.submission, '127.0.0.1:2587');
    assert.equal(c.smtp.submission_tls, '127.0.0.1:2465');
    assert.equal(c.portal.listen, '127.0.0.1:8443');
    assert.equal(c.smtp.max_message_bytes, 26214400);
    assert.equal(c.data_dir, join(process.cwd(), 'var'));
    assert.equal(c.source, 'embedded default');
  });

  it('derives domains from the hostname and resolves paths against the file', () => {
    const c = loadConfig(file('ok.toml', 'hostname = "mail.clinic.example"\ndata_dir = "state"\n[delivery.routes]\n"*" = "127.0.0.1:2525"\n'));
    assert.deepEqual(c.domains, ['clinic.example']);
    assert.equal(c.data_dir, join(dir, 'state'));
    assert.equal(c.delivery.routes['*'], '127.0.0.1:2525');
  });

  it('lists every problem as key: problem', () => {
    const p = file('bad.toml', 'hostnme = "x"\n[smtp]\nsubmission = "localhost"\nmax_message_bytes = "big"\nbare_newline = "maybe"\n[portal]\npublic_url = "http://x"\n');
    assert.throws(
      () => loadConfig(p),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const text = err.problems.join('\n');
        for (const key of ['hostnme: unknown key', 'smtp.submission:', 'smtp.max_message_bytes:', 'smtp.bare_newline:', 'portal.public_url:']) {
          assert.ok(text.includes(key), `missing "${key}" in:\n${text}`);
        }
        return true;
      },
    );
  });

  it('the daemon exits 78 on a bad config, printing the problems', () => {
    const r = spawnSync(process.execPath, [BIN, 'daemon', '--config', file('bad2.toml', '[smtp]\ntls_cert = "/x.pem"\nfoo = 1\n')], { encoding: 'utf8' });
    assert.equal(r.status, 78);
    assert.match(r.stderr, /smtp\.foo: unknown key/);
  });

  it('the daemon exits 78 on a TOML syntax error', () => {
    const r = spawnSync(process.execPath, [BIN, 'daemon', '--config', file('bad3.toml', 'hostname = \n')], { encoding: 'utf8' });
    assert.equal(r.status, 78);
    assert.match(r.stderr, /line 1/);
  });

  it('shared/version.ts matches package.json', () => {
    assert.equal(SEALPOST_VERSION, (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });
});
