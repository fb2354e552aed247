import { runWebhook } from '../app/webhook.js';
import { loadConfig } from '../config/load.js';
import type { RawOptions } from '../config/load.js';
import { createLogger } from '../logging.js';
import type { CliIo } from './io.js';
import { prefixed } from './io.js';

export async function serveCommand(opts: RawOptions, io: CliIo): Promise<number> {
  let config;
  try {
    config = loadConfig('serve', opts, io.env);
  } catch (err) {
    io.stderr(prefixed('serve', err));
    return 1;
  }
  return runWebhook(config, createLogger(config.log));
}
