/**
 * Fixed values that are not flags, with the reason for each. Together with the defaults in settings.ts these
 * are the only defaults in the program: lower layers take complete option objects and keep none of their own.
 */

export const REGISTRY_TUNABLES = {
  connectTimeoutMs: 3_000,
  maxAttempts: 3,
  retryBaseDelayMs: 100,
  /** Distribution's own limit on manifests is 4 MiB. */
  maxManifestBytes: 4 * 1024 * 1024,
  /** Real indexes list a few platforms (and attestations); thousands only cost every review work. */
  maxIndexEntries: 256,
  /** Real configs are a few KiB; the long ones are history, which is not kept. */
  maxConfigBytes: 1024 * 1024,
  /** Entrypoint + Cmd end up in the cache and in pods; 64 KiB is far beyond any real command. */
  maxCommandBytes: 64 * 1024,
  /** Enough for any registry's error JSON; the rest of a longer body is never read. */
  maxErrorBodyBytes: 4 * 1024,
  maxTokenBodyBytes: 64 * 1024,
  /** Real registry JWTs are 1-8 KiB. */
  maxTokenBytes: 16 * 1024,
  /** A registry asking for a year-long token still gets it refreshed hourly. */
  maxTokenLifetimeMs: 60 * 60_000,
  maxTokens: 1_000,
  /** Object storage redirects once; a chain is a registry playing games. */
  maxRedirects: 3,
  /** All reviews together: a flood of distinct images waits (within its deadlines) instead of opening sockets. */
  maxConcurrentRequests: 64,
  /** After a TLS fallback, how long a host stays on the store that worked before the custom CA goes first. */
  trustFallbackMemoryMs: 10 * 60_000,
  userAgent: 'fn-pinner/0.1',
};

export const RESOLVER_TUNABLES = {
  /** A stale tag's HEAD gets this long of its own; then the cached digest is served (with a warning). */
  revalidateBudgetMs: 1_000,
  /** After a failed revalidation, no recheck for this long, doubling up to the tag TTL. */
  revalidateBackoffMs: 30_000,
};

export const REVIEW_TUNABLES = {
  /** Function pods have one or two images; ten distinct ones is already a lot of registry work. */
  maxImagesPerReview: 10,
  /** The multi-arch warning compares the pod's platform with at most five others. */
  maxPlatformsCompared: 6,
};

export const PULL_SECRET_TUNABLES = {
  /** Transient API errors: attempts per sync, and the first backoff (doubled each time). */
  attempts: 5,
  backoffMs: 200,
};

/**
 * How often mounted files are re-checked when no file event arrives (some volume types send none). A stat
 * per file per second is nothing; the kubelet itself takes up to a minute to project a changed Secret.
 */
export const FILE_POLL_MS = 1_000;

/**
 * The values of controller-runtime's webhook server (pkg/internal/httpserver): IdleTimeout 90 s "matches
 * http.DefaultTransport keep-alive timeout" (the API server's client keeps idle connections 90 s, so the
 * server never drops one the client is about to reuse, which would surface as a failed webhook call), and
 * ReadHeaderTimeout 32 s, just under the API server's 34 s upper bound for a request. Node's default
 * keepAliveTimeout of 5 s is the classic source of those resets. A webhook call can last at most 30 s
 * (timeoutSeconds), so a request body still arriving after 34 s belongs to a call already abandoned.
 */
export const HTTPS_TUNABLES = {
  keepAliveTimeoutMs: 90_000,
  headersTimeoutMs: 32_000,
  requestTimeoutMs: 34_000,
};

export const SHUTDOWN_TUNABLES = {
  /**
   * After SIGTERM the pod's endpoint is removed asynchronously; until the API server notices, it may still
   * dial us. Keep serving (with /readyz at 503) this long before refusing connections.
   */
  notReadyMs: 5_000,
  /**
   * Above the per-review deadline so a review in flight can finish, and below the pod's default
   * terminationGracePeriodSeconds (30 s) so we exit before the kubelet sends SIGKILL.
   */
  drainMs: 20_000,
};

/**
 * Resolutions in flight at once for the audit, the drift check and the cache warm-up: enough to hide registry
 * round trips, few enough not to look like a burst to a rate-limited registry (Docker Hub counts manifest
 * GETs) nor to starve admissions sharing the webhook's CPU.
 */
export const BULK_RESOLVE_CONCURRENCY = 8;

/** A warm-up list is a short config file, not a catalog dump: bounded like any other input. */
export const WARM_TUNABLES = {
  maxImages: 10_000,
  maxFileBytes: 1024 * 1024,
};

/** The serving certificate's upkeep (src/app/serving-certs.ts) and the Secret self-signed replicas share. */
export const SERVING_CERT_TUNABLES = {
  /**
   * Between checks of the shared Secret and of the webhook configuration's caBundle: a changed Secret, or a
   * caBundle someone reset, is acted on within this. Two small GETs per replica.
   */
  pollMs: 10_000,
  /** First retry after a failed check (a Conflict, a timeout, a 403); doubled up to pollMs. */
  retryMs: 250,
  /**
   * After a publish that changed the caBundle, this long before readiness or a new certificate relies on
   * it. The API servers take the change from a watch within milliseconds; this is the margin.
   */
  settleMs: 2_000,
  /** The shared certificates live as long as the ones self-signed mode keeps in --cert-dir (src/tls/serving.ts). */
  validityDays: 365,
  renewBeforeDays: 30,
  caValidityDays: 3650,
  /**
   * A next CA is in the caBundle this long before anything is served with it. The API servers watch the
   * webhook configuration, so seconds would do; minutes cost nothing once in ten years.
   */
  caSettleMs: 5 * 60_000,
};

export const CLOUD_TUNABLES = {
  /**
   * Longest one resolution waits for a cloud provider. Off its cloud, google-auth-library's metadata probe
   * can take 3 s and the AWS chain's IMDS probe 1 s or more; a review must not stall that long each time.
   * A fetch still running after this fills the cache for the next review.
   */
  waitMs: 2_000,
  /** A provider that is not there (no metadata server, no credentials) is skipped this long. */
  absentMemoryMs: 10 * 60_000,
  /** A provider that answered with an error is retried after this long. */
  failureBackoffMs: 30_000,
  /** Tokens are refreshed this long before they expire (at most half their lifetime). */
  refreshMarginMs: 5 * 60_000,
};

export const POD_SECRET_TUNABLES = {
  /** One GET of a Secret or ServiceAccount; the review deadline bounds the whole too. */
  apiTimeoutMs: 2_000,
  /** A Secret or ServiceAccount read is reused this long: pods created together cost one read. */
  cacheTtlMs: 10_000,
  maxCached: 1_000,
  /** imagePullSecrets names looked up per pod (pod and ServiceAccount together); the rest are ignored. */
  maxSecretsPerPod: 16,
  /** Repositories whose access by pod credentials is remembered (images/access.ts). */
  maxLedgerEntries: 10_000,
};
