import * as fs from 'node:fs';
import * as path from 'node:path';

import type { LoggingOptions } from './logging.js';
import { DEFAULT_REGISTRY_OPTIONS, DEFAULT_RESOLVER_OPTIONS, DEFAULT_REVIEW_LIMITS } from './options.js';
import type { CacheOptions, RegistryOptions, ResolverOptions } from './options.js';
import { parsePlatform } from './reference/platform.js';
import { normalizeRegistryHost } from './reference/host.js';
import type { KeychainEnv } from './registry/auth/keychain.js';
import { normalizeImagePrefix } from './registry/auth/routing.js';
import { parseAccessPattern } from './registry/transport/policy.js';
import { assertPemCertificates } from './tls/pem.js';

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

import { ADMISSION_SETTINGS, REGISTRY_SETTINGS, RESOLVE_SETTINGS, SERVE_SETTINGS } from './settings.js';
import type { AdmissionOptions } from './admission/handler.js';
import type { RawOptions, Setting } from './settings.js';
import {
  Problems,
  boolOf,
  bySetting,
  listOf,
  numberOf,
  raw,
  readFileSetting,
  stringOf,
} from './settings-values.js';
import type { Ctx } from './settings-values.js';

export { ADMISSION_SETTINGS, REGISTRY_SETTINGS, RESOLVE_SETTINGS, SERVE_SETTINGS } from './settings.js';
export type { RawOptions, Setting } from './settings.js';

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Normalised once here (so the admission hot path compares strings), and a bad prefix is a config problem. */
function prefixesOf(ctx: Ctx): string[] {
  const setting = bySetting(ctx.settings, 'defaultRegistry');
  return listOf(ctx, 'defaultRegistry').flatMap((prefix) => {
    try {
      return [normalizeImagePrefix(prefix)];
    } catch (err) {
      ctx.problems.add(setting, (err as Error).message);
      return [];
    }
  });
}

/** Access-policy patterns, each checked here so a typo is a config problem, not a surprise later. */
function patternsOf(ctx: Ctx, key: string): string[] {
  const setting = bySetting(ctx.settings, key);
  return listOf(ctx, key).filter((pattern) => {
    try {
      parseAccessPattern(pattern);
      return true;
    } catch (err) {
      ctx.problems.add(setting, (err as Error).message);
      return false;
    }
  });
}

function hostsOf(ctx: Ctx, key: string): string[] {
  const hosts = listOf(ctx, key);
  for (const host of hosts) {
    if (!/^[a-z0-9.-]+(:\d+)?$|^\[[0-9a-f:]+\](:\d+)?$/i.test(host)) {
      ctx.problems.add(bySetting(ctx.settings, key), `${JSON.stringify(host)} is not HOST[:PORT]`);
    }
  }
  return hosts.map(normalizeRegistryHost);
}

/** A PEM bundle whose certificates all parse; anything else is a config problem. */
function checkPem(setting: Setting, pem: string, file: string, problems: Problems): boolean {
  try {
    assertPemCertificates(pem, file);
    return true;
  } catch (err) {
    problems.add(setting, (err as Error).message);
    return false;
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
  if (caPem !== undefined) checkPem(caSetting, caPem, caFile ?? '', problems);
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
  const insecure = hostsOf(ctx, 'insecureRegistry');
  const defaultRegistries = prefixesOf(ctx);
  return {
    logging: { level },
    registry: {
      ...DEFAULT_REGISTRY_OPTIONS,
      insecureRegistries: insecure,
      configuredRegistries: defaultRegistries.map((p) => p.slice(0, p.indexOf('/'))),
      registryAllow: patternsOf(ctx, 'registryAllow'),
      registryDeny: patternsOf(ctx, 'registryDeny'),
      tokenRealmAllow: hostsOf(ctx, 'tokenRealmAllow'),
      requestTimeoutMs: numberOf(ctx, 'requestTimeout', { min: 0.001 }) * 1000,
    },
    cache: {
      maxImages: numberOf(ctx, 'cacheMaxImages', { min: 1, integer: true }),
      maxBytes: numberOf(ctx, 'cacheMaxBytes', { min: 1024, integer: true }),
      tagTtlMs: numberOf(ctx, 'tagTtl', { min: 0 }) * 1000,
    },
    resolver: {
      ...DEFAULT_RESOLVER_OPTIONS,
      platform,
      deadlineMs: numberOf(ctx, 'resolveTimeout', { min: 0.001 }) * 1000,
      maxRequestsPerReview: numberOf(ctx, 'reviewMaxRegistryRequests', { min: 1, integer: true }),
    },
    auth: {
      enablePrivateRegistries: false,
      registryAuthSecretPath: '',
      defaultRegistries,
      keychainEnv: keychainEnv(env),
    },
  };
}

function commandPrefixOf(ctx: Ctx): string[] {
  const setting = bySetting(ctx.settings, 'commandPrefix');
  const text = stringOf(ctx, 'commandPrefix');
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed) && parsed.every((p) => typeof p === 'string')) return parsed;
  } catch {
    // reported below
  }
  ctx.problems.add(setting, `want a JSON array of strings, got ${JSON.stringify(text)}`);
  return [];
}

