// `sealpost daemon`: load the config (exit 78 listing every problem), start the controller,
// announce readiness on stdout, and stop cleanly on SIGTERM/SIGINT (exit 0).

import { ConfigError, EX_CONFIG, loadConfig } from './config/loader.js';
import { Controller } from './controller.js';
import { createLogger } from './log.js';

export async function runDaemon(configPath: string | undefined): Promise<void> {
  let config;
  try {
    config = loadConfig(configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sealpost: invalid config (${err.source}):\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
      process.exit(EX_CONFIG);
    }
    throw err;
  }
  process.umask(0o077); // state files 0600, directories 0700; the socket is chmod-ed explicitly
  const log = createLogger(config.log.level);
  const controller = new Controller(config, log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    controller.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: Error) => {
        log.error({ err: err.message }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    const listeners = await controller.start();
    log.info({ listeners, config: config.source, data_dir: config.data_dir }, 'ready');
  } catch (err) {
    log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'start failed');
    await controller.stop().catch(() => undefined);
    process.exit(1);
  }
}
