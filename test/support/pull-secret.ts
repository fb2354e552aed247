import { createLogger } from '../../src/logging.js';
import type { Logger } from '../../src/logging.js';
import { createMetrics } from '../../src/metrics.js';
import type { SecretApi } from '../../src/kube/client.js';
import { PullSecretSync } from '../../src/secrets/sync.js';
import type { PullSecretSyncOptions } from '../../src/secrets/sync.js';
import { DockerConfigSource } from '../../src/sources/docker-config.js';

export interface TestPullSecretSync {
  sync: PullSecretSync;
  source: DockerConfigSource;
  /** Starts the source's watch and the sync's loop. */
  start(): void;
  stop(): void;
}

/**
 * A PullSecretSync fed, as in `serve`, by the one owner of the mounted file. The source is not loaded up
 * front, so an invalid first file shows up as a failing sync (as it would at runtime), not a throw here.
 */
export function pullSecretSync(
  api: SecretApi,
  file: string,
  extra: Partial<Omit<PullSecretSyncOptions, 'api' | 'source'>> & { log?: Logger } = {},
): TestPullSecretSync {
  const log = extra.log ?? createLogger({ level: 'silent' });
  const source = new DockerConfigSource({ file, required: true, log, pollMs: 200 });
  const sync = new PullSecretSync({
    name: 'auth-secret',
    namespaces: ['fns'],
    metrics: createMetrics(),
    resyncMs: 20_000,
    attempts: 5,
    backoffMs: 1,
    ...extra,
    log,
    api,
    source,
  });
  return {
    sync,
    source,
    start() {
      source.start();
      sync.start();
    },
    stop() {
      sync.stop();
      source.stop();
    },
  };
}
