import type { Platform } from '../reference/platform.js';

export interface CacheOptions {
  /** Digest-keyed entries (manifests, configs) never expire; this bounds their number. */
  maxImages: number;
  /** And this bounds their estimated size in bytes, whatever the registries serve. */
  maxBytes: number;
  /** How long a tag → digest mapping is trusted before a HEAD revalidates it. 0 = forever (Porch's behaviour). */
  tagTtlMs: number;
}

export interface ResolverOptions {
  platform: Platform;
  /** Overall budget for one image resolution, retries included. Kept under the webhook's timeoutSeconds. */
  deadlineMs: number;
  /** Registry requests one review (or one `resolve`) may send, retries, tokens and redirects included. */
  maxRequestsPerReview: number;
  /** Time a stale tag's revalidation may take before the cached digest is served instead. */
  revalidateBudgetMs: number;
  /** After a failed revalidation, the tag is not rechecked for this long (doubling up to the tag TTL). */
  revalidateBackoffMs: number;
}
