import { LRUCache } from 'lru-cache';

import type { CacheOptions } from './options.js';
import type { ImageReference } from '../reference/reference.js';
import { own } from '../registry/index.js';
import type { ImageConfig, ManifestResult } from '../registry/index.js';

interface TagEntry {
  digest: string;
  /** Milliseconds since the cache was created: a small integer, where a timestamp would be a boxed double. */
  checkedAt: number;
  /** After a failed revalidation: no recheck before this time (same clock). */
  retryAt?: number;
  failures?: number;
}

export type TagState =
  | {
      digest: string;
      fresh: boolean;
      /** Stale, but a recent revalidation failed: serve the digest without asking again yet. */
      backingOff: boolean;
      failures: number;
    }
  | undefined;

/** Rough heap bytes of a string (V8 one-byte strings: header + characters). */
function str(s: string | undefined): number {
  return s === undefined ? 0 : 16 + s.length;
}

function argv(a: readonly string[]): number {
  return 16 + a.reduce((n, s) => n + 8 + str(s), 0);
}

const ENTRY_OVERHEAD = 96;

function manifestSize(m: ManifestResult, key: string): number {
  const base = ENTRY_OVERHEAD + str(key) + str(m.digest);
  if (m.manifest.kind === 'image') return base + str(m.manifest.configDigest);
  return base + m.manifest.children.reduce((n, c) => n + 96 + str(c.digest), 0);
}

/**
 * A tier: an LRU bounded by entries and by its share of the byte bound. `set` keys are flattened first:
 * a key built by concatenation is a tree of slices of the strings it came from, and a flat copy keeps
 * only its own characters (measured: ~150 bytes less per entry).
 */
function tier<V extends object>(
  max: number,
  maxSize: number,
  size: (v: V, key: string) => number,
): LRUCache<string, V> {
  return new LRUCache<string, V>({ max, maxSize: Math.max(1, Math.floor(maxSize)), sizeCalculation: size });
}

/**
 * Two kinds of entry, because they age differently:
 *  - tag → digest can move (a re-pushed tag), so it is trusted for `tagTtlMs` and then revalidated with a HEAD;
 *  - digest → manifest / config is content-addressed and immutable, so it never expires, only gets evicted.
 * Each tier is an LRU bounded by entries (`maxImages`; manifests twice that, since a multi-platform image
 * holds its index and one platform manifest) and by a share of `maxBytes`. Keys include the repository
 * name: a digest says nothing about which repository (and credentials) can serve it. Callers pass
 * references and digests; keys are built here only.
 */
export class MetadataCache {
  private readonly tags: LRUCache<string, TagEntry>;
  private readonly manifests: LRUCache<string, ManifestResult>;
  private readonly configs: LRUCache<string, ImageConfig>;
  private readonly epoch: number;

  constructor(
    private readonly options: CacheOptions,
    private readonly now: () => number = Date.now,
  ) {
    const { maxImages, maxBytes } = options;
    this.epoch = now();
    this.tags = tier(maxImages, maxBytes * 0.2, (e, key) => ENTRY_OVERHEAD + str(key) + str(e.digest));
    this.manifests = tier(maxImages * 2, maxBytes * 0.4, manifestSize);
    this.configs = tier(
      maxImages,
      maxBytes * 0.4,
      (c, key) => ENTRY_OVERHEAD + str(key) + argv(c.entrypoint) + argv(c.cmd),
    );
  }

  tag(ref: ImageReference): TagState {
    const entry = this.tags.get(tagKey(ref));
    if (!entry) return undefined;
    const now = this.now() - this.epoch;
    const fresh = this.options.tagTtlMs === 0 || now - entry.checkedAt < this.options.tagTtlMs;
    const backingOff = !fresh && entry.retryAt !== undefined && now < entry.retryAt;
    return { digest: entry.digest, fresh, backingOff, failures: entry.failures ?? 0 };
  }

  setTag(ref: ImageReference, digest: string): void {
    this.tags.set(own(tagKey(ref)), { digest, checkedAt: this.now() - this.epoch });
  }

  /** A revalidation failed: keep the digest (still stale) and do not ask again before `backoffMs` from now. */
  tagCheckFailed(ref: ImageReference, backoffMs: number): void {
    const key = tagKey(ref);
    const entry = this.tags.get(key);
    if (!entry) return;
    const failures = (entry.failures ?? 0) + 1;
    this.tags.set(own(key), { ...entry, failures, retryAt: this.now() - this.epoch + backoffMs });
  }

  manifest(ref: ImageReference, digest: string): ManifestResult | undefined {
    return this.manifests.get(digestKey(ref, digest));
  }

  setManifest(ref: ImageReference, value: ManifestResult): void {
    this.manifests.set(own(digestKey(ref, value.digest)), value);
  }

  config(ref: ImageReference, digest: string): ImageConfig | undefined {
    return this.configs.get(digestKey(ref, digest));
  }

  setConfig(ref: ImageReference, digest: string, value: ImageConfig): void {
    this.configs.set(own(digestKey(ref, digest)), value);
  }

  sizes(): { tag: number; manifest: number; config: number; bytes: number } {
    const tiers = [this.tags, this.manifests, this.configs];
    return {
      tag: this.tags.size,
      manifest: this.manifests.size,
      config: this.configs.size,
      bytes: tiers.reduce((n, t) => n + t.calculatedSize, 0),
    };
  }

  clear(): void {
    this.tags.clear();
    this.manifests.clear();
    this.configs.clear();
  }
}

/** `name@hex` for sha256 digests (the algorithm is implied), `name@algo:hex` for any other. */
function digestKey(ref: ImageReference, digest: string): string {
  return `${ref.name}@${digest.startsWith('sha256:') ? digest.slice(7) : digest}`;
}

function tagKey(ref: ImageReference): string {
  return `${ref.name}:${ref.identifier}`;
}
