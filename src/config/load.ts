import * as path from 'node:path';

import { FnPinnerError } from '../errors.js';
import { checkInputs } from './inputs.js';
import type { Inputs } from './inputs.js';
import { SETTINGS } from './settings.js';
import type { CommandName, Setting, SettingValues } from './settings.js';
import type { RawValue } from './schema.js';

/**
 * The only module that reads flags and the environment (with inputs.ts for the files they name). Every
 * setting has a flag and an environment variable (the flag wins); every problem is reported at once.
 */
export type RawOptions = Record<string, RawValue>;
export type Env = Readonly<Record<string, string | undefined>>;

export interface Config extends SettingValues {
  command: CommandName;
  /** What the settings point at, read and checked: the custom Docker config, the registry CA, the cluster. */
  inputs: Inputs;
}

/** commander's attribute name for a flag: `--tag-ttl <seconds>` → `tagTtl`. */
export function optionKey(setting: Pick<Setting, 'flag'>): string {
  const name = setting.flag.split(' ')[0] ?? '';
  return name.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function flagName(setting: Pick<Setting, 'flag'>): string {
  return setting.flag.split(' ')[0] ?? setting.flag;
}

const splitList = (text: string): string[] =>
  text
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

const given = (v: RawValue): boolean => v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0);

/** Flag value, else environment value, else the default; only the default for another command's settings. */
function rawValue(setting: Setting, command: CommandName, opts: RawOptions, env: Env): RawValue {
  const takes = setting.commands.includes(command);
  const fromFlag = takes ? opts[optionKey(setting)] : undefined;
  if (given(fromFlag)) return fromFlag;
  const fromEnv = takes ? env[setting.env] : undefined;
  const text = given(fromEnv) ? fromEnv : (setting.defaultFor?.[command] ?? setting.default);
  if (text === undefined) return undefined;
  return setting.repeatable ? splitList(text) : text;
}

export class Problems {
  readonly list: string[] = [];

  add(setting: Pick<Setting, 'flag' | 'env'>, why: string): void {
    this.list.push(`${flagName(setting)} (${setting.env}): ${why}`);
  }

  throwIfAny(): void {
    if (this.list.length === 0) return;
    throw new FnPinnerError(
      'BAD_CONFIG',
      `load configuration: ${this.list.length} problem(s):\n  - ${this.list.join('\n  - ')}`,
    );
  }
}

function parseSettings(command: CommandName, opts: RawOptions, env: Env, problems: Problems): SettingValues {
  const values: Record<string, Record<string, unknown>> = {};
  for (const setting of SETTINGS as readonly Setting[]) {
    const result = setting.schema.safeParse(rawValue(setting, command, opts, env));
    const [group, field] = setting.to;
    (values[group] ??= {})[field] = result.success ? result.data : undefined;
    if (!result.success) for (const issue of result.error.issues) problems.add(setting, issue.message);
  }
  return values as unknown as SettingValues;
}

/** Builds the configuration of one command; throws BAD_CONFIG listing every problem. */
export function loadConfig(command: CommandName, opts: RawOptions, env: Env): Config {
  const problems = new Problems();
  const values = parseSettings(command, opts, env, problems);
  // Run even when some values were invalid (those are undefined), so every problem is listed at once.
  const inputs = checkInputs(command, values, env, problems);
  problems.throwIfAny();
  if (command === 'serve' || command === 'gen-certs')
    values.server.certDir = path.resolve(values.server.certDir);
  return { ...values, command, inputs };
}

/** Each setting a command takes, for registering its options. */
export function settingsOf(command: CommandName): Setting[] {
  return (SETTINGS as readonly Setting[]).filter((s) => s.commands.includes(command));
}
