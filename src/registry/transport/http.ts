import { rootCertificates } from 'node:tls';
import * as tls from 'node:tls';

import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';

import { FnPinnerError } from '../../errors.js';
import type { RegistryOptions } from '../options.js';
import { unbracket } from '../../reference/host.js';
import { Semaphore } from '../../util/semaphore.js';
import { guardedConnector } from './dialer.js';
import type { AccessPolicy } from './policy.js';
import { policyError } from './policy.js';
import { transportError } from './tls-errors.js';
import type { HttpRequest, HttpResponse, RoundTripper } from './types.js';
import { portOf, redactUrl } from './types.js';

/**
 * Node 22.15+ can list the default store including NODE_EXTRA_CA_CERTS and the OS store; Node 20 only exposes
 * the bundled Mozilla roots. Either way we add the custom CA to these rather than replacing them.
 */
function systemRoots(): string[] {
  const get = (tls as unknown as { getCACertificates?: (kind: string) => string[] }).getCACertificates;
  return typeof get === 'function' ? get('default') : [...rootCertificates];
}

type Body = Dispatcher.ResponseData['body'];

/** Reads at most `cap` bytes. `truncate`: keep the first `cap` bytes (error bodies); else TOO_LARGE. */
async function readCapped(body: Body, req: HttpRequest, cap: number, truncate: boolean): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (total + buf.length > cap) {
      body.destroy();
      if (truncate) return Buffer.concat([...chunks, buf.subarray(0, cap - total)]);
      throw tooLarge(req, `response larger than ${cap} bytes`);
    }
    total += buf.length;
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

function tooLarge(req: HttpRequest, why: string): FnPinnerError {
  return new FnPinnerError('TOO_LARGE', `${req.what}: ${req.method} ${redactUrl(req.url)}: ${why}`);
}

/** A policy refusal raised inside the dialer, if that is what failed. */
function policyFailure(err: unknown): FnPinnerError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    if (e instanceof FnPinnerError && e.code === 'NOT_ALLOWED') return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The bottom layer: undici Agents (one per trust setup, built once so keep-alive connections survive)
 * whose every connection goes through the access-policy dialer; a global bound on requests in flight;
 * timeouts; and body caps. Plain HTTP is only ever used for registries listed as insecure.
 */
export class HttpTransport implements RoundTripper {
  private readonly customAgent: Agent | undefined;
  private readonly defaultAgent: Agent;
  private readonly inFlight: Semaphore;

  constructor(
    private readonly options: RegistryOptions,
    private readonly policy: AccessPolicy,
  ) {
    const connect = { timeout: options.connectTimeoutMs, minVersion: 'TLSv1.2' as const };
    const agent = (extra: { ca?: string[] }): Agent =>
      new Agent({
        keepAliveTimeout: 30_000,
        connections: 32,
        connect: guardedConnector(policy, { ...connect, ...extra }),
      });
    this.defaultAgent = agent({});
    this.customAgent = options.caPem ? agent({ ca: [...systemRoots(), options.caPem] }) : undefined;
    this.inFlight = new Semaphore(options.maxConcurrentRequests);
  }

  get hasCustomCa(): boolean {
    return this.customAgent !== undefined;
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(req.url);
    const verdict = this.policy.checkName(unbracket(url.hostname), portOf(url));
    if (verdict.denied !== undefined) {
      throw policyError(`${req.what}: ${req.method} ${redactUrl(req.url)}`, url.host, verdict.denied);
    }
    const release = await this.inFlight.acquire(req.signal, req.what);
    try {
      return await this.roundTrip(req);
    } finally {
      release();
    }
  }

  private async roundTrip(req: HttpRequest): Promise<HttpResponse> {
    const dispatcher = req.trust === 'custom' && this.customAgent ? this.customAgent : this.defaultAgent;
    const timeoutMs = this.options.requestTimeoutMs;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(req.url, {
        method: req.method,
        headers: { 'user-agent': this.options.userAgent, ...req.headers },
        body: req.body,
        dispatcher,
        signal: req.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (err) {
      throw policyFailure(err) ?? transportError(err, req, timeoutMs);
    }
    try {
      return { status: res.statusCode, headers: res.headers, body: await this.body(req, res) };
    } catch (err) {
      if (err instanceof FnPinnerError) throw err;
      throw transportError(err, req, timeoutMs);
    }
  }

  /** Success bodies up to the caller's cap (else TOO_LARGE); anything else only up to the error-body cap. */
  private async body(req: HttpRequest, res: Dispatcher.ResponseData): Promise<Buffer> {
    if (req.method === 'HEAD') {
      await res.body.dump();
      return Buffer.alloc(0);
    }
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    const cap = ok ? req.maxBytes : Math.min(req.maxBytes, this.options.maxErrorBodyBytes);
    const length = Number(res.headers['content-length'] ?? 0);
    if (ok && length > cap) {
      res.body.destroy();
      throw tooLarge(req, `Content-Length ${length} exceeds ${cap} bytes`);
    }
    return readCapped(res.body, req, cap, !ok);
  }

  async close(): Promise<void> {
    await Promise.all([this.defaultAgent.close(), this.customAgent?.close()]);
  }
}
