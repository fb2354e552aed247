import type { MetadataSource } from '../mutation/pod.js';
import type { Pod } from '../mutation/types.js';
import type { Keychain } from '../registry/index.js';

/** What the keychain of a pod's own pull secrets needs to know about the pod (src/sources/pod-pull-secrets.ts). */
export interface PodIdentity {
  namespace: string;
  pod: string;
  imagePullSecrets: string[];
  serviceAccountName: string;
}

/** --pod-pull-secrets: hands out one keychain per review. */
export interface PodCredentials {
  keychainFor(pod: PodIdentity): Keychain;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The pod as the kubelet would pull for it: its namespace, its imagePullSecrets, its ServiceAccount. */
export function podIdentity(namespace: string, pod: Pod): PodIdentity {
  const spec = pod.spec ?? {};
  return {
    namespace,
    pod: text(pod.metadata?.name) ?? `${text(pod.metadata?.generateName) ?? ''}(generated)`,
    imagePullSecrets: (Array.isArray(spec.imagePullSecrets) ? spec.imagePullSecrets : []).flatMap((s) => {
      const name = text((s as { name?: unknown } | null)?.name);
      return name ? [name] : [];
    }),
    // `serviceAccount` is the deprecated spelling the API server still fills in.
    serviceAccountName: text(spec.serviceAccountName) ?? text(spec.serviceAccount) ?? 'default',
  };
}

/** Every resolution of this review carries the pod's keychain, and no other review's does. */
export function withPodCredentials(source: MetadataSource, credentials: Keychain): MetadataSource {
  return { resolve: (image, opts) => source.resolve(image, { ...opts, credentials }) };
}
