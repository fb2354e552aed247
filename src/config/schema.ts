import * as z from 'zod/mini';

import { parsePlatform } from '../reference/platform.js';
import { normalizeRegistryHost } from '../reference/host.js';
import { RegistryPrefixes } from '../reference/prefixes.js';
import '../util/zod.js';
import { parseAccessPattern } from '../registry/transport/policy.js';

/**
 * zod schemas for setting values. A raw value is what the flag, the environment variable or the default
 * gave: a string, a list of strings (repeatable settings, already split), or `true` for a bare boolean flag.
 * Messages say what was wanted and quote what was given, so a problem line is enough to fix it.
 *
 * zod/mini rather than zod: the same schemas, but tree-shaken to a few kB in the bundle, which keeps
 * `fn-pinner resolve` starting fast (docs/benchmarks.md: CLI start-up).
 */
export type RawValue = string | string[] | boolean | undefined;
export type Schema<O, I> = z.ZodMiniType<O, I>;

const quote = (v: unknown): string => JSON.stringify(v);

/** A schema that checks `input`'s shape, then converts with `convert`, whose thrown message is the problem. */
function parsed<I, O>(input: Schema<I, I>, convert: (value: I) => O): Schema<O, I> {
  return z.pipe(
    input,
    z.transform((value: I, ctx) => {
      try {
        return convert(value);
      } catch (err) {
        ctx.issues.push({ code: 'custom', message: (err as Error).message, input: value });
        return z.NEVER;
      }
    }),
  );
}

/** A number of the given shape; `scale` converts units (seconds → milliseconds). */
export function number(opts: {
  min: number;
  max?: number;
  integer?: boolean;
  scale?: number;
}): Schema<number, string> {
  const want = `${opts.integer ? 'an integer' : 'a number'} ≥ ${opts.min}${opts.max === undefined ? '' : ` and ≤ ${opts.max}`}`;
  return parsed(z.string(), (text) => {
    const n = Number(text);
    const ok =
      text.trim() !== '' &&
      Number.isFinite(n) &&
      n >= opts.min &&
      (opts.max === undefined || n <= opts.max) &&
      (!opts.integer || Number.isInteger(n));
    if (!ok) throw new Error(`want ${want}, got ${quote(text)}`);
    return n * (opts.scale ?? 1);
  });
}

export const seconds = (min: number): Schema<number, string> => number({ min, scale: 1000 });

export const text = z.string();

export const optionalText = parsed(z.optional(z.string()), (v) => (v === '' ? undefined : v));

export const bool = parsed(z.union([z.boolean(), z.string()]), (value) => {
  if (typeof value === 'boolean') return value;
  const lower = value.toLowerCase();
  if (['true', '1', 'yes'].includes(lower)) return true;
  if (['false', '0', 'no'].includes(lower)) return false;
  throw new Error(`want true or false, got ${quote(value)}`);
});

export function oneOf<const T extends readonly [string, ...string[]]>(values: T): Schema<T[number], string> {
  return parsed(z.string(), (value): T[number] => {
    if ((values as readonly string[]).includes(value)) return value;
    throw new Error(`want one of ${values.join(', ')}, got ${quote(value)}`);
  });
}

/** Repeatable settings arrive as lists; each item is trimmed, empty ones dropped, and each bad one reported. */
export function list<T>(item: (value: string) => T, what: string): Schema<T[], string[]> {
  return z.pipe(
    z.array(z.string()),
    z.transform((values: string[], ctx) => {
      const out: T[] = [];
      for (const raw of values.map((v) => v.trim()).filter(Boolean)) {
        try {
          out.push(item(raw));
        } catch (err) {
          const message = `${quote(raw)} is not ${what}: ${(err as Error).message}`;
          ctx.issues.push({ code: 'custom', message, input: values });
        }
      }
      return out;
    }),
  );
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

export const prefixes = parsed(z.array(z.string()), (values) =>
  RegistryPrefixes.parse(values.map((v) => v.trim()).filter(Boolean)),
);

export const platform = parsed(z.string(), parsePlatform);

export const jsonStringArray = parsed(z.string(), (value) => {
  let parsedValue: unknown;
  try {
    parsedValue = JSON.parse(value);
  } catch {
    parsedValue = undefined;
  }
  if (Array.isArray(parsedValue) && parsedValue.every((p) => typeof p === 'string')) return parsedValue;
  throw new Error(`want a JSON array of strings, got ${quote(value)}`);
});

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
