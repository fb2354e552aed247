import { makeCredential } from '../registry/auth/credentials.js';
import { parseDockerConfig } from '../registry/auth/docker-config.js';
import type { DockerConfigEntry } from '../registry/auth/docker-config.js';

/** A Secret as the API hands it out (src/kube/types.ts SecretObject), as far as pulls go. */
export interface PullSecretData {
  metadata: { resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

export interface ParsedPullSecret {
  resourceVersion: string | undefined;
  entries: readonly DockerConfigEntry[];
  /** Why it gives nothing to try (`not found`, `type Opaque ignored`), for a denial. */
  problem?: string;
}

/** The two Secret types the kubelet pulls with, and the key each keeps its Docker config under. */
const KEYS: Record<string, string> = {
  'kubernetes.io/dockerconfigjson': '.dockerconfigjson',
  'kubernetes.io/dockercfg': '.dockercfg',
};

/**
 * A pull Secret's credentials, parsed by the same parser as the mounted config (both formats) and marked
 * as the pod's own, so that what they fetch is not shared with other pods (images/access.ts). A Secret the
 * kubelet would not use gives nothing, with the reason; error messages never quote its content.
 */
export function parsePullSecret(
  namespace: string,
  name: string,
  secret: PullSecretData | undefined,
): ParsedPullSecret {
  if (!secret) return { resourceVersion: undefined, entries: [], problem: 'not found' };
  const resourceVersion = secret.metadata.resourceVersion;
  const key = KEYS[secret.type ?? ''];
  if (!key) return { resourceVersion, entries: [], problem: `type ${secret.type ?? '(none)'} ignored` };
  const encoded = secret.data?.[key];
  if (encoded === undefined) return { resourceVersion, entries: [], problem: `no ${key} key` };
  try {
    const text = Buffer.from(encoded, 'base64').toString('utf8');
    const parsed = parseDockerConfig(text, `secret ${namespace}/${name}`);
    const entries = parsed.entries.map((e) => ({
      key: e.key,
      credential: makeCredential({ ...e.credential, podScoped: true }),
    }));
    return { resourceVersion, entries };
  } catch (err) {
    return { resourceVersion, entries: [], problem: `unusable (${(err as Error).message.slice(0, 200)})` };
  }
}
