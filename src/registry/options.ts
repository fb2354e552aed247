/** What the registry client needs to know; filled by src/config (flags and fixed tunables), never defaulted here. */
export interface RegistryOptions {
  /** PEM bundle added to the system roots for registry TLS. */
  caPem?: string | undefined;
  /** Where caPem came from, for messages. */
  caSource?: string | undefined;
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
  maxManifestBytes: number;
  /** Entries an index may list (INDEX_TOO_LARGE beyond). */
  maxIndexEntries: number;
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
