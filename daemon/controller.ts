// The daemon's lifecycle: services start in order and stop in reverse (a tiny lifecycle per
// service: the constructor only stores, start() acquires, stop() releases). Failures while
// stopping are collected, not thrown one by one.

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ControlError } from '../shared/errors.js';
import type { Listener } from '../shared/domain.js';
import { SEALPOST_VERSION } from '../shared/version.js';
import { AppRegistry } from './apps/registry.js';
import { AuditChain } from './audit/chain.js';
import type { Config } from './config/schema.js';
import { createHandlers } from './control/handlers/index.js';
import { Health } from './control/health.js';
import { ControlServer } from './control/server.js';
import { SmtpIntake } from './intake/smtp.js';
import { DkimKeys } from './delivery/dkim.js';
import { DnsClient } from './delivery/dns.js';
import { MtaStsResolver } from './delivery/mta-sts.js';
import { Router } from './delivery/route.js';
import { TlsRecord } from './delivery/tls-record.js';
import { DeliveryWorker } from './delivery/worker.js';
import { PortalHousekeeping } from './portal/housekeeping.js';
import { PortalMailer } from './portal/mailer.js';
import { PortalServer } from './portal/server.js';
import { ProtectionEngine } from './protect/engine.js';
import { KeyStore } from './protect/keys.js';
import { PortalItems } from './protect/portal-items.js';
import { SigningKeys } from './protect/signing-keys.js';
import { WkdLookup } from './protect/wkd.js';
import type { Log } from './log.js';
import { QueueStore } from './queue/store.js';
import { GroupCommitter } from './store/committer.js';
import { createBackup } from './store/backup.js';
import { openDb, type Db } from './store/db.js';
import { Vault } from './store/vault.js';
import { loadTlsIdentity } from './tls/certificate.js';
import { UserRegistry } from './users/registry.js';

export class Controller {
  private db: Db | null = null;
  private committer: GroupCommitter | null = null;
  private intake: SmtpIntake | null = null;
  private delivery: DeliveryWorker | null = null;
  private control: ControlServer | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private checkpointTimer: NodeJS.Timeout | null = null;
  private lastCheckpoint: number | null = null;
  private portal: PortalServer | null = null;
  private protection: ProtectionEngine | null = null;
  private readonly startedAt = Date.now();

  constructor(private readonly config: Config, private readonly log: Log) {}

  async start(): Promise<Listener[]> {
    const { config, log } = this;
    mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
    const vault = Vault.open(join(config.data_dir, 'keys', 'master.key'));
    const db = (this.db = openDb(join(config.data_dir, 'sealpost.db'), { maxBytes: config.store.max_size_mb * 1024 * 1024 }));
    const chain = new AuditChain(db, vault.deriveKey('audit-chain'), join(config.data_dir, 'keys', 'audit.anchor'));
    const committer = (this.committer = new GroupCommitter(db, chain));
    const apps = new AppRegistry(db, committer, config.domains);
    const users = new UserRegistry(db, committer);
    const queue = new QueueStore(db, committer);
    const tls = await loadTlsIdentity({ certPath: config.smtp.tls_cert, keyPath: config.smtp.tls_key, dataDir: config.data_dir, hostname: config.hostname });

    const dkim = new DkimKeys({ db, committer, vault, domains: config.domains, ed25519: config.dkim.ed25519, retireDays: config.dkim.retire_days, enabled: config.dkim.enabled });
    await dkim.start();
    const tlsRecord = new TlsRecord(db);
    const dns = new DnsClient(config.delivery.dns.servers);
    const extraCa = config.delivery.tls.ca_file ? readFileSync(config.delivery.tls.ca_file, 'utf8') : undefined;
    const router = new Router({
      routes: config.delivery.routes,
      dns,
      mxPort: config.delivery.mx_port,
      mtaSts: config.delivery.mta_sts.enabled ? new MtaStsResolver({ db, dns, port: config.delivery.mta_sts.port, ...(extraCa ? { extraCa } : {}) }) : null,
      dane: config.delivery.dane.enabled,
    });
    const keys = new KeyStore(db, committer);
    const protection = (this.protection = new ProtectionEngine({ db, committer, keys, budgetMs: config.dlp.budget_ms, mrnPatterns: config.dlp.mrn_patterns, threads: config.dlp.scan_threads }));
    await protection.start();
    const portal = new PortalItems({ db, vault, expiryDays: config.portal.expiry_days });
    const wkd = config.keys.wkd ? new WkdLookup({ dns, keys, port: config.keys.wkd_port, extraCa }) : null;
    const signing = new SigningKeys({ db, committer, vault, domains: config.domains, practiceName: config.name });
    if (config.keys.pgp_sign) await signing.start();
    const delivery = (this.delivery = new DeliveryWorker({ config, log, db, committer, vault, queue, router, dkim, tlsRecord, keys, portal, wkd, signing: config.keys.pgp_sign ? signing : null }));
    this.intake = new SmtpIntake({ config, log, apps, queue, committer, vault, tls, protection, onQueued: () => delivery.kick() });
    await this.intake.start();
    const portalTls = config.portal.tls_cert ? await loadTlsIdentity({ certPath: config.portal.tls_cert, keyPath: config.portal.tls_key, dataDir: config.data_dir, hostname: config.hostname }) : tls;
    const mailer = new PortalMailer({ config, queue, committer, vault, protection, kick: () => delivery.kick() });
    this.portal = new PortalServer({ listen: config.portal.listen, tls: portalTls, items: portal, db, committer, mailer, log, practiceName: config.name, trustDays: config.portal.trust_days, requestsPerMinute: config.portal.requests_per_minute });
    await this.portal.start();
    const housekeeping = new PortalHousekeeping({ items: portal, committer, mailer, log, publicUrl: config.portal.public_url, reminderDays: config.portal.reminder_days });
    this.expiryTimer = setInterval(() => void housekeeping.run(), 60_000);
    this.expiryTimer.unref();
    void housekeeping.run();
    // a passive WAL checkpoint every minute keeps the WAL short and gives home its checkpoint age
    const checkpoint = () => {
      try {
        db.pragma('wal_checkpoint(PASSIVE)');
        this.lastCheckpoint = Date.now();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'WAL checkpoint failed');
      }
    };
    checkpoint();
    this.checkpointTimer = setInterval(checkpoint, 60_000);
    this.checkpointTimer.unref();
    const backup = async (out: string, actor: string) => {
      if (existsSync(out)) throw new ControlError('CONFLICT', `${out} exists: choose a new file name`);
      if (!existsSync(dirname(out))) throw new ControlError('INVALID_PARAMS', `the directory ${dirname(out)} does not exist`);
      let info;
      try {
        info = await createBackup(db, vault, config.data_dir, out);
      } catch (err) {
        throw new ControlError('INTERNAL', `backup failed: ${(err as Error).message}`);
      }
      await committer.submit((ctx) => {
        db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('backup.last', ?)").run(JSON.stringify({ created_at: info.created_at, path: info.path, bytes: info.bytes }));
        ctx.audit({ actor, action: 'backup.created', detail: { path: info.path, bytes: info.bytes, messages: info.messages, audit_entries: info.audit_entries } });
      });
      log.info({ path: info.path, bytes: info.bytes, ms: info.ms }, 'backup written');
      return info;
    };
    if (!config.delivery.paused) await delivery.start();
    else log.warn('delivery is paused (delivery.paused = true): mail is accepted and queued only');

