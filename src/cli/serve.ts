import type { Command } from 'commander';

import { ADMISSION_SETTINGS, REGISTRY_SETTINGS, SERVE_SETTINGS, loadServeConfig } from '../config.js';
import type { RawOptions } from '../config.js';
import { createLogger } from '../logging.js';
import type { CliIo } from './io.js';
import { addSettings } from './io.js';

/** Kubernetes waits terminationGracePeriodSeconds (30 s by default) before SIGKILL; drain well inside it. */
const DRAIN_MS = 20_000;
/**
 * After SIGTERM the pod's endpoint is removed asynchronously; until the API server notices, it may still
 * dial us. Keep serving (with /readyz at 503) this long before refusing connections.
 */
const NOT_READY_BEFORE_CLOSE_MS = 5_000;

export function registerServe(program: Command, io: CliIo): void {
  const cmd = program.command('serve').description('run the mutating admission webhook over HTTPS');
  addSettings(cmd, [...REGISTRY_SETTINGS, ...ADMISSION_SETTINGS, ...SERVE_SETTINGS]);
  cmd.action(async (opts: RawOptions) => {
    io.exitCode = await serveCommand(opts, io);
  });
}

async function serveCommand(opts: RawOptions, io: CliIo): Promise<number> {
  let config;
  try {
    config = loadServeConfig(opts, io.env);
  } catch (err) {
    io.stderr(`fn-pinner serve: ${(err as Error).message}\n`);
    return 1;
  }
  const log = createLogger(config.logging);
  try {
    // Loaded on demand: the Kubernetes client and the HTTPS server are only `serve`'s, and the other
    // commands (and the bundled image) start faster without them.
    const { startWebhook } = await import('../serve.js');
    const webhook = await startWebhook(config, log);
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    log.info({ signal }, 'shutting down: draining in-flight reviews');
    await webhook.close(DRAIN_MS, NOT_READY_BEFORE_CLOSE_MS);
    log.info('stopped');
    return 0;
  } catch (err) {
    log.fatal({ err }, 'fn-pinner serve failed');
    return 1;
  }
}
