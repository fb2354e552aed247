import { rootCertificates } from 'node:tls';
import * as tls from 'node:tls';

import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';

import { FnPinnerError } from '../errors.js';
import type { RegistryOptions } from './options.js';

/** Which trust store a connection uses: the system roots plus the custom CA, or Node's default store alone. */
export type Trust = 'custom' | 'default';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  trust: Trust;
  signal: AbortSignal;
  maxBytes: number;
  /** Names the image and operation in error messages. */
  what: string;
}

/**
 * Node 22.15+ can list the default store including NODE_EXTRA_CA_CERTS and the OS store; Node 20 only exposes
 * the bundled Mozilla roots. Either way we add the custom CA to these rather than replacing them.
 */
function systemRoots(): string[] {
  const get = (tls as unknown as { getCACertificates?: (kind: string) => string[] }).getCACertificates;
  return typeof get === 'function' ? get('default') : [...rootCertificates];
}

/** Node's certificate-verification failures: only these justify retrying with another trust store. */
const CERT_ERROR_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isCertificateError(err: unknown): boolean {
  const code = errorCode(err instanceof FnPinnerError ? err.cause : err);
  return code !== undefined && CERT_ERROR_CODES.has(code);
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

function transportError(err: unknown, req: HttpRequest, timeoutMs: number): FnPinnerError {
  const code = errorCode(err);
  const at = `${req.what}: ${req.method} ${redactUrl(req.url)}`;
  if (req.signal.aborted || (err as Error).name === 'AbortError' || (code && TIMEOUT_CODES.has(code))) {
    const deadline = req.signal.aborted;
    return new FnPinnerError(
      'TIMEOUT',
      `${at}: ${deadline ? 'deadline exceeded' : `no response within ${timeoutMs} ms`}`,
      { cause: err, temporary: !deadline },
    );
  }
  if (code && CERT_ERROR_CODES.has(code)) {
    return new FnPinnerError('TLS', `${at}: certificate verification failed (${code})`, { cause: err });
  }
  const detail = code ?? (err as Error).message;
  return new FnPinnerError('NETWORK', `${at}: ${detail}`, { cause: err, temporary: true });
}

/** Drops query strings: redirect targets often carry signed URLs or tokens. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : `${url.slice(0, q)}?…`;
}

async function readCapped(body: Dispatcher.ResponseData['body'], req: HttpRequest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > req.maxBytes) {
      body.destroy();
      throw new FnPinnerError(
        'TOO_LARGE',
        `${req.what}: ${req.method} ${redactUrl(req.url)}: response larger than ${req.maxBytes} bytes`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * One undici Agent per trust setup, built once and reused so keep-alive connections survive between
 * resolutions. Plain HTTP is only ever used for registries listed as insecure.
 */
export class Transport {
  private readonly customAgent: Agent | undefined;
  private readonly defaultAgent: Agent;
  private readonly insecure: Set<string>;

  constructor(private readonly options: RegistryOptions) {
    const base = {
      keepAliveTimeout: 30_000,
      connections: 32,
      connect: { timeout: options.connectTimeoutMs, minVersion: 'TLSv1.2' as const },
    };
    this.defaultAgent = new Agent(base);
    this.customAgent = options.caPem
      ? new Agent({ ...base, connect: { ...base.connect, ca: [...systemRoots(), options.caPem] } })
      : undefined;
    this.insecure = new Set(options.insecureRegistries.map((h) => h.toLowerCase()));
  }

  get hasCustomCa(): boolean {
    return this.customAgent !== undefined;
  }

  /** `https://host` unless the host was explicitly configured as insecure. */
  origin(host: string): string {
    return `${this.insecure.has(host.toLowerCase()) ? 'http' : 'https'}://${host}`;
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
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
      throw transportError(err, req, timeoutMs);
    }
    const lengthHeader = Number(res.headers['content-length'] ?? 0);
    if (req.method !== 'HEAD' && lengthHeader > req.maxBytes) {
      res.body.destroy();
      throw new FnPinnerError(
        'TOO_LARGE',
        `${req.what}: ${req.method} ${redactUrl(req.url)}: Content-Length ${lengthHeader} exceeds ${req.maxBytes} bytes`,
      );
    }
    try {
      const body =
        req.method === 'HEAD' ? (await res.body.dump(), Buffer.alloc(0)) : await readCapped(res.body, req);
      return { status: res.statusCode, headers: res.headers, body };
    } catch (err) {
      if (err instanceof FnPinnerError) throw err;
      throw transportError(err, req, timeoutMs);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.defaultAgent.close(), this.customAgent?.close()]);
  }
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
