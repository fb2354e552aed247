import { FnPinnerError } from '../errors.js';

/**
 * Failures that belong to the caller who started a flight, not to the work: its deadline, its budget, and
 * its credentials (with --pod-pull-secrets each review brings its own, so a joiner may succeed where the
 * leader was refused).
 */
const LEADER_SPECIFIC = new Set(['TIMEOUT', 'REQUEST_BUDGET_EXCEEDED', 'UNAUTHORIZED', 'DENIED']);

function leaderSpecific(err: unknown): boolean {
  return err instanceof FnPinnerError && LEADER_SPECIFIC.has(err.code);
}

function untilAborted(signal: AbortSignal, what: string): Promise<never> {
  return new Promise((_, reject) => {
    const fail = (): void =>
      reject(new FnPinnerError('TIMEOUT', `${what}: deadline exceeded waiting for a shared registry call`));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

/**
 * Collapses concurrent calls for the same key into one in-flight promise (Go's x/sync/singleflight).
 * The entry is dropped as soon as the promise settles, so failures are never remembered here.
 */
export class SingleFlight<K, V> {
  private readonly inflight = new Map<K, Promise<V>>();
  /** How many callers joined a call already in flight; exported as a metric. */
  joins = 0;

  run(key: K, fn: () => Promise<V>): Promise<V> {
    const existing = this.inflight.get(key);
    if (existing) {
      this.joins++;
      return existing;
    }
    const p = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /**
   * Like run(), but a caller who joins keeps its own deadline: it stops waiting when its own signal aborts,
   * and when the flight failed for reasons of the caller who started it (that caller's deadline or request
   * budget ran out), it does the work itself, within its own deadline, instead of inheriting the failure.
   */
  async join(key: K, fn: () => Promise<V>, ctx: { signal: AbortSignal; what: string }): Promise<V> {
    const existing = this.inflight.get(key);
    if (!existing) return this.run(key, fn);
    this.joins++;
    try {
      return await Promise.race([existing, untilAborted(ctx.signal, ctx.what)]);
    } catch (err) {
      if (ctx.signal.aborted || !leaderSpecific(err)) throw err;
      return this.run(key, fn);
    }
  }

  get size(): number {
    return this.inflight.size;
  }
}
