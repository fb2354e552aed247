import { FnPinnerError, isFnPinnerError } from '../../errors.js';
import { ImageReference } from '../../reference/reference.js';
import type { Credential, Keychain } from './credentials.js';

/**
 * Which keychain an image uses. Porch compares the raw image string with a stale constant
 * (`gcr.io/kpt-fn/`), so catalog images on ghcr.io count as "custom" and get the private-registry
 * treatment; here prefixes are a list and both sides go through the reference parser, so
 * `index.docker.io/x/` and `docker.io/x/` are the same prefix and `gcr.io/kpt-fn` matches on a '/' boundary.
 */
export interface RoutingKeychainOptions {
  /** Image name prefixes of the default (public catalog) registries, e.g. `ghcr.io/kptdev/krm-functions-catalog/`. */
  defaultRegistries: readonly string[];
  privateRegistriesEnabled: boolean;
  /** Credentials for non-default images when private registries are enabled. */
  custom?: Keychain;
  /** Everything else. */
  fallback: Keychain;
}

/** A placeholder repository two levels deep, so a bare namespace never gets Docker Hub's `library/` added. */
const PLACEHOLDER = 'x/x';

/**
 * Canonical form of an image prefix: `registry/path/` with Docker Hub as `docker.io` and a trailing '/'.
 * A single component is a registry when it looks like a host (`ghcr.io/`), else a Docker Hub namespace.
 * Throws BAD_CONFIG for prefixes no image could start with.
 */
export function normalizeImagePrefix(prefix: string): string {
  const fail = (detail: string, cause?: unknown): FnPinnerError =>
    new FnPinnerError(
      'BAD_CONFIG',
      `parse default registry prefix ${JSON.stringify(prefix)}: ${detail} (want e.g. "ghcr.io/org/")`,
      { cause },
    );
  const trimmed = prefix.trim().replace(/\/+$/, '');
  if (trimmed === '') throw fail('empty prefix');
  const probe = `${trimmed}/${PLACEHOLDER}`;
  try {
    // The placeholder is the last component, so a tag or digest in the prefix makes the parse fail.
    return ImageReference.parse(probe).name.slice(0, -PLACEHOLDER.length);
  } catch (err) {
    const parsePrefix = `parse image reference ${JSON.stringify(probe)}: `;
    const detail = isFnPinnerError(err) ? err.message.replace(parsePrefix, '') : 'not an image name prefix';
    throw fail(detail, err);
  }
}

/** For hot paths: `normalizedPrefixes` must already have gone through normalizeImagePrefix(). */
export function matchesPrefix(ref: ImageReference, normalizedPrefixes: readonly string[]): boolean {
  const name = `${ref.name}/`;
  return normalizedPrefixes.some((prefix) => name.startsWith(prefix));
}

/**
 * Whether an image comes from one of the default registries. `prefixes` may be written any way the
 * reference grammar allows; normalise them once with normalizeImagePrefix() on hot paths.
 */
export function isDefaultRegistryImage(ref: ImageReference, prefixes: readonly string[]): boolean {
  return matchesPrefix(ref, prefixes.map(normalizeImagePrefix));
}

/**
 * Default-registry images, and every image when private registries are disabled, use `fallback`;
 * other images use `custom`.
 */
export class RoutingKeychain implements Keychain {
  private readonly prefixes: readonly string[];
  private readonly custom: Keychain | undefined;
  private readonly fallback: Keychain;
  private readonly privateRegistriesEnabled: boolean;

  constructor(options: RoutingKeychainOptions) {
    if (options.privateRegistriesEnabled && options.custom === undefined) {
      // Falling back silently would send private images out with the wrong (usually no) credentials.
      throw new FnPinnerError(
        'BAD_CONFIG',
        'create registry keychain: private registries are enabled but no custom keychain was given',
      );
    }
    this.prefixes = options.defaultRegistries.map(normalizeImagePrefix);
    this.custom = options.custom;
    this.fallback = options.fallback;
    this.privateRegistriesEnabled = options.privateRegistriesEnabled;
  }

  isDefault(ref: ImageReference): boolean {
    return matchesPrefix(ref, this.prefixes);
  }

  /** The keychain resolve() delegates to, exposed for diagnostics. */
  keychainFor(ref: ImageReference): Keychain {
    if (this.custom === undefined || !this.privateRegistriesEnabled || this.isDefault(ref))
      return this.fallback;
    return this.custom;
  }

  resolve(ref: ImageReference): Credential[] {
    return this.keychainFor(ref).resolve(ref);
  }

  registryHosts(): string[] {
    const custom = this.privateRegistriesEnabled ? (this.custom?.registryHosts?.() ?? []) : [];
    return [...custom, ...(this.fallback.registryHosts?.() ?? [])];
  }
}
