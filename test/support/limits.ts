import { REGISTRY_TUNABLES, RESOLVER_TUNABLES, REVIEW_TUNABLES } from '../../src/config/tunables.js';
import type { ResolverOptions } from '../../src/images/options.js';
import type { ReviewLimits } from '../../src/mutation/limits.js';
import type { RegistryOptions } from '../../src/registry/options.js';

/** Complete option objects for unit tests, from the same tunables and setting defaults src/config uses. */
export const MUTATION_LIMITS: ReviewLimits = { ...REVIEW_TUNABLES, maxRequestsPerReview: 20 };

export const RESOLVER_OPTIONS: ResolverOptions = {
  ...RESOLVER_TUNABLES,
  platform: { os: 'linux', architecture: 'amd64' },
  deadlineMs: 8_000,
  maxRequestsPerReview: 20,
};

export const REGISTRY_OPTIONS: RegistryOptions = {
  ...REGISTRY_TUNABLES,
  insecureRegistries: [],
  configuredRegistries: [],
  registryAllow: [],
  registryDeny: [],
  tokenRealmAllow: [],
  requestTimeoutMs: 5_000,
};
