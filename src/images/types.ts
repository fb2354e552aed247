import type { Platform } from '../reference/platform.js';
import type { Keychain } from '../registry/index.js';
import type { RequestBudget } from '../util/budget.js';

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

/**
 * `hit`: no registry call; `revalidated`: one HEAD confirmed a cached tag; `miss`: fetched; `stale`: the tag
 * could not be revalidated (registry down, or backing off after it was) and the cached digest was served.
 */
export type CacheOutcome = 'hit' | 'revalidated' | 'miss' | 'stale';

export interface Resolution {
  metadata: ImageMetadata;
  cache: CacheOutcome;
  /** Why a stale digest was served, for the review's warnings. */
  warning?: string;
}

export interface ResolveOptions {
  platform?: Platform;
  /** The review's registry request budget; a fresh one per call when absent. */
  budget?: RequestBudget;
  /**
   * The review's own credentials (the pod's pull secrets), tried between the custom config and the
   * default keychain; with them, an answer cached from another pod's credentials is used only after
   * this review proves access (images/access.ts).
   */
  credentials?: Keychain;
}
