import { z } from 'zod';
import type { ZodType } from 'zod';

import { parsePlatform } from '../reference/platform.js';
import { normalizeRegistryHost } from '../reference/host.js';
import { RegistryPrefixes } from '../reference/prefixes.js';
import { parseAccessPattern } from '../registry/transport/policy.js';

/**
 * zod schemas for setting values. A raw value is what the flag, the environment variable or the default
 * gave: a string, a list of strings (repeatable settings, already split), or `true` for a bare boolean flag.
 * Messages say what was wanted and quote what was given, so a problem line is enough to fix it.
 */
export type RawValue = string | string[] | boolean | undefined;

const quote = (v: unknown): string => JSON.stringify(v);

/** A number of the given shape; `scale` converts units (seconds → milliseconds). */
export function number(opts: {
  min: number;
  max?: number;
  integer?: boolean;
  scale?: number;
}): ZodType<number, string> {
  const want = `${opts.integer ? 'an integer' : 'a number'} ≥ ${opts.min}${opts.max === undefined ? '' : ` and ≤ ${opts.max}`}`;
  return z.string().transform((text, ctx) => {
    const n = Number(text);
    const ok =
      text.trim() !== '' &&
      Number.isFinite(n) &&
      n >= opts.min &&
      (opts.max === undefined || n <= opts.max) &&
      (!opts.integer || Number.isInteger(n));
    if (!ok) {
      ctx.addIssue({ code: 'custom', message: `want ${want}, got ${quote(text)}` });
      return z.NEVER;
    }
    return n * (opts.scale ?? 1);
  });
}

export const seconds = (min: number): ZodType<number, string> => number({ min, scale: 1000 });

export const text = z.string();

export const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

export const bool = z.union([z.boolean(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'boolean') return value;
  const lower = value.toLowerCase();
  if (['true', '1', 'yes'].includes(lower)) return true;
  if (['false', '0', 'no'].includes(lower)) return false;
  ctx.addIssue({ code: 'custom', message: `want true or false, got ${quote(value)}` });
  return z.NEVER;
});

export function oneOf<const T extends readonly [string, ...string[]]>(values: T): ZodType<T[number], string> {
  return z.string().transform((value, ctx) => {
    if ((values as readonly string[]).includes(value)) return value;
    ctx.addIssue({ code: 'custom', message: `want one of ${values.join(', ')}, got ${quote(value)}` });
    return z.NEVER;
  });
}

/** Repeatable settings arrive as lists; each item is trimmed and empty ones dropped. */
export function list<T>(item: (value: string) => T, what: string): ZodType<T[], string[]> {
  return z.array(z.string()).transform((values, ctx) => {
    const out: T[] = [];
    for (const raw of values.map((v) => v.trim()).filter(Boolean)) {
      try {
        out.push(item(raw));
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `${quote(raw)} is not ${what}: ${(err as Error).message}` });
      }
    }
    return out;
  });
}

export const strings = list((v) => v, 'text');

const HOST_PORT = /^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i;

export const hostPorts = list((v) => {
  if (!HOST_PORT.test(v)) throw new Error('want HOST[:PORT]');
  return normalizeRegistryHost(v);
}, 'a registry host');

/** Access-policy patterns (`host`, `host:port`, `*.domain`, IP, CIDR), each checked here. */
export const accessPatterns = list((v) => {
  parseAccessPattern(v);
  return v.toLowerCase();
}, 'an access pattern');

export const prefixes = z.array(z.string()).transform((values, ctx) => {
  try {
    return RegistryPrefixes.parse(values.map((v) => v.trim()).filter(Boolean));
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

export const platform = z.string().transform((value, ctx) => {
  try {
    return parsePlatform(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

export const jsonStringArray = z.string().transform((value, ctx) => {
  try {
    const parsed: unknown = JSON.parse(value);
    if (Array.isArray(parsed) && parsed.every((p) => typeof p === 'string')) return parsed;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: `want a JSON array of strings, got ${quote(value)}` });
  return z.NEVER;
});

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
