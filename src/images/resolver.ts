import { FnPinnerError, toFnPinnerError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { Platform } from '../reference/platform.js';
import type { RegistryOptions } from '../registry/options.js';
import type { ResolverOptions } from './options.js';
import { formatPlatform } from '../reference/platform.js';
import { ImageReference } from '../reference/reference.js';
import { credentialId } from '../registry/index.js';
import type { CallContext, ManifestResult, RegistryClient } from '../registry/index.js';
import { RequestBudget } from '../util/budget.js';
import { SingleFlight } from '../util/singleflight.js';
import { listSome, truncate } from '../util/text.js';
import type { AccessLedger } from './access.js';
import type { MetadataCache, TagState } from './cache.js';
import { Fetcher } from './fetch.js';
import type { Work } from './fetch.js';
import { buildMetadata, choose, lazyContext, relabel } from './metadata.js';
import { TagRevalidator } from './revalidate.js';
import type { CacheOutcome, ImageMetadata, Resolution, ResolveOptions } from './types.js';

export type { CacheOutcome, ImageMetadata, Resolution, ResolveOptions } from './types.js';

export interface ImageResolverDeps {
  client: RegistryClient;
  cache: MetadataCache;
  options: ResolverOptions;
  registryOptions: Pick<RegistryOptions, 'maxConfigBytes' | 'maxCommandBytes'>;
  /** The tag TTL: revalidation backoff never grows beyond it. */
  tagTtlMs?: number;
  metrics: Metrics;
  log: Logger;
  /** With --pod-pull-secrets: which credentials fetched each repository's content. */
  access?: AccessLedger;
}

interface Top {
  manifest: ManifestResult;
  outcome: CacheOutcome;
  warning?: string;
}

/**
 * Image → digest, entrypoint and cmd, through the two-tier cache. Concurrent resolutions of the same image
 * (and concurrent fetches of the same manifest or config) share one registry round trip; each caller keeps
 * its own deadline and request budget.
 */
export class ImageResolver {
  private readonly flights = new SingleFlight<string, Resolution>();
  private readonly fetcher: Fetcher;
  private readonly revalidator: TagRevalidator;

  constructor(private readonly deps: ImageResolverDeps) {
    this.fetcher = new Fetcher(deps);
    this.revalidator = new TagRevalidator({
      ...deps,
      maxBackoffMs: deps.tagTtlMs ?? 5 * 60_000,
    });
  }

  async resolve(image: string | ImageReference, opts: ResolveOptions = {}): Promise<Resolution> {
    const started = performance.now();
    const ref = typeof image === 'string' ? ImageReference.parse(image) : image;
    const platform = opts.platform ?? this.deps.options.platform;
    const hit = this.fromCache(ref, platform);
    if (hit && this.openToAll(ref)) {
      this.observe(started, hit.cache, 'ok');
      return hit;
    }
    const budget = opts.budget ?? new RequestBudget(this.deps.options.maxRequestsPerReview);
    const ctx = lazyContext(
      `resolve ${ref.original}`,
      this.deps.options.deadlineMs,
      budget,
      opts.credentials,
    );
    try {
      const result = hit ?? (await this.fly(ref, ctx, platform));
      await this.proveAccess(ref, ctx);
      this.observe(started, result.cache, 'ok');
      return result;
    } catch (err) {
      const e = toFnPinnerError(err, `resolve ${ref.original}`);
      this.observe(started, 'miss', e.code);
      throw e;
    }
  }

  private async fly(ref: ImageReference, ctx: CallContext, platform: Platform): Promise<Resolution> {
    const joinsBefore = this.flights.joins;
    const key = `${ref.canonical}|${formatPlatform(platform)}`;
    const flight = this.flights.join(
      key,
      () => this.resolveOnce({ ref, ctx, fetched: false }, platform),
      ctx,
    );
    // join() counts a join synchronously, before its first await.
    if (this.flights.joins > joinsBefore) this.deps.metrics.singleFlightJoins.inc();
    return relabel(await flight, ref);
  }

  /** Without pod credentials in play (no ledger), or for a repository every pod can read: nothing to prove. */
  private openToAll(ref: ImageReference): boolean {
    return this.deps.access === undefined || this.deps.access.isShared(ref);
  }

  /**
   * An answer fetched with some pod's own pull secret is used for this review only when one of this review's
   * own credentials fetched it too, or after one HEAD of the manifest with this review's keychain succeeds
   * (which the ledger then records). A review without access fails here as the registry refused it.
   */
  private async proveAccess(ref: ImageReference, ctx: CallContext): Promise<void> {
    const { access, client } = this.deps;
    if (!access || access.isShared(ref)) return;
    const own = ctx.credentials ? (await ctx.credentials.lookup(ref, ctx)).credentials : [];
    if (access.allows(ref, own.map(credentialId))) return;
    // As written (the tag, usually): a denial must not tell this pod the digest it could not read.
    await client.headManifest(ref, ref.identifier, ctx);
  }

  private observe(started: number, cache: CacheOutcome, outcome: string): void {
    this.deps.metrics.resolutions.inc({ outcome });
    this.deps.metrics.resolutionSeconds.observe({ cache }, (performance.now() - started) / 1000);
    // Sizes only change when something was fetched.
    if (cache === 'hit' || cache === 'stale') return;
    const { bytes, ...entries } = this.deps.cache.sizes();
    for (const [tier, n] of Object.entries(entries)) this.deps.metrics.cacheEntries.set({ tier }, n);
    this.deps.metrics.cacheBytes.set(bytes);
  }

  /**
   * The hot path: everything cached and the tag fresh (or stale but backing off after a failed check).
   * Answered synchronously, without a flight, a deadline timer or a chain of awaits; anything missing
   * falls through to resolveOnce().
   */
  private fromCache(ref: ImageReference, platform: Platform): Resolution | undefined {
    const { cache, metrics } = this.deps;
    const state = ref.digest ? undefined : cache.tag(ref);
    const digest = ref.digest ?? usableDigest(state);
    const metadata = digest === undefined ? undefined : this.cachedMetadata(ref, digest, platform);
    if (!metadata) return undefined;
    const stale = state?.backingOff === true;
    if (state) metrics.cacheLookups.inc({ tier: 'tag', result: stale ? 'stale' : 'hit' });
    metrics.cacheLookups.inc({ tier: 'config', result: 'hit' });
    if (!stale) return { metadata, cache: 'hit' };
    return { metadata, cache: 'stale', warning: staleWarning(ref, 'its registry failed the last check') };
  }

  /** Everything below a digest from the cache alone, or undefined when any part is missing. */
  private cachedMetadata(ref: ImageReference, digest: string, platform: Platform): ImageMetadata | undefined {
    const { cache } = this.deps;
    const top = cache.manifest(ref, digest);
    if (!top) return undefined;
    const match = top.manifest.kind === 'index' ? choose(top.manifest.children, platform) : undefined;
    const child = match ? cache.manifest(ref, match.digest) : top;
    if (child?.manifest.kind !== 'image') return undefined;
    const config = cache.config(ref, child.manifest.configDigest);
    if (!config) return undefined;
    return buildMetadata(ref, { top, child, chosen: match?.platform, config, platform });
  }

  private async resolveOnce(work: Work, platform: Platform): Promise<Resolution> {
    const top = await this.topManifest(work);
    const { child, chosen } = await this.platformManifest(work, top.manifest, platform);
    if (child.manifest.kind !== 'image') {
      throw new FnPinnerError(
        'BAD_MANIFEST',
        `${work.ctx.what}: index ${child.digest} points at another index`,
      );
    }
    const config = await this.fetcher.config(work, child.manifest.configDigest);
    const metadata = buildMetadata(work.ref, { top: top.manifest, child, chosen, config, platform });
    const fresh = top.outcome === 'hit' || top.outcome === 'revalidated';
    const cache = fresh && work.fetched ? 'miss' : top.outcome;
    return top.warning ? { metadata, cache, warning: top.warning } : { metadata, cache };
  }

  /** The manifest the tag (or digest) points to, using the tag tier and revalidating it when stale. */
  private async topManifest(work: Work): Promise<Top> {
    const { ref } = work;
    if (ref.digest) return { manifest: await this.fetcher.manifest(work, ref.digest), outcome: 'hit' };
    const state = this.deps.cache.tag(ref);
    if (state?.fresh || state?.backingOff) {
      this.deps.metrics.cacheLookups.inc({ tier: 'tag', result: state.fresh ? 'hit' : 'stale' });
      const manifest = await this.fetcher.manifest(work, state.digest);
      if (state.fresh) return { manifest, outcome: 'hit' };
      return { manifest, outcome: 'stale', warning: staleWarning(ref, 'its registry failed the last check') };
    }
    if (state) {
      const checked = await this.revalidator.revalidate(work, state);
      const manifest = await this.fetcher.manifest(work, checked.digest);
      if (checked.stale === undefined) return { manifest, outcome: 'revalidated' };
      return { manifest, outcome: 'stale', warning: staleWarning(ref, checked.stale) };
    }
    this.deps.metrics.cacheLookups.inc({ tier: 'tag', result: 'miss' });
    return { manifest: await this.fetcher.byTag(work), outcome: 'miss' };
  }

  private async platformManifest(
    work: Work,
    top: ManifestResult,
    platform: Platform,
  ): Promise<{ child: ManifestResult; chosen: Platform | undefined }> {
    if (top.manifest.kind === 'image') return { child: top, chosen: undefined };
    const children = top.manifest.children;
    const match = choose(children, platform);
    if (!match) {
      const offered = children.map((c) => (c.platform ? formatPlatform(c.platform) : 'unknown'));
      throw new FnPinnerError(
        'PLATFORM_NOT_FOUND',
        `${work.ctx.what}: index ${top.digest} has no ${formatPlatform(platform)} image (offers ${truncate(listSome(offered, 10), 400) || 'none'})`,
      );
    }
    return { child: await this.fetcher.manifest(work, match.digest), chosen: match.platform };
  }
}

/** A tag's digest that may be served without asking the registry: fresh, or backing off after a failure. */
function usableDigest(state: TagState): string | undefined {
  return state && (state.fresh || state.backingOff) ? state.digest : undefined;
}

function staleWarning(ref: ImageReference, why: string): string {
  return `image ${truncate(ref.original, 300)}: pinned to the digest cached before; the tag could not be rechecked: ${why}`;
}
