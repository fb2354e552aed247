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
  /** One HTTP call, from sending to the last body byte. */
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Attempts per call for temporary failures (5xx, resets, 429), always within the resolution deadline. */
  maxAttempts: number;
  retryBaseDelayMs: number;
  /** Distribution's own limit on manifests is 4 MiB. */
  maxManifestBytes: number;
  maxConfigBytes: number;
  maxErrorBodyBytes: number;
  maxTokenBodyBytes: number;
  userAgent: string;
}

export const DEFAULT_REGISTRY_OPTIONS: RegistryOptions = {
  insecureRegistries: [],
  requestTimeoutMs: 5_000,
  connectTimeoutMs: 3_000,
  maxAttempts: 3,
  retryBaseDelayMs: 100,
  maxManifestBytes: 4 * 1024 * 1024,
  maxConfigBytes: 8 * 1024 * 1024,
  maxErrorBodyBytes: 64 * 1024,
  maxTokenBodyBytes: 1024 * 1024,
  userAgent: 'fn-pinner/0.1',
};

export interface CacheOptions {
  /** Digest-keyed entries (manifests, configs) never expire; this bounds their number. */
  maxImages: number;
  /** How long a tag → digest mapping is trusted before a HEAD revalidates it. 0 = forever (Porch's behaviour). */
  tagTtlMs: number;
}

export const DEFAULT_CACHE_OPTIONS: CacheOptions = {
  maxImages: 10_000,
  tagTtlMs: 5 * 60_000,
};

export interface ResolverOptions {
  platform: Platform;
  /** Overall budget for one image resolution, retries included. Kept under the webhook's timeoutSeconds. */
  deadlineMs: number;
}

export const DEFAULT_RESOLVER_OPTIONS: ResolverOptions = {
  platform: DEFAULT_PLATFORM,
  deadlineMs: 8_000,
};
