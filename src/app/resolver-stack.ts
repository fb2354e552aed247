import type { Config } from '../config/load.js';
import { cacheOptions, registryOptions, resolverOptions } from '../config/options.js';
import { CLOUD_TUNABLES, FILE_POLL_MS, POD_SECRET_TUNABLES } from '../config/tunables.js';
import { AccessLedger } from '../images/access.js';
import { MetadataCache } from '../images/cache.js';
import { ImageResolver } from '../images/resolver.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { CloudKeychain } from '../registry/auth/cloud-keychain.js';
import { DockerConfigKeychain, RoutingKeychain } from '../registry/auth/keychain.js';
import { RegistryClient, RegistryTransport } from '../registry/index.js';
import { awsProvider } from '../sources/cloud/aws.js';
import { googleProvider } from '../sources/cloud/google.js';
import { DockerConfigSource } from '../sources/docker-config.js';

/** The resolver and what it stands on, wired from configuration. Shared by every command that resolves. */
export interface ResolverStack {
  resolver: ImageResolver;
  cache: MetadataCache;
  /** The custom-registry Docker config, when there is one: the keychain and the pull-Secret sync share it. */
  customConfig: DockerConfigSource | undefined;
  /** Watches the Docker config files for changes (long-running processes only). */
  watch(): void;
  close(): Promise<void>;
}

/** Reads every Docker config now; a broken custom config fails here, at start, naming the file. */
function dockerConfigSources(
  config: Config,
  log: Logger,
): { custom?: DockerConfigSource; defaults: DockerConfigSource[] } {
  const source = (file: string, required: boolean): DockerConfigSource => {
    const s = new DockerConfigSource({ file, required, log, pollMs: FILE_POLL_MS });
    s.load();
    return s;
  };
  const defaults = config.inputs.defaultDockerConfigs.map((file) => source(file, false));
  const customFile = config.inputs.customDockerConfig;
  return customFile === undefined ? { defaults } : { custom: source(customFile, true), defaults };
}

export function createResolverStack(config: Config, log: Logger, metrics: Metrics): ResolverStack {
  const options = registryOptions(config);
  const sources = dockerConfigSources(config, log);
  const keychain = new RoutingKeychain({
    defaultRegistries: config.auth.defaultRegistries,
    custom: sources.custom && new DockerConfigKeychain([sources.custom]),
    fallback: new DockerConfigKeychain(sources.defaults),
    cloud: config.auth.cloudCredentials
      ? new CloudKeychain([googleProvider(), awsProvider()], { ...CLOUD_TUNABLES, log })
      : undefined,
  });
  const transport = new RegistryTransport(options, {
    metrics,
    log,
    configuredHosts: () => keychain.registryHosts(),
  });
  // Only pods' own pull secrets make content private to some reviews; without them, nothing to track.
  const access = config.auth.podPullSecrets
    ? new AccessLedger(POD_SECRET_TUNABLES.maxLedgerEntries)
    : undefined;
  const client = new RegistryClient({
    transport,
    keychain,
    options,
    log,
    ...(access ? { onAccepted: (ref, cred) => access.record(ref, cred) } : {}),
  });
  const cache = new MetadataCache(cacheOptions(config));
  const resolver = new ImageResolver({
    client,
    cache,
    options: resolverOptions(config),
    registryOptions: options,
    tagTtlMs: config.cache.tagTtlMs,
    metrics,
    log,
    ...(access ? { access } : {}),
  });
  const all = [...sources.defaults, ...(sources.custom ? [sources.custom] : [])];
  return {
    resolver,
    cache,
    customConfig: sources.custom,
    watch: () => all.forEach((s) => s.start()),
    async close() {
      all.forEach((s) => s.stop());
      await transport.close();
    },
  };
}
