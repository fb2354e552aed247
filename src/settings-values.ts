import * as fs from 'node:fs';

import { FnPinnerError } from './errors.js';
import type { RawOptions, Setting } from './settings.js';

/**
 * Typed reads of settings for src/config.ts: the flag's value, else the environment variable's, else the
 * default. Pure functions over the options and environment config.ts hands in (never process.env).
 */
export type Ctx = { settings: Setting[]; opts: RawOptions; env: NodeJS.ProcessEnv; problems: Problems };

export class Problems {
  readonly list: string[] = [];
  add(setting: Setting, why: string): void {
    this.list.push(`${setting.flag.split(' ')[0]} (${setting.env}): ${why}`);
  }
  throwIfAny(): void {
    if (this.list.length === 0) return;
    throw new FnPinnerError(
      'BAD_CONFIG',
      `load configuration: ${this.list.length} problem(s):\n  - ${this.list.join('\n  - ')}`,
    );
  }
}

/** Flag value, else environment value, else the default. */
export function raw(
  setting: Setting,
  opts: RawOptions,
  env: NodeJS.ProcessEnv,
): string | string[] | boolean | undefined {
  const fromFlag = opts[setting.key];
  if (fromFlag !== undefined && !(Array.isArray(fromFlag) && fromFlag.length === 0)) return fromFlag;
  const fromEnv = env[setting.env];
  if (fromEnv !== undefined && fromEnv !== '') {
    return setting.repeatable
      ? fromEnv
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : fromEnv;
  }
  if (setting.default === undefined) return undefined;
  return setting.repeatable ? setting.default.split(',') : setting.default;
}

export function bySetting(settings: Setting[], key: string): Setting {
  const s = settings.find((x) => x.key === key);
  if (!s) throw new FnPinnerError('INTERNAL', `load configuration: unknown setting ${key}`);
  return s;
}

export function numberOf(
  ctx: { settings: Setting[]; opts: RawOptions; env: NodeJS.ProcessEnv; problems: Problems },
  key: string,
  check: { min: number; integer?: boolean },
): number {
  const setting = bySetting(ctx.settings, key);
  const value = raw(setting, ctx.opts, ctx.env);
  const n = Number(value);
  if (
    typeof value !== 'string' ||
    value.trim() === '' ||
    !Number.isFinite(n) ||
    n < check.min ||
    (check.integer && !Number.isInteger(n))
  ) {
    ctx.problems.add(
      setting,
      `want ${check.integer ? 'an integer' : 'a number'} ≥ ${check.min}, got ${JSON.stringify(value)}`,
    );
    return check.min;
  }
  return n;
}

export function listOf(
  ctx: { settings: Setting[]; opts: RawOptions; env: NodeJS.ProcessEnv },
  key: string,
): string[] {
  const value = raw(bySetting(ctx.settings, key), ctx.opts, ctx.env);
  if (value === undefined || typeof value === 'boolean') return [];
  return (Array.isArray(value) ? value : [value])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

export function readFileSetting(
  setting: Setting,
  file: string | undefined,
  problems: Problems,
): string | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    problems.add(
      setting,
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
    return undefined;
  }
}

export function boolOf(ctx: Ctx, key: string): boolean {
  const setting = bySetting(ctx.settings, key);
  const value = raw(setting, ctx.opts, ctx.env);
  if (typeof value === 'boolean') return value;
  const text = String(value).toLowerCase();
  if (['true', '1', 'yes'].includes(text)) return true;
  if (['false', '0', 'no', 'undefined'].includes(text)) return false;
  ctx.problems.add(setting, `want true or false, got ${JSON.stringify(value)}`);
  return false;
}

export function stringOf(ctx: Ctx, key: string): string {
  const value = raw(bySetting(ctx.settings, key), ctx.opts, ctx.env);
  return typeof value === 'string' ? value : '';
}
