import { LRUCache } from 'lru-cache';

import type { ImageReference } from '../reference/reference.js';
import { credentialId } from '../registry/index.js';
import type { Credential } from '../registry/index.js';

/** A repository read with pod credentials only keeps this many of them; more are rare and the oldest goes. */
const MAX_IDS_PER_REPOSITORY = 32;

/**
 * With --pod-pull-secrets, which credentials each repository's content was fetched with. The cache is shared
 * by every review, but a pod's own pull secret is not: a digest fetched with pod A's Secret must not pin
 * pod B, which lacks it, as if B could pull the image (the kubelet would then fail B's pull, and B's owner
 * would have learnt the digest and command of an image they cannot read).
 *
 * A repository is `shared` once any credential every pod gets (anonymous, the mounted custom config that is
 * attached to custom-registry pods, the default keychain) has read it; until then it is readable by the
 * pod credentials listed. A review whose own credentials are not among them proves access with one HEAD
 * of the manifest, with its own keychain, before the cached answer is used (as the kubelet's "ensure secret
 * pulled images" re-checks an image pulled with other credentials). A forgotten repository (LRU) is
 * proven again the same way: unknown never means shared.
 */
export class AccessLedger {
  private readonly repos: LRUCache<string, Set<string> | 'shared'>;

  constructor(maxRepositories: number) {
    this.repos = new LRUCache({ max: maxRepositories });
  }

  /** The registry accepted `credential` (undefined: anonymous) for this repository. */
  record(ref: ImageReference, credential: Credential | undefined): void {
    const key = ref.name;
    if (!credential?.podScoped) {
      this.repos.set(key, 'shared');
      return;
    }
    const current = this.repos.get(key);
    if (current === 'shared') return;
    const ids = current ?? new Set<string>();
    ids.add(credentialId(credential));
    if (ids.size > MAX_IDS_PER_REPOSITORY) ids.delete(ids.values().next().value as string);
    this.repos.set(key, ids);
  }

  /** Readable with credentials every pod has: no check needed. */
  isShared(ref: ImageReference): boolean {
    return this.repos.get(ref.name) === 'shared';
  }

  /** Readable with one of these pod credentials (by credentialId). */
  allows(ref: ImageReference, ids: readonly string[]): boolean {
    const current = this.repos.get(ref.name);
    return current === 'shared' || (current !== undefined && ids.some((id) => current.has(id)));
  }
}
