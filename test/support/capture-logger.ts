import { createLogger } from '../../src/logging.js';
import type { Logger } from '../../src/logging.js';
import { captured } from './leak-scan.js';

export interface LogLine {
  level: string;
  msg: string;
  err?: { message: string };
  [field: string]: unknown;
}

/** The project's real logger (redaction and all) writing parsed lines into an array, for assertions. */
export function captureLogger(level = 'debug'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger({ level }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  captured('captureLogger lines', () => lines);
  return { log, lines };
}
