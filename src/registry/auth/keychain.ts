import type { ImageReference } from '../../reference/reference.js';
import type { RegistryPrefixes } from '../../reference/prefixes.js';
import type { CallContext } from './context.js';
import { sameSecret, type Credential, type Keychain, type KeychainLookup } from './credentials.js';
import type { DockerConfigEntry } from './docker-config.js';
import { matchingEntries } from './host-match.js';

/**
 * Something that holds parsed Docker config entries: src/sources/docker-config.ts, which owns reading and
 * reloading the file. The keychain only matches; it never touches the file system.
 */
export interface EntrySource {
  readonly current: { readonly entries: readonly DockerConfigEntry[] } | undefined;
  /** Named in denials (`Docker config FILE: no match`). */
  readonly file?: string;
}

function dedupe(credentials: Credential[]): Credential[] {
  return credentials.filter((c, i) => credentials.findIndex((other) => sameSecret(c, other)) === i);
}

/** `n matches` / `no match`, for the places a denial lists. */
export function matchCount(n: number): string {
  return n === 0 ? 'no match' : `${n} match${n === 1 ? '' : 'es'}`;
}

/** Credentials from Docker config files, in the order given (highest priority first), as they are now. */
export class DockerConfigKeychain implements Keychain {
  constructor(private readonly sources: readonly EntrySource[]) {}

  /** The matches, synchronously: the files are already in memory. */
  resolve(ref: ImageReference): Credential[] {
    const entries = this.sources.flatMap((s) => s.current?.entries ?? []);
    return dedupe(matchingEntries(entries, ref).map((e) => e.credential));
  }

  lookup(ref: ImageReference): Promise<KeychainLookup> {
    const consulted = this.sources.map((s) => {
      const n = matchingEntries(s.current?.entries ?? [], ref).length;
      return `Docker config ${s.file ?? '(unnamed)'}: ${s.current ? matchCount(n) : 'absent'}`;
    });
    return Promise.resolve({ credentials: this.resolve(ref), consulted });
  }

  /** Exact keys only: a glob could make any host a "configured" one for metrics. */
  registryHosts(): string[] {
    const entries = this.sources.flatMap((s) => s.current?.entries ?? []);
    return entries.filter((e) => !e.key.wildcard).map((e) => e.key.host);
  }
}

/** Looks in every keychain at once and lists what they found in the order given, duplicates dropped. */
export async function lookupAll(
  keychains: readonly (Keychain | undefined)[],
  ref: ImageReference,
  ctx: CallContext,
): Promise<KeychainLookup> {
  const present = keychains.filter((k): k is Keychain => k !== undefined);
  const found = await Promise.all(present.map((k) => k.lookup(ref, ctx)));
  return {
    credentials: dedupe(found.flatMap((f) => f.credentials)),
    consulted: found.flatMap((f) => f.consulted),
  };
}

export interface RoutingKeychainOptions {
  defaultRegistries: RegistryPrefixes;
  /** The mounted custom config (--enable-private-registries), for images outside the default registries. */
  custom: Keychain | undefined;
  /** The default keychain's Docker config files. */
  fallback: Keychain;
  /** The default keychain's cloud-provider credentials (--cloud-credentials). */
  cloud?: Keychain;
}

/**
 * The order credentials are tried in (README, "Registry authentication"):
 *   - custom images with a mounted config: the mounted config, the pod's pull secrets, cloud credentials;
 *   - every other image: the pod's pull secrets, the default keychain (Docker config files, then cloud).
 * The pod's pull secrets come with each resolution (CallContext.credentials), for that review only.
 */
export class RoutingKeychain implements Keychain {
  constructor(private readonly opts: RoutingKeychainOptions) {}

  lookup(ref: ImageReference, ctx: CallContext): Promise<KeychainLookup> {
    const { custom, fallback, cloud, defaultRegistries } = this.opts;
    if (custom === undefined || defaultRegistries.matches(ref)) {
      return lookupAll([ctx.credentials, fallback, cloud], ref, ctx);
    }
    return lookupAll([custom, ctx.credentials, cloud], ref, ctx);
  }

  registryHosts(): string[] {
    const { custom, fallback } = this.opts;
    return [...(custom?.registryHosts?.() ?? []), ...(fallback.registryHosts?.() ?? [])];
  }
}
