import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths that may carry credentials; pino replaces them with "[Redacted]" wherever they appear. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'auth',
  '*.auth',
  'token',
  '*.token',
  'identitytoken',
  '*.identitytoken',
  '*.identityToken',
  '*.registryToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  '*.dockerconfigjson',
  '*[".dockerconfigjson"]',
  'data',
  '*.data',
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
