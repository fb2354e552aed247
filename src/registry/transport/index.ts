import type { Logger } from '../../logging.js';
import type { Metrics } from '../../metrics.js';
import type { RegistryOptions } from '../options.js';
import { normalizeRegistryHost } from '../../reference/host.js';
import { CountingTransport } from './count.js';
import { HttpTransport } from './http.js';
import { AccessPolicy } from './policy.js';
import { RetryTransport } from './retry.js';
import { TrustFallback } from './trust.js';
import type { HttpRequest, HttpResponse, RoundTripper } from './types.js';

export { AccessPolicy, BUILTIN_DENY, parseAccessPattern } from './policy.js';
export { header, redactUrl } from './types.js';
export type { HttpRequest, HttpResponse, RoundTripper, Trust } from './types.js';

export interface TransportDeps {
  metrics: Metrics;
  log: Logger;
  /** Registry hosts named in configuration beyond the options' own (Docker config keys, read when counting). */
  configuredHosts?: () => Iterable<string>;
}

/**
 * The HTTP stack, built by wrapping (go-containerregistry's transport package):
 *
 *   RetryTransport → TrustFallback → CountingTransport → HttpTransport (undici, access-policy dialer)
 *
 * Auth sits above it (registry/auth), and the client above that.
 */
export class RegistryTransport implements RoundTripper {
  private readonly http: HttpTransport;
  private readonly stack: RoundTripper;
  private readonly insecure: Set<string>;
  private readonly named: Set<string>;

  constructor(
    options: RegistryOptions,
    private readonly deps: TransportDeps,
  ) {
    const policy = new AccessPolicy({ allow: options.registryAllow, deny: options.registryDeny });
    this.http = new HttpTransport(options, policy);
    this.insecure = new Set(options.insecureRegistries.map(normalizeRegistryHost));
    this.named = new Set([...options.configuredRegistries.map(normalizeRegistryHost), ...this.insecure]);
    const counted = new CountingTransport(this.http, deps.metrics, (host) => this.label(host));
    const trusted = new TrustFallback(
      counted,
      { hasCustomCa: this.http.hasCustomCa, rememberMs: options.trustFallbackMemoryMs },
      deps.log,
    );
    this.stack = new RetryTransport(trusted, options, deps.log);
  }

  send(req: HttpRequest): Promise<HttpResponse> {
    return this.stack.send(req);
  }

  /** `https://host` unless the registry was explicitly configured as insecure. */
  origin(host: string): string {
    return `${this.isInsecure(host) ? 'http' : 'https'}://${host}`;
  }

  isInsecure(host: string): boolean {
    return this.insecure.has(normalizeRegistryHost(host));
  }

  /** The metrics label for a host: itself when configuration names it, else `other`. */
  label(host: string): string {
    const normal = normalizeRegistryHost(host);
    if (this.named.has(normal)) return normal;
    for (const h of this.deps.configuredHosts?.() ?? [])
      if (normalizeRegistryHost(h) === normal) return normal;
    return 'other';
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
