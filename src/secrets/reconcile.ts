import { isFnPinnerError } from '../errors.js';
import { KubeApiError } from '../kube/client.js';
import type { SecretApi, SecretObject } from '../kube/client.js';

export const DOCKER_CONFIG_JSON_TYPE = 'kubernetes.io/dockerconfigjson';
export const DOCKER_CONFIG_JSON_KEY = '.dockerconfigjson';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'fn-pinner' };

export type ReconcileResult = 'created' | 'updated' | 'recreated' | 'unchanged';

/** Another writer moved first: re-read and reconcile again rather than fail. */
const MAX_ROUNDS = 5;

function isReason(err: unknown, reason: string): boolean {
  return err instanceof KubeApiError && err.reason === reason;
}

function desiredSecret(
  namespace: string,
  name: string,
  content: Buffer,
  current?: SecretObject,
): SecretObject {
  return {
    metadata: {
      name,
      namespace,
      ...(current?.metadata.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
      labels: { ...current?.metadata.labels, ...MANAGED_BY },
    },
    type: DOCKER_CONFIG_JSON_TYPE,
    data: { [DOCKER_CONFIG_JSON_KEY]: content.toString('base64') },
  };
}

/** The Secret holds `content` and is marked as fn-pinner's. */
export function secretInSync(current: SecretObject, content: Buffer): boolean {
  const data = current.data?.[DOCKER_CONFIG_JSON_KEY];
  return (
    data !== undefined &&
    Buffer.from(data, 'base64').equals(content) &&
    current.metadata.labels?.['app.kubernetes.io/managed-by'] === 'fn-pinner'
  );
}

async function createOrNull(api: SecretApi, secret: SecretObject): Promise<boolean> {
  try {
    await api.create(secret);
    return true;
  } catch (err) {
    if (isReason(err, 'AlreadyExists')) return false;
    throw err;
  }
}

/**
 * One reconciliation of one Secret: create if missing, update if the content or label drifted, and
 * recreate if its type is wrong (type is immutable). Conflicts and AlreadyExists re-read and go again.
 */
export async function reconcileSecret(
  api: SecretApi,
  target: { namespace: string; name: string; content: Buffer },
): Promise<ReconcileResult> {
  const { namespace, name, content } = target;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const current = await api.read(namespace, name);
    if (!current) {
      if (await createOrNull(api, desiredSecret(namespace, name, content))) return 'created';
      continue;
    }
    if (current.type !== DOCKER_CONFIG_JSON_TYPE) {
      await api.delete(namespace, name).catch((err: unknown) => {
        if (!isFnPinnerError(err) || err.status !== 404) throw err;
      });
      if (await createOrNull(api, desiredSecret(namespace, name, content))) return 'recreated';
      continue;
    }
    if (secretInSync(current, content)) return 'unchanged';
    try {
      await api.replace(desiredSecret(namespace, name, content, current));
      return 'updated';
    } catch (err) {
      if (!isReason(err, 'Conflict')) throw err;
    }
  }
  throw new KubeApiError(
    `sync pull secret ${namespace}/${name}: still conflicting after ${MAX_ROUNDS} rounds`,
    'Conflict',
    409,
    undefined,
  );
}
