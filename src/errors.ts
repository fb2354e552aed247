/**
 * One error type for the whole project. `code` is stable (tests, metrics labels, CLI exit reasons and
 * admission messages switch on it); the message starts with the operation that failed and names the subject.
 */
export type ErrorCode =
  // image references and configuration
  | 'BAD_REFERENCE'
  | 'BAD_CONFIG'
  | 'BAD_DOCKER_CONFIG'
  // registry protocol
  | 'MANIFEST_UNKNOWN'
  | 'NAME_UNKNOWN'
  | 'BLOB_UNKNOWN'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'TOO_MANY_REQUESTS'
  | 'UNAVAILABLE'
  | 'REGISTRY_ERROR'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BAD_MANIFEST'
  | 'PLATFORM_NOT_FOUND'
  | 'DIGEST_MISMATCH'
  | 'TOO_LARGE'
  | 'INDEX_TOO_LARGE'
  | 'COMMAND_TOO_LARGE'
  | 'REALM_NOT_TRUSTED'
  // limits on one review
  | 'TOO_MANY_IMAGES'
  | 'REQUEST_BUDGET_EXCEEDED'
  // transport
  | 'NOT_ALLOWED'
  | 'TLS'
  | 'TIMEOUT'
  | 'NETWORK'
  // images and admission
  | 'NO_COMMAND'
  | 'SECRET_UNAVAILABLE'
  | 'KUBE_API'
  | 'BAD_REQUEST'
  | 'NOT_ADMITTED'
  // serving
  | 'LISTEN'
  | 'INTERNAL';

export interface FnPinnerErrorOptions {
  cause?: unknown;
  /** True when trying again later may succeed (5xx, resets, 429, timeouts). Drives retries. */
  temporary?: boolean;
  /** HTTP status that produced the error, when there was one. */
  status?: number;
}

export class FnPinnerError extends Error {
  override readonly name = 'FnPinnerError';
  readonly code: ErrorCode;
  readonly temporary: boolean;
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options: FnPinnerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.temporary = options.temporary ?? false;
    this.status = options.status;
  }
}

export function isFnPinnerError(err: unknown, code?: ErrorCode): err is FnPinnerError {
  return err instanceof FnPinnerError && (code === undefined || err.code === code);
}

/** A short, human phrase for each code: used in one-line CLI errors and admission denials. */
export const reasonText: Record<ErrorCode, string> = {
  BAD_REFERENCE: 'bad image reference',
  BAD_CONFIG: 'invalid configuration',
  BAD_DOCKER_CONFIG: 'invalid Docker config',
  MANIFEST_UNKNOWN: 'not found',
  NAME_UNKNOWN: 'repository not found',
  BLOB_UNKNOWN: 'blob not found',
  UNAUTHORIZED: 'unauthorized',
  DENIED: 'access denied',
  TOO_MANY_REQUESTS: 'rate limited',
  UNAVAILABLE: 'registry unavailable',
  REGISTRY_ERROR: 'registry error',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported manifest type',
  BAD_MANIFEST: 'invalid manifest',
  PLATFORM_NOT_FOUND: 'platform not found',
  DIGEST_MISMATCH: 'digest mismatch',
  TOO_LARGE: 'response too large',
  INDEX_TOO_LARGE: 'image index too large',
  COMMAND_TOO_LARGE: 'image command too large',
  REALM_NOT_TRUSTED: 'token realm not trusted',
  TOO_MANY_IMAGES: 'too many images',
  REQUEST_BUDGET_EXCEEDED: 'registry request budget exceeded',
  NOT_ALLOWED: 'registry not allowed',
  TLS: 'certificate error',
  TIMEOUT: 'timeout',
  NETWORK: 'network error',
  NO_COMMAND: 'image has no command',
  SECRET_UNAVAILABLE: 'pull secret unavailable',
  KUBE_API: 'Kubernetes API error',
  BAD_REQUEST: 'bad request',
  NOT_ADMITTED: 'pod not admitted',
  LISTEN: 'cannot listen',
  INTERNAL: 'internal error',
};

/** Wraps anything thrown into an FnPinnerError, keeping the original as `cause`. */
export function toFnPinnerError(err: unknown, fallbackMessage: string): FnPinnerError {
  if (err instanceof FnPinnerError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new FnPinnerError('INTERNAL', `${fallbackMessage}: ${detail}`, { cause: err });
}
