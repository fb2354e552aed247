import type { Config } from './config.js';
import { MetadataCache } from './images/cache.js';
import { ImageResolver } from './images/resolver.js';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import { DockerConfigKeychain, RoutingKeychain, createDefaultKeychain } from './registry/auth/index.js';
import type { Keychain } from './registry/auth/index.js';
import { RegistryClient, RegistryTransport } from './registry/index.js';

/** The resolver and what it stands on, wired from configuration. Shared by `serve`, `mutate` and `resolve`. */
export interface ResolverStack {
  resolver: ImageResolver;
  cache: MetadataCache;
  keychain: Keychain;
  close(): Promise<void>;
}

export function createKeychain(config: Config, log: Logger): Keychain {
  const onError = (err: Error): void =>
    log.error({ err: err.message }, 'Docker config unusable; keeping the last good one');
  const onReload = (file: string, warnings: readonly string[]): void => {
    log.info({ file }, 'Docker config loaded');
    for (const warning of warnings) log.warn({ file }, warning);
  };
  const fallback = createDefaultKeychain(config.auth.keychainEnv, { onError, onReload });
  let custom: DockerConfigKeychain | undefined;
  if (config.auth.enablePrivateRegistries && config.auth.registryAuthSecretPath) {
    custom = new DockerConfigKeychain({ paths: [config.auth.registryAuthSecretPath], onError, onReload });
    // Fail fast on a broken mounted file; later reloads keep the last good copy instead.
    custom.load();
  }
  return new RoutingKeychain({
    defaultRegistries: config.auth.defaultRegistries,
    privateRegistriesEnabled: config.auth.enablePrivateRegistries,
    fallback,
    ...(custom ? { custom } : {}),
  });
}

export function createResolverStack(config: Config, log: Logger, metrics: Metrics): ResolverStack {
  const keychain = createKeychain(config, log);
  const transport = new RegistryTransport(config.registry, {
    metrics,
    log,
    configuredHosts: () => keychain.registryHosts?.() ?? [],
  });
  const client = new RegistryClient({ transport, keychain, options: config.registry, log });
  const cache = new MetadataCache(config.cache);
  const resolver = new ImageResolver({
    client,
    cache,
    options: config.resolver,
    registryOptions: config.registry,
    tagTtlMs: config.cache.tagTtlMs,
    metrics,
    log,
  });
  return { resolver, cache, keychain, close: () => transport.close() };
}
