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

  get size(): number {
    return this.inflight.size;
  }
}
