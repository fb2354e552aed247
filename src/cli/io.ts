import type { Writable } from 'node:stream';

import { FnPinnerError, reasonText } from '../errors.js';
import { boundLine } from '../util/text.js';

/** What commands touch of the process, injected so tests can run the CLI in-process. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
  stderrStream: Writable;
  exitCode: number;
}

/** One line naming the image and the reason, e.g. `fn-pinner: resolve x:1 failed: not found: GET …: 404 …`. */
export function failLine(image: string, err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).split('\n').join(' ');
  const prefix = `resolve ${image}: `;
  const detail = message.startsWith(prefix) ? message.slice(prefix.length) : message;
  const reason = err instanceof FnPinnerError ? `${reasonText[err.code]}: ` : '';
  return `${boundLine(`fn-pinner: resolve ${image} failed: ${reason}${detail}`)}\n`;
}

/** Every line of a (possibly multi-line) message, prefixed, so each stderr line names the command. */
export function prefixed(command: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `fn-pinner ${command}: ${message.split('\n').join(`\nfn-pinner ${command}: `)}\n`;
}
