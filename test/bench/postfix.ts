// A throwaway Postfix instance for benchmarks: smtpd with STARTTLS on a loopback port,
// relaying everything to smtp-sink on another. Needs Debian's postfix package and root.
// It registers its config directory in /etc/postfix/main.cf (alternate_config_directories),
// the one change it makes outside its temporary directory.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { generateSelfSigned } from '../../daemon/tls/certificate.js';

export interface PostfixInstance {
  port: number;
  sinkPort: number;
  masterPid: () => number;
  stop: () => Promise<void>;
}

export async function startPostfix(dir: string, port: number, sinkPort: number, opts: { sinkTls?: boolean; externalSink?: boolean } = {}): Promise<PostfixInstance> {
  rmSync(dir, { recursive: true, force: true });
  const conf = `${dir}/conf`;
  mkdirSync(conf, { recursive: true });
  mkdirSync(`${dir}/queue`, { recursive: true });
  mkdirSync(`${dir}/data`, { recursive: true });
  execFileSync('chown', ['postfix', `${dir}/data`]);
  const pair = await generateSelfSigned('bench.localdomain');
  writeFileSync(`${conf}/tls.key`, pair.key, { mode: 0o600 });
  writeFileSync(`${conf}/tls.crt`, pair.cert);
  writeFileSync(
    `${conf}/main.cf`,
    [
      'compatibility_level = 3.6',
      `queue_directory = ${dir}/queue`,
      `data_directory = ${dir}/data`,
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'myhostname = bench.localdomain',
      'mydestination =',
      'mynetworks = 127.0.0.0/8',
      `relayhost = [127.0.0.1]:${sinkPort}`,
      'alias_maps =',
      'alias_database =',
      'smtpd_relay_restrictions = permit_mynetworks, reject',
      `smtpd_tls_cert_file = ${conf}/tls.crt`,
      `smtpd_tls_key_file = ${conf}/tls.key`,
      'smtpd_tls_security_level = encrypt',
      `smtp_tls_security_level = ${opts.sinkTls ? 'encrypt' : 'none'}`,
      'smtp_tls_connection_reuse = yes',
      'smtpd_client_connection_rate_limit = 0',
      'smtpd_client_message_rate_limit = 0',
      'smtpd_client_connection_count_limit = 0',
      'default_process_limit = 200',
      'default_destination_concurrency_limit = 20',
      'message_size_limit = 26214400',
      'maillog_file_prefixes = /tmp, /var',
      `maillog_file = ${dir}/maillog`,
      '',
    ].join('\n'),
  );
  const master = readFileSync('/etc/postfix/master.cf', 'utf8')
    .split('\n')
    .map((l) => (/^smtp\s+inet/.test(l) ? `127.0.0.1:${port} inet n - n - - smtpd` : l.replace(/^(\S+\s+\S+\s+\S+\s+\S+\s+)y(\s)/, '$1n$2')))
    .filter((l) => !/^tlsproxy\s/.test(l))
    .concat(['postlog   unix-dgram n  -       n       -       1       postlogd', 'tlsproxy  unix  -       -       n       -       0       tlsproxy', ''])
    .join('\n');
  writeFileSync(`${conf}/master.cf`, master);
  const current = execFileSync('postconf', ['-h', 'alternate_config_directories'], { encoding: 'utf8' }).trim();
  if (!current.split(/[\s,]+/).includes(conf)) {
    execFileSync('postconf', ['-e', `alternate_config_directories = ${[current, conf].filter(Boolean).join(' ')}`]);
  }
  const sink: ChildProcess | null = opts.externalSink ? null : spawn('smtp-sink', ['-u', 'nobody', '-c', `127.0.0.1:${sinkPort}`, '1000'], { stdio: 'ignore' });
  execFileSync('postfix', ['-c', conf, 'check'], { stdio: 'inherit' });
  execFileSync('postfix', ['-c', conf, 'start'], { stdio: 'inherit' });
  await waitForPort(port);
  return {
    port,
    sinkPort,
    masterPid: () => Number(readFileSync(`${dir}/queue/pid/master.pid`, 'utf8').trim()),
    stop: async () => {
      try {
        execFileSync('postfix', ['-c', conf, 'stop'], { stdio: 'ignore' });
      } catch {
        // already stopped
      }
      sink?.kill();
    },
  };
}

async function waitForPort(port: number): Promise<void> {
  const { createConnection } = await import('node:net');
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((res) => {
      const s = createConnection(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`postfix did not listen on ${port}`);
}
