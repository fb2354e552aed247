import { LRUCache } from 'lru-cache';

import type { CacheOptions } from '../options.js';
import type { ImageReference } from '../reference/reference.js';
import { own } from '../registry/index.js';
import type { ImageConfig, ManifestResult } from '../registry/index.js';

interface TagEntry {
  digest: string;
  checkedAt: number;
  /** After a failed revalidation: no recheck before this time. */
  retryAt?: number;
  failures?: number;
}

/** Values are stored bare (no wrapper object per entry); the key's first letter says which kind. */
type Entry = TagEntry | ManifestResult | ImageConfig;
type Kind = 'tag' | 'manifest' | 'config';
const KINDS: Record<string, Kind> = { t: 'tag', m: 'manifest', c: 'config' };

function kindOf(key: string): Kind {
  return KINDS[key.charAt(0)] ?? 'tag';
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

/** An estimate of what an entry holds, for the byte bound: strings, arrays and object headers. */
function sizeOf(entry: Entry, key: string): number {
  const base = 96 + str(key);
  const kind = kindOf(key);
  if (kind === 'tag') return base + str((entry as TagEntry).digest);
  if (kind === 'config') {
    const { entrypoint, cmd } = entry as ImageConfig;
    return base + argv(entrypoint) + argv(cmd);
  }
  const { digest, manifest: m } = entry as ManifestResult;
  if (m.kind === 'image') return base + str(digest) + str(m.configDigest);
  return base + str(digest) + m.children.reduce((n, c) => n + 96 + str(c.digest), 0);
}

/**
 * Two tiers, because they age differently:
 *  - tag → digest can move (a re-pushed tag), so it is trusted for `tagTtlMs` and then revalidated with a HEAD;
 *  - digest → manifest / config is content-addressed and immutable, so it never expires, only gets evicted.
 * One LRU holds both, bounded by entries and by estimated bytes. Keys include the repository name: a digest
 * says nothing about which repository (and credentials) can serve it. Callers pass references and digests;
 * the keys are built here only.
 */
export class MetadataCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly counts = { tag: 0, manifest: 0, config: 0 };

  constructor(
    private readonly options: CacheOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.lru = new LRUCache<string, Entry>({
      // A multi-platform image holds a tag, two manifests (the index and the chosen platform's) and a config.
      max: options.maxImages * 4,
      maxSize: options.maxBytes,
      sizeCalculation: (entry, key) => sizeOf(entry, key),
      // 'set' replaces a value under the same key: the count stays.
      dispose: (_entry, key, reason) => {
        if (reason !== 'set') this.counts[kindOf(key)]--;
      },
    });
  }

  tag(ref: ImageReference): TagState {
    const entry = this.lru.get(tagKey(ref)) as TagEntry | undefined;
    if (!entry) return undefined;
    const now = this.now();
    const fresh = this.options.tagTtlMs === 0 || now - entry.checkedAt < this.options.tagTtlMs;
    const backingOff = !fresh && entry.retryAt !== undefined && now < entry.retryAt;
    return { digest: entry.digest, fresh, backingOff, failures: entry.failures ?? 0 };
  }

  setTag(ref: ImageReference, digest: string): void {
    this.put(tagKey(ref), { digest, checkedAt: this.now() });
  }

  /** A revalidation failed: keep the digest (still stale) and do not ask again before `backoffMs` from now. */
  tagCheckFailed(ref: ImageReference, backoffMs: number): void {
    const entry = this.lru.get(tagKey(ref)) as TagEntry | undefined;
    if (!entry) return;
    const failures = (entry.failures ?? 0) + 1;
    this.put(tagKey(ref), { ...entry, failures, retryAt: this.now() + backoffMs });
  }

  manifest(ref: ImageReference, digest: string): ManifestResult | undefined {
    return this.lru.get(`m|${ref.name}@${digest}`) as ManifestResult | undefined;
  }

  setManifest(ref: ImageReference, value: ManifestResult): void {
    this.put(`m|${ref.name}@${value.digest}`, value);
  }

  config(ref: ImageReference, digest: string): ImageConfig | undefined {
    return this.lru.get(`c|${ref.name}@${digest}`) as ImageConfig | undefined;
  }

  setConfig(ref: ImageReference, digest: string, value: ImageConfig): void {
    this.put(`c|${ref.name}@${digest}`, value);
  }

  sizes(): { tag: number; manifest: number; config: number; bytes: number } {
    return { ...this.counts, bytes: this.lru.calculatedSize };
  }

  clear(): void {
    this.lru.clear();
  }

  private put(built: string, entry: Entry): void {
    // A key built by concatenation is a tree of slices of the strings it came from; a flat copy keeps
    // only its own characters (measured: ~150 bytes less per entry).
    const key = own(built);
    const had = this.lru.has(key);
    this.lru.set(key, entry);
    // An entry larger than the whole bound is not stored at all.
    if (this.lru.has(key) && !had) this.counts[kindOf(key)]++;
  }
}

function tagKey(ref: ImageReference): string {
  return `t|${ref.name}:${ref.identifier}`;
}
