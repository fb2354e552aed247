/**
 * Every tunable, with its default, in one place. Lower layers take these typed objects; only src/config.ts
 * fills them from flags and the environment.
 */

/** `os/arch[/variant]`, as in OCI image index platform entries. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** The design's prefix plus the one Porch uses today (kpt moved its catalog to ghcr). */
export const DEFAULT_REGISTRY_PREFIXES = ['gcr.io/kpt-fn/', 'ghcr.io/kptdev/krm-functions-catalog/'];

export interface RegistryOptions {
  /** PEM bundle added to the system roots for registry TLS. */
  caPem?: string;
  /** Where caPem came from, for messages. */
  caSource?: string;
  /** `host[:port]` entries reached over plain HTTP. Nothing else ever is. */
  insecureRegistries: string[];
  /** Registry hosts named by configuration (default prefixes): metrics label these by name, the rest `other`. */
  configuredRegistries: string[];
  /** Access policy (--registry-allow / --registry-deny): patterns `host`, `host:port`, `*.domain`, CIDR. */
  registryAllow: string[];
  /** Added to the built-in deny list (cloud metadata, link-local). */
  registryDeny: string[];
  /** Token realms trusted beyond the registry's own host and registrable domain (--token-realm-allow). */
  tokenRealmAllow: string[];
  /** Registry requests in flight at once, across all reviews; more wait (within their deadline). */
  maxConcurrentRequests: number;
  /** How long a host stays on the trust store its TLS fallback found before the custom CA goes first again. */
  trustFallbackMemoryMs: number;
  /** One HTTP call, from sending to the last body byte. */
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Attempts per call for temporary failures (5xx, resets, 429), always within the resolution deadline. */
  maxAttempts: number;
  retryBaseDelayMs: number;
  /** Distribution's own limit on manifests is 4 MiB. */
  maxManifestBytes: number;
  /** Entries an index may list (TOO_LARGE beyond: INDEX_TOO_LARGE). */
  maxIndexEntries: number;
  /** Image config blob size. Real configs are a few KiB; the long ones are history. */
  maxConfigBytes: number;
  /** Entrypoint + Cmd kept from a config (and put into pods): COMMAND_TOO_LARGE beyond. */
  maxCommandBytes: number;
  /** What is read of any non-2xx body; the rest is dropped unread. */
  maxErrorBodyBytes: number;
  maxTokenBodyBytes: number;
  /** A token longer than this is refused (TOO_LARGE). */
  maxTokenBytes: number;
  /** A token is cached for its expires_in, but never longer than this. */
  maxTokenLifetimeMs: number;
  /** Tokens cached (LRU). */
  maxTokens: number;
  /** Hops a blob redirect may take. */
  maxRedirects: number;
  userAgent: string;
}

export const DEFAULT_REGISTRY_OPTIONS: RegistryOptions = {
  insecureRegistries: [],
  configuredRegistries: [],
  registryAllow: [],
  registryDeny: [],
  tokenRealmAllow: [],
  maxConcurrentRequests: 64,
  trustFallbackMemoryMs: 10 * 60_000,
  requestTimeoutMs: 5_000,
  connectTimeoutMs: 3_000,
  maxAttempts: 3,
  retryBaseDelayMs: 100,
  maxManifestBytes: 4 * 1024 * 1024,
  maxIndexEntries: 256,
  maxConfigBytes: 1024 * 1024,
  maxCommandBytes: 64 * 1024,
  maxErrorBodyBytes: 4 * 1024,
  maxTokenBodyBytes: 64 * 1024,
  maxTokenBytes: 16 * 1024,
  maxTokenLifetimeMs: 60 * 60_000,
  maxTokens: 1_000,
  maxRedirects: 3,
  userAgent: 'fn-pinner/0.1',
};

export interface CacheOptions {
  /** Digest-keyed entries (manifests, configs) never expire; this bounds their number. */
  maxImages: number;
  /** And this bounds their estimated size in bytes, whatever the registries serve. */
  maxBytes: number;
  /** How long a tag → digest mapping is trusted before a HEAD revalidates it. 0 = forever (Porch's behaviour). */
  tagTtlMs: number;
}

export const DEFAULT_CACHE_OPTIONS: CacheOptions = {
  maxImages: 10_000,
  maxBytes: 32 * 1024 * 1024,
  tagTtlMs: 5 * 60_000,
};

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

export const DEFAULT_RESOLVER_OPTIONS: ResolverOptions = {
  platform: DEFAULT_PLATFORM,
  deadlineMs: 8_000,
  maxRequestsPerReview: 20,
  revalidateBudgetMs: 1_000,
  revalidateBackoffMs: 30_000,
};

export interface ReviewLimits {
  /** Distinct images one pod may ask to resolve (TOO_MANY_IMAGES beyond). */
  maxImagesPerReview: number;
  /** Platforms of one index compared for the multi-arch warning (the pod's own included). */
  maxPlatformsCompared: number;
}

export const DEFAULT_REVIEW_LIMITS: ReviewLimits = {
  maxImagesPerReview: 10,
  maxPlatformsCompared: 6,
};

/** What a review's mutation needs to know of its limits; config.ts fills it from the settings. */
export const DEFAULT_MUTATION_LIMITS: ReviewLimits & { maxRequestsPerReview: number } = {
  ...DEFAULT_REVIEW_LIMITS,
  maxRequestsPerReview: DEFAULT_RESOLVER_OPTIONS.maxRequestsPerReview,
};