/** ca.crt, else ca.pem, as Porch looks for them. */
function registryCa(ctx: Ctx): { caPem?: string; caSource?: string } {
  if (!boolOf(ctx, 'enablePrivateRegistriesTls')) return {};
  const setting = bySetting(ctx.settings, 'tlsSecretPath');
  const dir = stringOf(ctx, 'tlsSecretPath');
  for (const name of ['ca.crt', 'ca.pem']) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) continue;
    const pem = readFileSetting(setting, file, ctx.problems);
    if (pem !== undefined && checkPem(setting, pem, file, ctx.problems))
      return { caPem: pem, caSource: file };
    return {};
  }
  ctx.problems.add(setting, `neither ca.crt nor ca.pem found in ${dir}`);
  return {};
}

export interface AdmissionConfig extends Config {
  admission: AdmissionOptions;
}

function loadAdmissionParts(ctx: Ctx): AdmissionConfig {
  const base = loadRegistryConfig(ctx);
  const privateRegistries = boolOf(ctx, 'enablePrivateRegistries');
  const secretPath = stringOf(ctx, 'registryAuthSecretPath');
  if (privateRegistries && !fs.existsSync(secretPath)) {
    ctx.problems.add(
      bySetting(ctx.settings, 'registryAuthSecretPath'),
      `${secretPath} does not exist (is the Secret mounted?)`,
    );
  }
  const policy = stringOf(ctx, 'failurePolicy');
  if (policy !== 'Fail' && policy !== 'Ignore')
    ctx.problems.add(
      bySetting(ctx.settings, 'failurePolicy'),
      `want Fail or Ignore, got ${JSON.stringify(policy)}`,
    );
  const reviewDeadlineMs = numberOf(ctx, 'reviewTimeout', { min: 0.001 }) * 1000;
  if (base.resolver.deadlineMs >= reviewDeadlineMs) {
    ctx.problems.add(
      bySetting(ctx.settings, 'resolveTimeout'),
      `must be shorter than --review-timeout (${reviewDeadlineMs / 1000} s) so a registry error is reported before the review deadline`,
    );
  }
  const pullSecretName = stringOf(ctx, 'registryAuthSecretName');
  return {
    ...base,
    registry: { ...base.registry, ...registryCa(ctx) },
    auth: { ...base.auth, enablePrivateRegistries: privateRegistries, registryAuthSecretPath: secretPath },
    admission: {
      failurePolicy: policy === 'Ignore' ? 'Ignore' : 'Fail',
      excludedNamespaces: listOf(ctx, 'excludedNamespace'),
      reviewDeadlineMs,
      mutation: {
        commandPrefix: commandPrefixOf(ctx),
        defaultPlatform: base.resolver.platform,
        limits: { ...DEFAULT_REVIEW_LIMITS, maxRequestsPerReview: base.resolver.maxRequestsPerReview },
        ...(privateRegistries
          ? { pullSecret: { name: pullSecretName, defaultRegistries: base.auth.defaultRegistries } }
          : {}),
      },
    },
  };
}

/** `fn-pinner mutate`: the admission decision offline. */
export function loadAdmissionConfig(opts: RawOptions, env: NodeJS.ProcessEnv): AdmissionConfig {
  const ctx: Ctx = {
    settings: [...REGISTRY_SETTINGS, ...ADMISSION_SETTINGS],
    opts,
    env,
    problems: new Problems(),
  };
  const config = loadAdmissionParts(ctx);
  ctx.problems.throwIfAny();
  return config;
}

export interface ServeConfig extends AdmissionConfig {
  server: {
    host: string;
    port: number;
    certDir: string;
    selfSignedCerts: boolean;
    serviceName: string;
    serviceNamespace: string;
    webhookConfigName: string | undefined;
  };
  secrets: { podNamespaces: string[]; resyncMs: number; kubeconfig: string | undefined; inCluster: boolean };
}

export function loadServeConfig(opts: RawOptions, env: NodeJS.ProcessEnv): ServeConfig {
  const ctx: Ctx = {
    settings: [...REGISTRY_SETTINGS, ...ADMISSION_SETTINGS, ...SERVE_SETTINGS],
    opts,
    env,
    problems: new Problems(),
  };
  const config = loadAdmissionParts(ctx);
  const server = {
    host: stringOf(ctx, 'host'),
    port: numberOf(ctx, 'port', { min: 0, integer: true }),
    certDir: path.resolve(stringOf(ctx, 'certDir')),
    selfSignedCerts: boolOf(ctx, 'selfSignedCerts'),
    serviceName: stringOf(ctx, 'serviceName'),
    serviceNamespace: stringOf(ctx, 'serviceNamespace'),
    webhookConfigName: stringOf(ctx, 'webhookConfigName') || undefined,
  };
  if (server.port > 65535) ctx.problems.add(bySetting(ctx.settings, 'port'), `${server.port} is not a port`);
  const secrets = {
    podNamespaces: listOf(ctx, 'podNamespace'),
    resyncMs: numberOf(ctx, 'secretResync', { min: 1 }) * 1000,
    kubeconfig: stringOf(ctx, 'kubeconfig') || undefined,
    inCluster: Boolean(env.KUBERNETES_SERVICE_HOST),
  };
  ctx.problems.throwIfAny();
  return { ...config, server, secrets };
}
