import { LRUCache } from 'lru-cache';

import type { CacheOptions } from './options.js';
import type { ImageConfig, ManifestResult } from '../registry/index.js';

interface TagEntry {
  digest: string;
  checkedAt: number;
}

export type TagState = { digest: string; fresh: boolean } | undefined;

/**
 * Two tiers, because they age differently:
 *  - tag → digest can move (a re-pushed tag), so it is trusted for `tagTtlMs` and then revalidated with a HEAD;
 *  - digest → manifest / config is content-addressed and immutable, so it never expires, only gets evicted (LRU).
 * Keys include the repository name: a digest says nothing about which repository (and credentials) can serve it.
 */
export class MetadataCache {
  private readonly tags: LRUCache<string, TagEntry>;
  private readonly manifests: LRUCache<string, ManifestResult>;
  private readonly configs: LRUCache<string, ImageConfig>;

  constructor(
    private readonly options: CacheOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.tags = new LRUCache({ max: options.maxImages });
    // A multi-platform image holds two manifests (the index and the chosen platform's), so this tier
    // gets twice the room; otherwise 10,000 multi-arch images would only half fit.
    this.manifests = new LRUCache({ max: options.maxImages * 2 });
    this.configs = new LRUCache({ max: options.maxImages });
  }

  tag(key: string): TagState {
    const entry = this.tags.get(key);
    if (!entry) return undefined;
    const fresh = this.options.tagTtlMs === 0 || this.now() - entry.checkedAt < this.options.tagTtlMs;
    return { digest: entry.digest, fresh };
  }

  setTag(key: string, digest: string): void {
    this.tags.set(key, { digest, checkedAt: this.now() });
  }

  manifest(key: string): ManifestResult | undefined {
    return this.manifests.get(key);
  }

  setManifest(key: string, value: ManifestResult): void {
    this.manifests.set(key, value);
  }

  config(key: string): ImageConfig | undefined {
    return this.configs.get(key);
  }

  setConfig(key: string, value: ImageConfig): void {
    this.configs.set(key, value);
  }

  sizes(): { tag: number; manifest: number; config: number } {
    return { tag: this.tags.size, manifest: this.manifests.size, config: this.configs.size };
  }

  clear(): void {
    this.tags.clear();
    this.manifests.clear();
    this.configs.clear();
  }
}
