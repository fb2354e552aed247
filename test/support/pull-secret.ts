import type { Logger } from '../../src/logging.js';
import { createMetrics } from '../../src/metrics.js';
import { KubeApiError } from '../../src/kube/client.js';
import type { SecretApi } from '../../src/kube/client.js';
import { PullSecretSync } from '../../src/secrets/sync.js';
import type { PullSecretSyncOptions } from '../../src/secrets/sync.js';
import { DockerConfigSource } from '../../src/sources/docker-config.js';
import { captureLogger } from './capture-logger.js';

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
  const log = extra.log ?? captureLogger('info').log;
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

/** A SecretApi that records each call's outcome (`create:ok`, `replace:Conflict`, …) in `outcomes`. */
export function countingSecretApi(api: SecretApi, outcomes: string[]): SecretApi {
  const record = async <T>(op: string, call: () => Promise<T>): Promise<T> => {
    try {
      const result = await call();
      outcomes.push(`${op}:ok`);
      return result;
    } catch (err) {
      outcomes.push(`${op}:${err instanceof KubeApiError ? err.reason : 'error'}`);
      throw err;
    }
  };
  return {
    read: (ns, name) => record('read', () => api.read(ns, name)),
    create: (s) => record('create', () => api.create(s)),
    replace: (s) => record('replace', () => api.replace(s)),
    delete: (ns, name, pre) => record('delete', () => api.delete(ns, name, pre)),
  };
}
