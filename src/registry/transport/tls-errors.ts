import { FnPinnerError } from '../../errors.js';
import { truncate } from '../../util/text.js';
import type { HttpRequest } from './types.js';
import { redactUrl } from './types.js';

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

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

export function errorCode(err: unknown): string | undefined {
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

/** Maps what undici threw to TIMEOUT, TLS or NETWORK, naming the request (never its query string). */
export function transportError(err: unknown, req: HttpRequest, timeoutMs: number): FnPinnerError {
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
  const detail = code ?? truncate((err as Error).message, 200);
  return new FnPinnerError('NETWORK', `${at}: ${detail}`, { cause: err, temporary: true });
}
