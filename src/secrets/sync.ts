import { setTimeout as sleep } from 'node:timers/promises';

import { FnPinnerError, toFnPinnerError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { SingleFlight } from '../util/singleflight.js';
import { reconcileSecret } from './reconcile.js';
import type { SecretApi } from '../kube/client.js';

/** The mounted Docker config, as its one owner (src/sources/docker-config.ts) holds it. */
export interface PullSecretSource {
  readonly file: string;
  /** The last good content: it parsed and holds credentials. */
  readonly current: { readonly bytes: Buffer } | undefined;
  /** Why the file on disk is not what `current` holds, if it is not. */
  readonly lastError: string | undefined;
  /** Re-checks the file now (a stat; a read only when it changed), in case a change event was missed. */
  refresh(): boolean;
  onChange(listener: () => void): () => void;
}

export interface PullSecretSyncOptions {
  api: SecretApi;
  source: PullSecretSource;
  name: string;
  /** Where function pods run; the Secret must live in the pod's namespace. */
  namespaces: string[];
  log: Logger;
  metrics: Metrics;
  /** Drift (a deleted or edited Secret) is repaired within this. */
  resyncMs: number;
  /** Transient API errors: attempts per sync and the first backoff. */
  attempts: number;
  backoffMs: number;
}

/**
 * Keeps the mounted Docker config as a kubernetes.io/dockerconfigjson Secret in each function namespace:
 * at start, when the source reports a change, and on a short resync that repairs drift. Writes are
 * optimistic (resourceVersion) and idempotent, so several replicas converge instead of fighting.
 */
export class PullSecretSync {
  private desired: Buffer | undefined;
  private lastError: string | undefined = 'not synced yet';
  /** namespace → the content last confirmed in the API. */
  private readonly synced = new Map<string, Buffer>();
  /**
   * Namespaces that have had a good Secret at least once. Readiness latches on this: a rotation or a
   * transient API error must not flap /readyz (a webhook with no ready endpoints fails every pod create).
   */
  private readonly everSynced = new Set<string>();
  private readonly flight = new SingleFlight<string, void>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PullSecretSyncOptions) {}

  /** Starts syncing; the first sync's failure is reported by notReadyReason(), not thrown. */
  start(): void {
    this.trigger('start');
    this.unsubscribe = this.opts.source.onChange(() => this.trigger('file changed', { fresh: true }));
    this.timer = setInterval(() => this.trigger('resync'), this.opts.resyncMs);
    this.timer.unref();
  }

  stop(): void {
    this.unsubscribe?.();
    clearInterval(this.timer);
  }

  notReadyReason(): string | undefined {
    // One good namespace is enough to serve: ensure() still gates each pod on its own namespace, and one
    // missing namespace must not take the webhook out of every Service endpoint.
    return this.everSynced.size > 0 ? undefined : `pull secret: ${this.lastError}`;
  }

  /** Concurrent callers share one sync. */
  syncNow(): Promise<void> {
    return this.flight.run('sync', () => this.syncAll());
  }

  /**
   * Called when a pod is about to reference the Secret: fine when it is known to be in sync; otherwise sync
   * now, except for a dry run, which never writes and only checks that the Secret exists.
   */
  async ensure({ dryRun, namespace }: { dryRun: boolean; namespace: string }): Promise<void> {
    const ref = `${namespace}/${this.opts.name}`;
    if (!this.opts.namespaces.includes(namespace)) {
      throw new FnPinnerError(
        'SECRET_UNAVAILABLE',
        `ensure pull secret ${ref}: fn-pinner only syncs it into ${this.opts.namespaces.join(', ')}`,
      );
    }
    if (this.synced.has(namespace)) return;
    try {
      if (dryRun) {
        if (await this.opts.api.read(namespace, this.opts.name)) return;
        throw new FnPinnerError('SECRET_UNAVAILABLE', 'it does not exist, and a dry run does not create it');
      }
      await this.syncNow();
    } catch (err) {
      const e = toFnPinnerError(err, 'sync');
      throw new FnPinnerError('SECRET_UNAVAILABLE', `ensure pull secret ${ref}: ${e.message}`, { cause: e });
    }
  }

  /**
   * `fresh`: a sync already in flight may have read the file before it changed, and joining it would lose
   * the change until the next resync; let it finish, then sync again.
   */
  private trigger(why: string, { fresh = false } = {}): void {
    const run =
      fresh && this.flight.size > 0
        ? this.syncNow()
            .catch(() => undefined)
            .then(() => this.syncNow())
        : this.syncNow();
    run.catch((err: unknown) =>
      this.opts.log.error({ err: (err as Error).message, trigger: why }, 'pull secret sync failed'),
    );
  }

  /** The source's last good content; an invalid file on disk keeps it (and is reported by the source). */
  private content(): Buffer {
    const { source } = this.opts;
    source.refresh();
    if (source.current) return source.current.bytes;
    throw new FnPinnerError(
      'BAD_DOCKER_CONFIG',
      source.lastError ?? `read Docker config ${source.file}: not loaded`,
    );
  }

  private async syncAll(): Promise<void> {
    let content: Buffer;
    try {
      content = this.content();
    } catch (err) {
      this.lastError = (err as Error).message;
      for (const ns of this.opts.namespaces)
        this.opts.metrics.secretSyncs.inc({ namespace: ns, result: 'failed' });
      throw err;
    }
    if (this.desired && !this.desired.equals(content)) this.synced.clear();
    this.desired = content;
    await Promise.all(this.opts.namespaces.map((ns) => this.syncNamespace(ns, content)));
  }

  private async syncNamespace(namespace: string, content: Buffer): Promise<void> {
    const { api, name, log, metrics } = this.opts;
    const { attempts } = this.opts;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await reconcileSecret(api, { namespace, name, content });
        this.synced.set(namespace, content);
        this.everSynced.add(namespace);
        metrics.secretSyncs.inc({ namespace, result });
        metrics.secretLastSuccess.set({ namespace }, Date.now() / 1000);
        if (result !== 'unchanged')
          log.info(
            { secret: `${namespace}/${name}`, result, file: this.opts.source.file },
            'pull secret synced',
          );
        return;
      } catch (err) {
        const e = toFnPinnerError(err, `sync pull secret ${namespace}/${name}`);
        if (!e.temporary || attempt >= attempts) {
          this.synced.delete(namespace);
          this.lastError = e.message;
          metrics.secretSyncs.inc({ namespace, result: 'failed' });
          throw e;
        }
        const wait = this.opts.backoffMs * 2 ** (attempt - 1);
        log.warn(
          { err: e.message, attempt, waitMs: wait },
          'pull secret sync: transient API error; retrying',
        );
        await sleep(wait);
      }
    }
  }
}
