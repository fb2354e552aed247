import type { Config } from '../config/load.js';
import { createLogger } from '../logging.js';
import type { Logger } from '../logging.js';
import { discardMetrics } from '../metrics-discard.js';
import type { Writable } from 'node:stream';
import { createResolverStack } from './resolver-stack.js';
import type { ResolverStack } from './resolver-stack.js';

/**
 * A one-shot command's process (`resolve`, `mutate`): logs on stderr so stdout stays machine-readable, a
 * resolver stack that reads the Docker configs once and watches nothing, and everything released at the end.
 */
export async function withResolverStack<T>(
  config: Config,
  stderr: Writable,
  fn: (stack: ResolverStack, log: Logger) => Promise<T>,
): Promise<T> {
  const log = createLogger(config.log, stderr);
  const stack = createResolverStack(config, log, discardMetrics());
  try {
    return await fn(stack, log);
  } finally {
    await stack.close();
  }
}
