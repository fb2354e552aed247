import type { AdmissionOptions } from '../admission/handler.js';
import type { CacheOptions, ResolverOptions } from '../images/options.js';
import type { RegistryOptions } from '../registry/options.js';
import type { Config } from './load.js';
import { REGISTRY_TUNABLES, RESOLVER_TUNABLES, REVIEW_TUNABLES } from './tunables.js';

/**
 * The option objects each layer takes, built from the typed Config and the fixed tunables. Group fields are
 * spread, so a setting declared with `to: ['registry', …]` reaches the registry layer with no other change.
 */
export function registryOptions(config: Config): RegistryOptions {
  return {
    ...REGISTRY_TUNABLES,
    ...config.registry,
    caPem: config.inputs.ca?.pem,
    caSource: config.inputs.ca?.source,
    configuredRegistries: config.auth.defaultRegistries.hosts(),
  };
}

export function cacheOptions(config: Config): CacheOptions {
  return { ...config.cache };
}

export function resolverOptions(config: Config): ResolverOptions {
  return { ...RESOLVER_TUNABLES, ...config.resolver };
}

/** With private registries, custom-registry pods get the pull secret. */
export function admissionOptions(config: Config): AdmissionOptions {
  const { commandPrefix, ...rest } = config.admission;
  const privateRegistries = config.inputs.customDockerConfig !== undefined && config.command !== 'resolve';
  return {
    ...rest,
    mutation: {
      commandPrefix,
      defaultPlatform: config.resolver.platform,
      limits: { ...REVIEW_TUNABLES, maxRequestsPerReview: config.resolver.maxRequestsPerReview },
      ...(privateRegistries
        ? {
            pullSecret: {
              name: config.auth.pullSecretName,
              defaultRegistries: config.auth.defaultRegistries,
            },
          }
        : {}),
    },
  };
}
