import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Where credentials could appear in what we log; pino replaces them with "[Redacted]". Exact paths only:
 * wildcard paths (`*.password`) cost ~20 µs per log line on the admission hot path, exact ones ~0.2 µs
 * (docs/benchmarks.md). Code never logs credential objects anyway (Credential serialises without its
 * secrets); this is the safety net for the shapes we do log: errors, requests, credentials, Secrets.
 */
export const REDACT_PATHS = [
  'password',
  'auth',
  'token',
  'authorization',
  'identitytoken',
  'identityToken',
  'registryToken',
  'headers.authorization',
  'req.headers.authorization',
  'request.headers.authorization',
  'err.headers.authorization',
  'credential.password',
  'credential.identityToken',
  'credential.registryToken',
  'data',
  'secret.data',
  '["dockerconfigjson"]',
  '[".dockerconfigjson"]',
];

export interface LoggingOptions {
  level: string;
}

/** The one root logger; everything else gets `logger.child({...})`. No transports: pipe to pino-pretty in dev. */
export function createLogger(options: LoggingOptions, destination?: DestinationStream): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
