import { toFnPinnerError } from '../errors.js';
import type { FnPinnerError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { ResolverOptions } from './options.js';
import type { CallContext, RegistryClient } from '../registry/index.js';
import { SingleFlight } from '../util/singleflight.js';
import { truncate } from '../util/text.js';
import type { MetadataCache } from './cache.js';
import type { Work } from './fetch.js';

export interface RevalidatorDeps {
  cache: MetadataCache;
  client: Pick<RegistryClient, 'headManifest'>;
  options: Pick<ResolverOptions, 'revalidateBudgetMs' | 'revalidateBackoffMs'>;
  /** Backoff never grows beyond this (the tag TTL). */
  maxBackoffMs: number;
  metrics: Metrics;
  log: Logger;
}

/** Registry trouble that says nothing about the tag: serve what we had rather than deny the pod. */
function outage(e: FnPinnerError): boolean {
  return e.temporary || e.code === 'TIMEOUT' || e.code === 'REQUEST_BUDGET_EXCEEDED';
}

/** The check has a small budget of its own, inside the resolution's deadline. */
function budgeted(ctx: CallContext, budgetMs: number): CallContext {
  const deadline = Math.min(ctx.deadline, Date.now() + budgetMs);
  return {
    what: ctx.what,
    deadline,
    budget: ctx.budget,
    signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
  };
}

/**
 * A stale tag: one HEAD (cheap, and not a Docker Hub pull) within `revalidateBudgetMs`. If the registry is
 * down or slow, the digest it confirmed before is still the best answer: it is served, marked stale, and
 * the tag is not rechecked for a while (backing off, doubling up to the tag TTL), so an outage costs a
 * review at most the budget once, then nothing.
 */
export class TagRevalidator {
  private readonly flights = new SingleFlight<string, string>();

  constructor(private readonly deps: RevalidatorDeps) {}

  async revalidate(
    work: Work,
    cached: { digest: string; failures: number },
  ): Promise<{ digest: string; stale?: string }> {
    const ctx = budgeted(work.ctx, this.deps.options.revalidateBudgetMs);
    try {
      const digest = await this.flights.join(work.ref.canonical, () => this.head(work, ctx), ctx);
      this.deps.metrics.cacheLookups.inc({ tier: 'tag', result: 'revalidated' });
      return { digest };
    } catch (err) {
      const e = toFnPinnerError(err, work.ctx.what);
      if (!outage(e)) throw e;
      const backoff = Math.min(
        this.deps.options.revalidateBackoffMs * 2 ** cached.failures,
        Math.max(this.deps.maxBackoffMs, this.deps.options.revalidateBackoffMs),
      );
      this.deps.cache.tagCheckFailed(work.ref, backoff);
      this.deps.metrics.cacheLookups.inc({ tier: 'tag', result: 'stale' });
      this.deps.log.warn(
        { image: truncate(work.ref.original, 300), err: truncate(e.message, 500), backoffMs: backoff },
        'tag revalidation failed; serving the cached digest',
      );
      return { digest: cached.digest, stale: `${e.code} (${truncate(e.message, 300)})` };
    }
  }

  private async head(work: Work, ctx: CallContext): Promise<string> {
    const { cache, client } = this.deps;
    const head = await client.headManifest(work.ref, work.ref.identifier, ctx);
    if (head.fetched) cache.setManifest(work.ref, head.fetched);
    cache.setTag(work.ref, head.digest);
    return head.digest;
  }
}
