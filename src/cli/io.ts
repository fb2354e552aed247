import type { Writable } from 'node:stream';

import { Option } from 'commander';
import type { Command } from 'commander';

import type { Setting } from '../config.js';
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

/** Registers settings as options; defaults are applied by config.ts (after the environment), not by commander. */
export function addSettings(cmd: Command, settings: Setting[]): void {
  for (const s of settings) {
    const option = new Option(
      s.flag,
      `${s.description} [env ${s.env}${s.default ? `, default ${s.default}` : ''}]`,
    );
    if (s.repeatable) option.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(option);
  }
}

/** One line naming the image and the reason, e.g. `fn-pinner: resolve x:1 failed: not found: GET …: 404 …`. */
export function failLine(image: string, err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).split('\n').join(' ');
  const prefix = `resolve ${image}: `;
  const detail = message.startsWith(prefix) ? message.slice(prefix.length) : message;
  const reason = err instanceof FnPinnerError ? `${reasonText[err.code]}: ` : '';
  return `${boundLine(`fn-pinner: resolve ${image} failed: ${reason}${detail}`)}\n`;
}
