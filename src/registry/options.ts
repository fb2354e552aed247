/** What the registry client needs to know; filled by src/config (flags and fixed tunables), never defaulted here. */
export interface RegistryOptions {
  /** PEM bundle added to the system roots for registry TLS. */
  caPem?: string | undefined;
  /** Where caPem came from, for messages. */
  caSource?: string | undefined;
  /** `host[:port]` entries reached over plain HTTP. Nothing else ever is. */
  insecureRegistries: string[];
  /** One HTTP call, from sending to the last body byte. */
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Attempts per call for temporary failures (5xx, resets, 429), always within the resolution deadline. */
  maxAttempts: number;
  retryBaseDelayMs: number;
  maxManifestBytes: number;
  maxConfigBytes: number;
  maxErrorBodyBytes: number;
  maxTokenBodyBytes: number;
  userAgent: string;
}
