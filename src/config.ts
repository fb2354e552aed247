import * as fs from 'node:fs';
import * as path from 'node:path';

import { FnPinnerError } from './errors.js';
import type { LoggingOptions } from './logging.js';
import {
  DEFAULT_CACHE_OPTIONS,
  DEFAULT_REGISTRY_OPTIONS,
  DEFAULT_REGISTRY_PREFIXES,
  DEFAULT_RESOLVER_OPTIONS,
} from './options.js';
import type { CacheOptions, RegistryOptions, ResolverOptions } from './options.js';
import { parsePlatform } from './reference/platform.js';
import type { KeychainEnv } from './registry/auth/keychain.js';

/**
 * The only module that reads flags and the environment. Every setting has a flag and an environment
 * variable (the flag wins); all problems are reported at once.
 */
export interface Config {
  logging: LoggingOptions;
  registry: RegistryOptions;
  cache: CacheOptions;
  resolver: ResolverOptions;
  auth: AuthConfig;
}

export interface AuthConfig {
  enablePrivateRegistries: boolean;
  /** The mounted Docker config used for custom registries (Porch: --registry-auth-secret-path). */
  registryAuthSecretPath: string;
  defaultRegistries: string[];
  keychainEnv: KeychainEnv;
}

/** Raw option values as commander hands them over (strings, booleans, repeated strings). */
export type RawOptions = Record<string, string | boolean | string[] | undefined>;

export interface Setting {
  /** commander's camel-cased option name. */
  key: string;
  flag: string;
  env: string;
  description: string;
  default?: string;
  repeatable?: boolean;
  boolean?: boolean;
}

/** Settings shared by `resolve`, `mutate` and `serve`. Porch's flag names are kept where Porch has one. */
export const REGISTRY_SETTINGS: Setting[] = [
  {
    key: 'platform',
    flag: '--platform <os/arch[/variant]>',
    env: 'FN_PINNER_PLATFORM',
    description: 'platform whose Entrypoint/Cmd is used for multi-platform images',
    default: 'linux/amd64',
  },
  {
    key: 'insecureRegistry',
    flag: '--insecure-registry <host[:port]>',
    env: 'FN_PINNER_INSECURE_REGISTRIES',
    description: 'registry reached over plain HTTP (repeatable; env: comma-separated)',
    repeatable: true,
  },
  {
    key: 'defaultRegistry',
    flag: '--default-registry <prefix>',
    env: 'FN_PINNER_DEFAULT_REGISTRIES',
    description: 'image prefix that uses the default keychain, not the custom auth (repeatable)',
    default: DEFAULT_REGISTRY_PREFIXES.join(','),
    repeatable: true,
  },
  {
    key: 'cacheMaxImages',
    flag: '--cache-max-images <n>',
    env: 'FN_PINNER_CACHE_MAX_IMAGES',
    description: 'bound on digest-keyed cache entries (LRU)',
    default: String(DEFAULT_CACHE_OPTIONS.maxImages),
  },
  {
    key: 'tagTtl',
    flag: '--tag-ttl <seconds>',
    env: 'FN_PINNER_TAG_TTL',
    description: 'how long a tag → digest mapping is trusted before a HEAD revalidates it; 0 = forever',
    default: String(DEFAULT_CACHE_OPTIONS.tagTtlMs / 1000),
  },
  {
    key: 'resolveTimeout',
    flag: '--resolve-timeout <seconds>',
    env: 'FN_PINNER_RESOLVE_TIMEOUT',
    description: 'overall deadline for resolving one image, retries included',
    default: String(DEFAULT_RESOLVER_OPTIONS.deadlineMs / 1000),
  },
  {
    key: 'requestTimeout',
    flag: '--request-timeout <seconds>',
    env: 'FN_PINNER_REQUEST_TIMEOUT',
    description: 'timeout for one registry HTTP call',
    default: String(DEFAULT_REGISTRY_OPTIONS.requestTimeoutMs / 1000),
  },
  {
    key: 'logLevel',
    flag: '--log-level <level>',
    env: 'LOG_LEVEL',
    description: 'pino log level (fatal, error, warn, info, debug, trace, silent)',
    default: 'info',
  },
];

