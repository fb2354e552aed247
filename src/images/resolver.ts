import { FnPinnerError, toFnPinnerError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { Platform } from '../reference/platform.js';
import type { RegistryOptions } from '../registry/options.js';
import type { ResolverOptions } from './options.js';
import { formatPlatform, platformMatches } from '../reference/platform.js';
import { ImageReference } from '../reference/reference.js';
import { parseImageConfig } from '../registry/index.js';
import type {
  CallContext,
  ImageConfig,
  IndexChild,
  ManifestResult,
  RegistryClient,
} from '../registry/index.js';
import { SingleFlight } from '../util/singleflight.js';
import type { MetadataCache } from './cache.js';

export interface ImageMetadata {
  /** The reference as given. */
  image: string;
  /** What the tag points to: the index digest for a multi-platform image. */
  digest: string;
  /** The reference as written with `@digest` appended. */
  resolved: string;
  mediaType: string;
  /** The platform whose config supplied entrypoint and cmd. */
  platform: Platform;
  /** The platform-specific manifest the entrypoint came from (equal to `digest` for single-platform images). */
  manifestDigest: string;
  entrypoint: string[];
  cmd: string[];
  /** Platforms an index offers; undefined for a single-platform image. */
  platforms: Platform[] | undefined;
}

/** `hit`: no registry call; `revalidated`: one HEAD confirmed a cached tag; `miss`: fetched. */
export type CacheOutcome = 'hit' | 'revalidated' | 'miss';

export interface Resolution {
  metadata: ImageMetadata;
  cache: CacheOutcome;
}

export interface ResolveOptions {
  platform?: Platform;
}

export interface ImageResolverDeps {
  client: RegistryClient;
  cache: MetadataCache;
  options: ResolverOptions;
  registryOptions: Pick<RegistryOptions, 'maxConfigBytes'>;
  metrics: Metrics;
  log: Logger;
}

interface Work {
  ref: ImageReference;
  platform: Platform;
  ctx: CallContext;
  outcome: CacheOutcome;
}

/**
 * Image → digest, entrypoint and cmd, through the two-tier cache. Concurrent resolutions of the same image
 * (and concurrent fetches of the same manifest or config) share one registry round trip.
 */
export class ImageResolver {
  private readonly flights = new SingleFlight<string, Resolution>();
  private readonly manifestFlights = new SingleFlight<string, ManifestResult>();
  private readonly tagFlights = new SingleFlight<string, ManifestResult>();
  private readonly configFlights = new SingleFlight<string, ImageConfig>();

  constructor(private readonly deps: ImageResolverDeps) {}

  async resolve(image: string | ImageReference, opts: ResolveOptions = {}): Promise<Resolution> {
    const started = performance.now();
    const ref = typeof image === 'string' ? ImageReference.parse(image) : image;
    const platform = opts.platform ?? this.deps.options.platform;
    const hit = this.fromCache(ref, platform);
    if (hit) {
      this.observe(started, 'hit', 'ok');
      return hit;
    }
    const key = `${ref.canonical}|${formatPlatform(platform)}`;
    const joinsBefore = this.flights.joins;
    const flight = this.flights.run(key, () => this.resolveOnce(ref, platform));
    if (this.flights.joins > joinsBefore) this.deps.metrics.singleFlightJoins.inc();
    try {
      const result = await flight;
      this.observe(started, result.cache, 'ok');
      // A joined flight resolved someone else's spelling of the same image: report this caller's own.
      return result.metadata.image === ref.original ? result : relabel(result, ref);
    } catch (err) {
      const e = toFnPinnerError(err, `resolve ${ref.original}`);
      this.observe(started, 'miss', e.code);
      throw e;
    }
  }

  private observe(started: number, cache: CacheOutcome, outcome: string): void {
    this.deps.metrics.resolutions.inc({ outcome });
    this.deps.metrics.resolutionSeconds.observe({ cache }, (performance.now() - started) / 1000);
    // Sizes only change when something was fetched.
    if (cache === 'hit') return;
    const sizes = this.deps.cache.sizes();
    for (const [tier, n] of Object.entries(sizes)) this.deps.metrics.cacheEntries.set({ tier }, n);
  }

  /**
   * The hot path: everything cached and the tag fresh. Answered synchronously, without a flight, a
   * deadline timer or a chain of awaits; anything missing falls through to resolveOnce().
   */
  private fromCache(ref: ImageReference, platform: Platform): Resolution | undefined {
    const { cache, metrics } = this.deps;
    let digest = ref.digest;
    if (!digest) {
      const state = cache.tag(`${ref.name}:${ref.identifier}`);
      if (!state?.fresh) return undefined;
      digest = state.digest;
    }
    const top = cache.manifest(`${ref.name}@${digest}`);
    if (!top) return undefined;
    const match = top.manifest.kind === 'index' ? choose(top.manifest.children, platform) : undefined;
    const child = match ? cache.manifest(`${ref.name}@${match.digest}`) : top;
    if (child?.manifest.kind !== 'image') return undefined;
    const config = cache.config(`${ref.name}@${child.manifest.configDigest}`);
    if (!config) return undefined;
    if (!ref.digest) metrics.cacheLookups.inc({ tier: 'tag', result: 'hit' });
    metrics.cacheLookups.inc({ tier: 'config', result: 'hit' });
    return {
      metadata: buildMetadata(ref, { top, child, chosen: match?.platform, config, platform }),
      cache: 'hit',
    };
  }

  private async resolveOnce(ref: ImageReference, platform: Platform): Promise<Resolution> {
    const { deadlineMs } = this.deps.options;
    const ctx = lazyContext(`resolve ${ref.original}`, deadlineMs);
    const work: Work = { ref, platform, ctx, outcome: 'hit' };
    const top = await this.topManifest(work);
    const { child, chosen } = await this.platformManifest(work, top);
    if (child.manifest.kind !== 'image') {
      throw new FnPinnerError('BAD_MANIFEST', `${ctx.what}: index ${child.digest} points at another index`);
    }
    const config = await this.config(work, child.manifest.configDigest);
    const metadata = buildMetadata(ref, { top, child, chosen, config, platform });
    return { metadata, cache: work.outcome };
  }

  /** The manifest the tag (or digest) points to, using the tag tier and revalidating it when stale. */
  private async topManifest(work: Work): Promise<ManifestResult> {
    const { ref, ctx } = work;
    if (ref.digest) return this.manifestByDigest(work, ref.digest, 'manifest');
    const tagKey = `${ref.name}:${ref.identifier}`;
    const state = this.deps.cache.tag(tagKey);
    if (state?.fresh) {
      this.deps.metrics.cacheLookups.inc({ tier: 'tag', result: 'hit' });
      return this.manifestByDigest(work, state.digest, 'manifest');
    }
    if (state) return this.revalidate(work, tagKey, state.digest);
    this.deps.metrics.cacheLookups.inc({ tier: 'tag', result: 'miss' });
    work.outcome = 'miss';
    // Keyed by tag alone: pods asking for different platforms of the same tag share the GET.
    return this.tagFlights.run(tagKey, async () => {
      const fetched = await this.deps.client.getManifest(ref, ref.identifier, ctx);
      this.deps.cache.setManifest(`${ref.name}@${fetched.digest}`, fetched);
      this.deps.cache.setTag(tagKey, fetched.digest);
      return fetched;
    });
  }

  /**
   * A stale tag: one HEAD (cheap, and not a Docker Hub pull). If the registry is briefly unreachable, the
   * digest it confirmed within the TTL is still the best answer: serve it (the tag stays stale, so the
   * next resolution asks again) rather than deny pods that worked a moment ago.
   */
  private async revalidate(work: Work, tagKey: string, cachedDigest: string): Promise<ManifestResult> {
    let digest: string;
    try {
      const head = await this.deps.client.headManifest(work.ref, work.ref.identifier, work.ctx);
      digest = head.digest;
      if (head.fetched) this.deps.cache.setManifest(`${work.ref.name}@${digest}`, head.fetched);
    } catch (err) {
      const e = toFnPinnerError(err, work.ctx.what);
      if (!e.temporary && e.code !== 'TIMEOUT') throw e;
      this.deps.metrics.cacheLookups.inc({ tier: 'tag', result: 'stale-served' });
      this.deps.log.warn(
        { image: work.ref.original, err: e.message },
        'tag revalidation failed; serving the cached digest',
      );
      return this.manifestByDigest(work, cachedDigest, 'manifest');
    }
    this.deps.cache.setTag(tagKey, digest);
    this.deps.metrics.cacheLookups.inc({ tier: 'tag', result: 'revalidated' });
    work.outcome = 'revalidated';
    return this.manifestByDigest(work, digest, 'manifest');
  }

  private async manifestByDigest(work: Work, digest: string, tier: string): Promise<ManifestResult> {
    const key = `${work.ref.name}@${digest}`;
    const cached = this.deps.cache.manifest(key);
    this.deps.metrics.cacheLookups.inc({ tier, result: cached ? 'hit' : 'miss' });
    if (cached) return cached;
    work.outcome = 'miss';
    return this.manifestFlights.run(key, async () => {
      const fetched = await this.deps.client.getManifest(work.ref, digest, work.ctx);
      this.deps.cache.setManifest(key, fetched);
      return fetched;
    });
  }

  private async platformManifest(
    work: Work,
    top: ManifestResult,
  ): Promise<{ child: ManifestResult; chosen: Platform | undefined }> {
    if (top.manifest.kind === 'image') return { child: top, chosen: undefined };
    const children = top.manifest.children;
    const match = choose(children, work.platform);
    if (!match) {
      const offered = children.map((c) => (c.platform ? formatPlatform(c.platform) : 'unknown')).join(', ');
      throw new FnPinnerError(
        'PLATFORM_NOT_FOUND',
        `${work.ctx.what}: index ${top.digest} has no ${formatPlatform(work.platform)} image (offers ${offered || 'none'})`,
      );
    }
    return { child: await this.manifestByDigest(work, match.digest, 'manifest'), chosen: match.platform };
  }

  private async config(work: Work, digest: string): Promise<ImageConfig> {
    const key = `${work.ref.name}@${digest}`;
    const cached = this.deps.cache.config(key);
    this.deps.metrics.cacheLookups.inc({ tier: 'config', result: cached ? 'hit' : 'miss' });
    if (cached) return cached;
    work.outcome = 'miss';
    return this.configFlights.run(key, async () => {
      const bytes = await this.deps.client.getBlob(
        work.ref,
        digest,
        this.deps.registryOptions.maxConfigBytes,
        work.ctx,
      );
      const config = parseImageConfig(bytes, `${work.ref.name}@${digest}`);
      this.deps.cache.setConfig(key, config);
      return config;
    });
  }
}

/** A child without a platform is treated as linux/amd64, as go-containerregistry does. */
function choose(children: IndexChild[], platform: Platform): IndexChild | undefined {
  return children.find((c) =>
    platformMatches(platform, c.platform ?? { os: 'linux', architecture: 'amd64' }),
  );
}

function buildMetadata(
  ref: ImageReference,
  parts: {
    top: ManifestResult;
    child: ManifestResult;
    chosen: Platform | undefined;
    config: ImageConfig;
    platform: Platform;
  },
): ImageMetadata {
  const { top, child, chosen, config, platform } = parts;
  return {
    image: ref.original,
    digest: top.digest,
    resolved: ref.pin(top.digest),
    mediaType: top.mediaType,
    platform: chosen ?? config.platform ?? platform,
    manifestDigest: child.digest,
    entrypoint: config.entrypoint,
    cmd: config.cmd,
    platforms:
      top.manifest.kind === 'index'
        ? top.manifest.children.flatMap((c) => (c.platform ? [c.platform] : []))
        : undefined,
  };
}

/** The deadline's AbortSignal (a timer) is only created when a registry call actually needs it. */
function lazyContext(what: string, deadlineMs: number): CallContext {
  const deadline = Date.now() + deadlineMs;
  let signal: AbortSignal | undefined;
  return {
    what,
    deadline,
    get signal(): AbortSignal {
      signal ??= AbortSignal.timeout(Math.max(1, deadline - Date.now()));
      return signal;
    },
  };
}

function relabel(result: Resolution, ref: ImageReference): Resolution {
  return {
    ...result,
    metadata: { ...result.metadata, image: ref.original, resolved: ref.pin(result.metadata.digest) },
  };
}
