import { LRUCache } from 'lru-cache';

import { FnPinnerError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import { isCertificateError } from './tls-errors.js';
import type { HttpRequest, HttpResponse, RoundTripper, Trust } from './types.js';
import { redactUrl } from './types.js';

export interface TrustOptions {
  /** True when a custom CA is configured; without one every connection uses the default store. */
  hasCustomCa: boolean;
  /** How long a host stays on the trust store that last worked for it before the custom CA goes first again. */
  rememberMs: number;
}

const OTHER: Record<Trust, Trust> = { custom: 'default', default: 'custom' };
const NAMES: Record<Trust, string> = { custom: 'the custom CA', default: 'the default trust store' };

/**
 * The TLS trust fallback. With a custom CA, a host is tried with the system roots plus that CA first; only a
 * certificate-verification failure makes it try Node's default store (NODE_EXTRA_CA_CERTS, and on newer
 * Nodes the OS store). The store that worked is remembered per host for a while, not for the life of the
 * process, and a certificate failure on the remembered store tries the other one again: a host whose
 * certificate changes back is followed instead of being pinned to the store of its first fallback.
 */
export class TrustFallback implements RoundTripper {
  private readonly remembered: LRUCache<string, Trust>;

  constructor(
    private readonly inner: RoundTripper,
    private readonly options: TrustOptions,
    private readonly log: Logger,
  ) {
    this.remembered = new LRUCache({ max: 1_000, ttl: Math.max(1, options.rememberMs) });
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    if (!this.options.hasCustomCa || !req.url.startsWith('https:')) {
      return this.inner.send({ ...req, trust: 'default' });
    }
    const host = new URL(req.url).host;
    const first = this.remembered.get(host) ?? 'custom';
    try {
      return await this.inner.send({ ...req, trust: first });
    } catch (err) {
      if (!isCertificateError(err)) throw err;
      return this.fallBack(req, host, { first, err });
    }
  }

  private async fallBack(
    req: HttpRequest,
    host: string,
    failed: { first: Trust; err: unknown },
  ): Promise<HttpResponse> {
    const second = OTHER[failed.first];
    this.log.warn(
      { host, error: (failed.err as Error).message },
      `registry certificate not trusted with ${NAMES[failed.first]}; retrying with ${NAMES[second]}`,
    );
    try {
      const res = await this.inner.send({ ...req, trust: second });
      if (second === 'custom') this.remembered.delete(host);
      else this.remembered.set(host, second);
      return res;
    } catch (err) {
      const custom = failed.first === 'custom' ? failed.err : err;
      const fallback = failed.first === 'custom' ? err : failed.err;
      throw bothFailed(req, custom, fallback);
    }
  }
}

function bothFailed(req: HttpRequest, custom: unknown, fallback: unknown): FnPinnerError {
  const prefix = `${req.what}: ${req.method} ${redactUrl(req.url)}: `;
  const detail = (e: unknown): string => {
    const m = e instanceof Error ? e.message : String(e);
    return m.startsWith(prefix) ? m.slice(prefix.length) : m;
  };
  const code = isCertificateError(fallback)
    ? 'TLS'
    : fallback instanceof FnPinnerError
      ? fallback.code
      : 'TLS';
  return new FnPinnerError(
    code,
    `${prefix}failed with the custom CA (${detail(custom)}) and with the default trust store (${detail(fallback)})`,
    { cause: fallback },
  );
}
