import type { ImageReference } from '../../reference/reference.js';
import type { RegistryPrefixes } from '../../reference/prefixes.js';
import { sameSecret, type Credential, type Keychain } from './credentials.js';
import type { DockerConfigEntry } from './docker-config.js';
import { matchingEntries } from './host-match.js';

/**
 * Something that holds parsed Docker config entries: src/sources/docker-config.ts, which owns reading and
 * reloading the file. The keychain only matches; it never touches the file system.
 */
export interface EntrySource {
  readonly current: { readonly entries: readonly DockerConfigEntry[] } | undefined;
}

function dedupe(credentials: Credential[]): Credential[] {
  return credentials.filter((c, i) => credentials.findIndex((other) => sameSecret(c, other)) === i);
}

/** Credentials from Docker config files, in the order given (highest priority first), as they are now. */
export class DockerConfigKeychain implements Keychain {
  constructor(private readonly sources: readonly EntrySource[]) {}

  resolve(ref: ImageReference): Credential[] {
    const entries = this.sources.flatMap((s) => s.current?.entries ?? []);
    return dedupe(matchingEntries(entries, ref).map((e) => e.credential));
  }

  /** Exact keys only: a glob could make any host a "configured" one for metrics. */
  registryHosts(): string[] {
    const entries = this.sources.flatMap((s) => s.current?.entries ?? []);
    return entries.filter((e) => !e.key.wildcard).map((e) => e.key.host);
  }
}

/**
 * Default-registry images use `fallback` (the default keychain); other images use `custom` (the mounted
 * config) when there is one, else `fallback` too.
 */
export class RoutingKeychain implements Keychain {
  constructor(
    private readonly opts: {
      defaultRegistries: RegistryPrefixes;
      custom: Keychain | undefined;
      fallback: Keychain;
    },
  ) {}

  resolve(ref: ImageReference): Credential[] {
    const { custom, fallback, defaultRegistries } = this.opts;
    if (custom === undefined || defaultRegistries.matches(ref)) return fallback.resolve(ref);
    return custom.resolve(ref);
  }

  registryHosts(): string[] {
    const { custom, fallback } = this.opts;
    return [...(custom?.registryHosts?.() ?? []), ...(fallback.registryHosts?.() ?? [])];
  }
}
