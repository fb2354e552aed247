import type { Metrics } from '../metrics.js';
import type { RegistryOptions } from '../registry/options.js';
import type { ImageReference } from '../reference/reference.js';
import { parseImageConfig } from '../registry/index.js';
import type { CallContext, ImageConfig, ManifestResult, RegistryClient } from '../registry/index.js';
import { SingleFlight } from '../util/singleflight.js';
import type { MetadataCache } from './cache.js';

export interface FetcherDeps {
  client: RegistryClient;
  cache: MetadataCache;
  registryOptions: Pick<RegistryOptions, 'maxConfigBytes' | 'maxCommandBytes'>;
  metrics: Metrics;
}

/** What one resolution learns as it goes: whether it had to call the registry. */
export interface Work {
  ref: ImageReference;
  ctx: CallContext;
  fetched: boolean;
}

/**
 * Manifests and configs through the cache, one registry round trip per missing item however many
 * resolutions want it at once. A resolution that joins another's fetch keeps its own deadline.
 */
export class Fetcher {
  private readonly manifests = new SingleFlight<string, ManifestResult>();
  private readonly tags = new SingleFlight<string, ManifestResult>();
  private readonly configs = new SingleFlight<string, ImageConfig>();

  constructor(private readonly deps: FetcherDeps) {}

  /** GET by tag: the manifest and the tag → digest mapping, both cached. */
  async byTag(work: Work): Promise<ManifestResult> {
    const { ref, ctx } = work;
    work.fetched = true;
    // Keyed by tag alone: pods asking for different platforms of the same tag share the GET.
    return this.tags.join(
      `${ref.name}:${ref.identifier}`,
      async () => {
        const fetched = await this.deps.client.getManifest(ref, ref.identifier, ctx);
        this.deps.cache.setManifest(ref, fetched);
        this.deps.cache.setTag(ref, fetched.digest);
        return fetched;
      },
      ctx,
    );
  }

  async manifest(work: Work, digest: string): Promise<ManifestResult> {
    const { ref, ctx } = work;
    const cached = this.deps.cache.manifest(ref, digest);
    this.deps.metrics.cacheLookups.inc({ tier: 'manifest', result: cached ? 'hit' : 'miss' });
    if (cached) return cached;
    work.fetched = true;
    return this.manifests.join(
      `${ref.name}@${digest}`,
      async () => {
        const fetched = await this.deps.client.getManifest(ref, digest, ctx);
        this.deps.cache.setManifest(ref, fetched);
        return fetched;
      },
      ctx,
    );
  }

  async config(work: Work, digest: string): Promise<ImageConfig> {
    const { ref, ctx } = work;
    const cached = this.deps.cache.config(ref, digest);
    this.deps.metrics.cacheLookups.inc({ tier: 'config', result: cached ? 'hit' : 'miss' });
    if (cached) return cached;
    work.fetched = true;
    const { maxConfigBytes } = this.deps.registryOptions;
    return this.configs.join(
      `${ref.name}@${digest}`,
      async () => {
        const bytes = await this.deps.client.getBlob(ref, digest, maxConfigBytes, ctx);
        const config = parseImageConfig(bytes, `${ref.name}@${digest}`, this.deps.registryOptions);
        this.deps.cache.setConfig(ref, digest, config);
        return config;
      },
      ctx,
    );
  }
}