/** `resolve`'s own flags: --docker-config plays the part of the mounted custom auth file. */
export const RESOLVE_SETTINGS: Setting[] = [
  {
    key: 'dockerConfig',
    flag: '--docker-config <file>',
    env: 'FN_PINNER_DOCKER_CONFIG',
    description: 'Docker config JSON used for custom (non-default) registries',
  },
  {
    key: 'caFile',
    flag: '--ca-file <file>',
    env: 'FN_PINNER_CA_FILE',
    description: 'PEM CA bundle added to the system roots for registry TLS',
  },
];

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

class Problems {
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
function raw(
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

function bySetting(settings: Setting[], key: string): Setting {
  const s = settings.find((x) => x.key === key);
  if (!s) throw new FnPinnerError('INTERNAL', `load configuration: unknown setting ${key}`);
  return s;
}

function numberOf(
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

function listOf(
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

function readFileSetting(setting: Setting, file: string | undefined, problems: Problems): string | undefined {
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

function keychainEnv(env: NodeJS.ProcessEnv): KeychainEnv {
  return {
    DOCKER_CONFIG: env.DOCKER_CONFIG,
    REGISTRY_AUTH_FILE: env.REGISTRY_AUTH_FILE,
    HOME: env.HOME,
    XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR,
  };
}

/** Builds the configuration for `fn-pinner resolve`. */
export function loadResolveConfig(opts: RawOptions, env: NodeJS.ProcessEnv): Config {
  const settings = [...REGISTRY_SETTINGS, ...RESOLVE_SETTINGS];
  const problems = new Problems();
  const ctx = { settings, opts, env, problems };
  const base = loadRegistryConfig(ctx);
  const caSetting = bySetting(settings, 'caFile');
  const caFile = raw(caSetting, opts, env) as string | undefined;
  const caPem = readFileSetting(caSetting, caFile, problems);
  if (caPem !== undefined && !caPem.includes('-----BEGIN CERTIFICATE-----')) {
    problems.add(caSetting, `${caFile} holds no PEM certificate`);
  }
  const dockerConfig = raw(bySetting(settings, 'dockerConfig'), opts, env) as string | undefined;
  problems.throwIfAny();
  return {
    ...base,
    registry: { ...base.registry, ...(caPem ? { caPem, caSource: caFile } : {}) },
    auth: {
      ...base.auth,
      enablePrivateRegistries: dockerConfig !== undefined,
      registryAuthSecretPath: dockerConfig ? path.resolve(dockerConfig) : '',
    },
  };
}

function loadRegistryConfig(ctx: {
  settings: Setting[];
  opts: RawOptions;
  env: NodeJS.ProcessEnv;
  problems: Problems;
}): Config {
  const { settings, opts, env, problems } = ctx;
  const platformSetting = bySetting(settings, 'platform');
  let platform = DEFAULT_RESOLVER_OPTIONS.platform;
  try {
    platform = parsePlatform(String(raw(platformSetting, opts, env)));
  } catch (err) {
    problems.add(platformSetting, (err as Error).message);
  }
  const level = String(raw(bySetting(settings, 'logLevel'), opts, env));
  if (!LOG_LEVELS.has(level))
    problems.add(bySetting(settings, 'logLevel'), `unknown level ${JSON.stringify(level)}`);
  const insecure = listOf(ctx, 'insecureRegistry');
  for (const host of insecure) {
    if (!/^[a-z0-9.-]+(:\d+)?$|^\[[0-9a-f:]+\](:\d+)?$/i.test(host)) {
      problems.add(bySetting(settings, 'insecureRegistry'), `${JSON.stringify(host)} is not HOST[:PORT]`);
    }
  }
  return {
    logging: { level },
    registry: {
      ...DEFAULT_REGISTRY_OPTIONS,
      insecureRegistries: insecure,
      requestTimeoutMs: numberOf(ctx, 'requestTimeout', { min: 0.001 }) * 1000,
    },
    cache: {
      maxImages: numberOf(ctx, 'cacheMaxImages', { min: 1, integer: true }),
      tagTtlMs: numberOf(ctx, 'tagTtl', { min: 0 }) * 1000,
    },
    resolver: { platform, deadlineMs: numberOf(ctx, 'resolveTimeout', { min: 0.001 }) * 1000 },
    auth: {
      enablePrivateRegistries: false,
      registryAuthSecretPath: '',
      defaultRegistries: listOf(ctx, 'defaultRegistry'),
      keychainEnv: keychainEnv(env),
    },
  };
}