    const listeners = (): Listener[] => [
      ...(this.intake?.listeners() ?? []),
      ...(this.portal ? [{ name: 'portal' as const, address: this.portal.address }] : []),
      { name: 'control', address: config.control.socket },
    ];
    this.control = new ControlServer({
      socketPath: config.control.socket,
      group: config.control.group,
      version: SEALPOST_VERSION,
      log,
      handlers: createHandlers({ config, version: SEALPOST_VERSION, startedAt: this.startedAt, db, apps, users, queue, chain, committer, dkim, tlsRecord, keys, protection, portalItems: portal, health: new Health({ db, deliveryPaused: config.delivery.paused, dataDir: config.data_dir, tlsNotAfter: tls.notAfter, name: config.name, version: SEALPOST_VERSION, startedAt: this.startedAt, queue: () => queue.depth().by_state, lastCheckpoint: () => this.lastCheckpoint }), listeners, commitStats: () => committer.stats(), backup, signing }),
      roleOf: (name) => users.roleOf(name),
      onDenied: (who, method) =>
        void committer.audit({ actor: `user:${who.user}`, action: 'control.denied', subject: method, detail: { role: who.role } }).catch(() => undefined),
    });
    await this.control.start();
    await committer.audit({ actor: 'daemon', action: 'daemon.start', detail: { version: SEALPOST_VERSION, listeners: listeners().map((l) => l.address) } });
    log.info({ tls_generated: tls.generated, tls_not_after: tls.notAfter.toISOString() }, 'tls identity loaded');
    return listeners();
  }

  /** Stops accepting, lets in-flight SMTP transactions finish, commits, closes. */
  async stop(): Promise<void> {
    const failures: unknown[] = [];
    const step = async (f: () => Promise<void> | void) => {
      try {
        await f();
      } catch (err) {
        failures.push(err);
      }
    };
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    await step(() => this.control?.stop());
    await step(() => this.intake?.stop());
    await step(() => this.portal?.stop());
    await step(() => this.delivery?.stop());
    await step(() => this.protection?.stop());
    await step(async () => {
      await this.committer?.audit({ actor: 'daemon', action: 'daemon.stop' });
    });
    await step(() => this.committer?.close());
    await step(() => {
      this.db?.pragma('wal_checkpoint(TRUNCATE)');
      this.db?.close();
    });
    this.db = null;
    if (failures.length > 0) {
      this.log.error({ failures: failures.map((f) => (f instanceof Error ? f.message : String(f))) }, 'errors while stopping');
    }
  }
}
