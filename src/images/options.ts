import type { Platform } from '../reference/platform.js';

export interface CacheOptions {
  /** Digest-keyed entries (manifests, configs) never expire; this bounds their number. */
  maxImages: number;
  /** How long a tag → digest mapping is trusted before a HEAD revalidates it. 0 = forever (Porch's behaviour). */
  tagTtlMs: number;
}

export interface ResolverOptions {
  platform: Platform;
  /** Overall budget for one image resolution, retries included. Kept under the webhook's timeoutSeconds. */
  deadlineMs: number;
}
