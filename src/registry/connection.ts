import { setTimeout as sleep } from 'node:timers/promises';

import { FnPinnerError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { RegistryOptions } from './options.js';
import { TEMPORARY_STATUSES, retryAfterMs } from './errors.js';
import type { HttpRequest, HttpResponse, Transport, Trust } from './transport.js';
import { isCertificateError, redactUrl } from './transport.js';

export type RequestSpec = Omit<HttpRequest, 'trust'> & { kind: string };

/**
 * Sends requests for the registry client: picks the trust store per host (custom CA first, the default store
 * only after a certificate-verification failure), counts every request, and retries temporary failures
 * within the caller's deadline.
 */
export class Connection {
  private readonly trustByHost = new Map<string, Trust>();

  constructor(
    private readonly transport: Transport,
    private readonly options: RegistryOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** Sends with retries: 5xx, 408, 429 (honouring Retry-After) and connection failures, never past `deadline`. */
  async send(spec: RequestSpec, deadline: number): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse | undefined;
      try {
        res = await this.sendWithTrust(spec);
      } catch (err) {
        if (!(err instanceof FnPinnerError) || !err.temporary || attempt >= this.options.maxAttempts)
          throw err;
        await this.backoff(spec, { attempt, deadline }, { err });
        continue;
      }
      if (!TEMPORARY_STATUSES.has(res.status) || attempt >= this.options.maxAttempts) return res;
      await this.backoff(spec, { attempt, deadline }, { res });
    }
  }

  private async backoff(
    spec: RequestSpec,
    { attempt, deadline }: { attempt: number; deadline: number },
    failure: { res?: HttpResponse; err?: FnPinnerError },
  ): Promise<void> {
    const now = Date.now();
    const hinted = failure.res ? retryAfterMs(failure.res, now) : undefined;
    const wait = hinted ?? this.options.retryBaseDelayMs * (2 ** (attempt - 1) + Math.random());
    if (now + wait >= deadline) throw pastDeadline(spec, wait, failure);
    this.log.debug(
      { url: redactUrl(spec.url), attempt, waitMs: Math.round(wait), status: failure.res?.status },
      'registry retry',
    );
    await sleep(wait, undefined, { signal: spec.signal }).catch(() => undefined);
  }

  private async sendWithTrust(spec: RequestSpec): Promise<HttpResponse> {
    const host = new URL(spec.url).host;
    const isHttps = spec.url.startsWith('https:');
    const trust = this.trustByHost.get(host) ?? (this.transport.hasCustomCa ? 'custom' : 'default');
    try {
      return await this.count(spec, trust);
    } catch (first) {
      if (!isHttps || trust !== 'custom' || !isCertificateError(first)) throw first;
      this.log.warn(
        { host, error: (first as Error).message },
        'registry certificate not trusted with the custom CA; retrying with the default trust store',
      );
      try {
        const res = await this.count(spec, 'default');
        this.trustByHost.set(host, 'default');
        return res;
      } catch (second) {
        throw bothFailed(spec, first, second);
      }
    }
  }

  private async count(spec: RequestSpec, trust: Trust): Promise<HttpResponse> {
    const host = new URL(spec.url).host;
    try {
      const res = await this.transport.send({ ...spec, trust });
      this.metrics.registryRequests.inc({
        host,
        kind: spec.kind,
        method: spec.method,
        status: String(res.status),
      });
      return res;
    } catch (err) {
      const status = err instanceof FnPinnerError ? err.code : 'ERROR';
      this.metrics.registryRequests.inc({ host, kind: spec.kind, method: spec.method, status });
      throw err;
    }
  }
}

function pastDeadline(
  spec: RequestSpec,
  wait: number,
  { res, err }: { res?: HttpResponse; err?: FnPinnerError },
): FnPinnerError {
  const why = res ? `${res.status}` : (err?.message ?? 'error');
  const code = res?.status === 429 ? 'TOO_MANY_REQUESTS' : (err?.code ?? 'UNAVAILABLE');
  return new FnPinnerError(
    code,
    `${spec.what}: ${spec.method} ${redactUrl(spec.url)}: ${why}; retrying after ${Math.round(wait)} ms would pass the deadline`,
    { cause: err, status: res?.status, temporary: true },
  );
}

function bothFailed(spec: RequestSpec, first: unknown, second: unknown): FnPinnerError {
  const prefix = `${spec.what}: ${spec.method} ${redactUrl(spec.url)}: `;
  const detail = (e: unknown): string => {
    const m = e instanceof Error ? e.message : String(e);
    return m.startsWith(prefix) ? m.slice(prefix.length) : m;
  };
  const a = detail(first);
  const b = detail(second);
  const code = isCertificateError(second) ? 'TLS' : second instanceof FnPinnerError ? second.code : 'TLS';
  return new FnPinnerError(
    code,
    `${spec.what}: ${spec.method} ${redactUrl(spec.url)}: failed with the custom CA (${a}) and with the default trust store (${b})`,
    { cause: second },
  );
}
