import { FnPinnerError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { truncate } from '../util/text.js';
import type { HttpRequest, HttpResponse } from './transport/types.js';
import { header, redactUrl } from './transport/types.js';

/** Registry error codes from the distribution spec that map one-to-one onto ours. */
const SPEC_CODES: Record<string, ErrorCode> = {
  MANIFEST_UNKNOWN: 'MANIFEST_UNKNOWN',
  NAME_UNKNOWN: 'NAME_UNKNOWN',
  BLOB_UNKNOWN: 'BLOB_UNKNOWN',
  UNAUTHORIZED: 'UNAUTHORIZED',
  DENIED: 'DENIED',
  TOOMANYREQUESTS: 'TOO_MANY_REQUESTS',
};

/** Statuses worth another attempt: https://github.com/google/go-containerregistry/blob/main/pkg/v1/remote/options.go */
export const TEMPORARY_STATUSES: ReadonlySet<number> = new Set([408, 429, 499, 500, 502, 503, 504, 522]);

interface SpecError {
  code?: string;
  message?: string;
}

/** Error bodies are read only up to a cap, so a long one arrives cut: take what can still be read. */
function fromPartialJson(text: string): SpecError | undefined {
  const code = /"code"\s*:\s*"([A-Z_]{1,64})"/.exec(text)?.[1];
  if (code === undefined) return undefined;
  const message = /"message"\s*:\s*"((?:[^"\\]|\\.){0,200})/.exec(text)?.[1];
  return { code, message };
}

/** The first spec error, with its code and message as bounded strings (registries write what they like). */
function firstSpecError(body: Buffer): SpecError | undefined {
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fromPartialJson(text);
  }
  const errors = (parsed as { errors?: unknown } | null)?.errors;
  const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
  if (typeof first !== 'object' || first === null) return undefined;
  const { code, message } = first as { code?: unknown; message?: unknown };
  return {
    code: typeof code === 'string' ? truncate(code, 64) : undefined,
    message: typeof message === 'string' ? truncate(message, 200) : undefined,
  };
}

/** Own keys only: a registry's `"code": "constructor"` must not find Object.prototype. */
function specCode(first: SpecError | undefined): ErrorCode | undefined {
  const code = first?.code;
  return code !== undefined && Object.hasOwn(SPEC_CODES, code) ? SPEC_CODES[code] : undefined;
}

function codeFor(status: number, first: SpecError | undefined, notFound: ErrorCode): ErrorCode {
  const fromSpec = specCode(first);
  if (fromSpec) return fromSpec;
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 404) return notFound;
  if (status === 429) return 'TOO_MANY_REQUESTS';
  if (status >= 500 || status === 408) return 'UNAVAILABLE';
  return 'REGISTRY_ERROR';
}

/** Seconds or an HTTP date, per RFC 9110; undefined when absent or unparsable. */
export function retryAfterMs(res: HttpResponse, now: number): number | undefined {
  const value = header(res, 'retry-after');
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class RegistryHttpError extends FnPinnerError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly response: HttpResponse,
    temporary: boolean,
  ) {
    super(code, message, { status: response.status, temporary });
  }
}

/** Builds the typed error for a non-2xx response, e.g. `resolve x: GET https://r/v2/a/manifests/1: 404 MANIFEST_UNKNOWN: manifest unknown`. */
export function responseError(
  req: Pick<HttpRequest, 'method' | 'url' | 'what'>,
  res: HttpResponse,
  notFound: ErrorCode,
): RegistryHttpError {
  const first = firstSpecError(res.body);
  const code = codeFor(res.status, first, notFound);
  const detail = first ? `${first.code ?? ''}${first.message ? `: ${first.message}` : ''}` : '';
  const message = `${req.what}: ${req.method} ${redactUrl(req.url)}: ${res.status}${detail ? ` ${detail}` : ''}`;
  return new RegistryHttpError(code, message, res, TEMPORARY_STATUSES.has(res.status));
}
