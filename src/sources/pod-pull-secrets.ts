import { LRUCache } from 'lru-cache';

import type { Logger } from '../logging.js';
import type { ImageReference } from '../reference/reference.js';
import type { CallContext } from '../registry/auth/context.js';
import type { Keychain, KeychainLookup } from '../registry/auth/credentials.js';
import { matchingEntries } from '../registry/auth/host-match.js';
import { matchCount } from '../registry/auth/keychain.js';
import { SingleFlight } from '../util/singleflight.js';
import { raceTimeout } from '../util/timeout.js';
import { parsePullSecret } from './pull-secret-parse.js';
import type { ParsedPullSecret, PullSecretData } from './pull-secret-parse.js';

/** The API reads this needs (src/kube/client.ts createPullSecretReader): plain GETs with timeouts. */
export interface PullSecretApi {
  readSecret(namespace: string, name: string): Promise<PullSecretData | undefined>;
  readServiceAccount(
    namespace: string,
    name: string,
  ): Promise<{ metadata: { resourceVersion?: string }; imagePullSecrets: string[] } | undefined>;
}

/** What a review says about its pod: where it runs, the Secrets it names, the ServiceAccount it runs as. */
export interface PodPullSecretRef {
  namespace: string;
  /** For messages: the pod's name, or generateName. */
  pod: string;
  imagePullSecrets: string[];
  serviceAccountName: string;
}

export interface PodPullSecretsOptions {
  api: PullSecretApi;
  log: Logger;
  /** A read is reused this long. */
  cacheTtlMs: number;
  maxCached: number;
  maxSecretsPerPod: number;
}

type SecretRead = ParsedPullSecret;

interface Loaded {
  namespace: string;
  secrets: { name: string; via: string; read: SecretRead }[];
  notes: string[];
}

/**
 * The pod's own pull secrets (--pod-pull-secrets): what the kubelet would use to pull its images, the
 * pod's imagePullSecrets and its ServiceAccount's. They are read through the API only when a review needs
 * the registry (never on a cache hit), once per review, and reads are reused for a few seconds; a Secret
 * read again at the same resourceVersion is not parsed again. Unreadable, missing or foreign-typed Secrets
 * are skipped as the kubelet skips them, and named in a denial.
 */
export class PodPullSecrets {
  private readonly reads: LRUCache<string, SecretRead | { imagePullSecrets: string[] }>;
  private readonly flights = new SingleFlight<string, SecretRead | { imagePullSecrets: string[] }>();

  constructor(private readonly opts: PodPullSecretsOptions) {
    this.reads = new LRUCache({ max: opts.maxCached, ttl: opts.cacheTtlMs });
  }

  /** The review's keychain; it reads nothing until a registry call asks it. */
  keychainFor(pod: PodPullSecretRef): Keychain {
    let loading: Promise<Loaded> | undefined;
    const load = (): Promise<Loaded> => (loading ??= this.load(pod));
    return {
      lookup: async (ref: ImageReference, ctx: CallContext): Promise<KeychainLookup> => {
        const outcome = await raceTimeout(load(), Math.max(0, ctx.deadline - Date.now()));
        if (!outcome.done)
          return { credentials: [], consulted: [`pull secrets of ${where(pod)}: not read in time`] };
        return matchAll(outcome.value, ref);
      },
    };
  }

  private async load(pod: PodPullSecretRef): Promise<Loaded> {
    const notes: string[] = [];
    const fromSa = await this.serviceAccountSecrets(pod, notes);
    const named = [
      ...pod.imagePullSecrets.map((name) => ({ name, via: 'pod' })),
      ...fromSa.map((name) => ({ name, via: `service account ${pod.serviceAccountName}` })),
    ].filter((s, i, all) => all.findIndex((o) => o.name === s.name) === i);
    if (named.length === 0) notes.push(`pull secrets of ${where(pod)}: none`);
    if (named.length > this.opts.maxSecretsPerPod)
      notes.push(`pull secrets of ${where(pod)}: only the first ${this.opts.maxSecretsPerPod} read`);
    const kept = named.slice(0, this.opts.maxSecretsPerPod);
    const reads = await Promise.all(kept.map((s) => this.secret(pod.namespace, s.name)));
    const secrets = kept.map((s, i) => ({ ...s, read: reads[i] as SecretRead }));
    return { namespace: pod.namespace, secrets, notes };
  }

  private async serviceAccountSecrets(pod: PodPullSecretRef, notes: string[]): Promise<string[]> {
    const { namespace, serviceAccountName: name } = pod;
    const key = `sa|${namespace}|${name}`;
    try {
      const read = await this.cached(key, async () => ({
        imagePullSecrets: (await this.opts.api.readServiceAccount(namespace, name))?.imagePullSecrets ?? [],
      }));
      return 'imagePullSecrets' in read ? read.imagePullSecrets : [];
    } catch (err) {
      notes.push(`service account ${namespace}/${name}: not readable (${messageOf(err)})`);
      this.opts.log.warn(
        { namespace, serviceAccount: name, err: messageOf(err) },
        'pod pull secrets: read failed',
      );
      return [];
    }
  }

  private async secret(namespace: string, name: string): Promise<SecretRead> {
    const key = `secret|${namespace}|${name}`;
    // The copy that may just have expired (a stale get), to compare resourceVersions with.
    const before = this.reads.get(key, { allowStale: true }) as SecretRead | undefined;
    try {
      return await this.cached<SecretRead>(key, async () => {
        const data = await this.opts.api.readSecret(namespace, name);
        // Same version as the copy that just expired: keep its parsed entries (and credential identities).
        if (data && before && data.metadata.resourceVersion === before.resourceVersion) return before;
        return parsePullSecret(namespace, name, data);
      });
    } catch (err) {
      this.opts.log.warn({ namespace, secret: name, err: messageOf(err) }, 'pod pull secrets: read failed');
      return { resourceVersion: undefined, entries: [], problem: `not readable (${messageOf(err)})` };
    }
  }

  private async cached<T extends SecretRead | { imagePullSecrets: string[] }>(
    key: string,
    read: () => Promise<T>,
  ): Promise<T> {
    const hit = this.reads.get(key);
    if (hit) return hit as T;
    return (await this.flights.run(key, async () => {
      const value = await read();
      this.reads.set(key, value);
      return value;
    })) as T;
  }
}

function where(pod: PodPullSecretRef): string {
  return `pod ${pod.namespace}/${pod.pod}`;
}

function messageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 300);
}

function matchAll(loaded: Loaded, ref: ImageReference): KeychainLookup {
  const credentials = [];
  const consulted = [...loaded.notes];
  for (const { name, via, read } of loaded.secrets) {
    const matches = matchingEntries(read.entries, ref);
    credentials.push(...matches.map((e) => e.credential));
    const state = read.problem ?? matchCount(matches.length);
    consulted.push(`pull secret ${loaded.namespace}/${name} (${via}): ${state}`);
  }
  return { credentials, consulted };
}
