import { FnPinnerError } from '../errors.js';
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

/** An update is a whole-object PUT: what other writers added to the metadata (labels, annotations) is kept. */
function desiredSecret(
  namespace: string,
  name: string,
  content: Buffer,
  current?: SecretObject,
): SecretObject {
  const annotations = current?.metadata.annotations;
  return {
    metadata: {
      name,
      namespace,
      ...(current?.metadata.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
      labels: { ...current?.metadata.labels, ...MANAGED_BY },
      ...(annotations ? { annotations } : {}),
    },
    type: DOCKER_CONFIG_JSON_TYPE,
    data: { [DOCKER_CONFIG_JSON_KEY]: content.toString('base64') },
  };
}

function isManaged(secret: SecretObject): boolean {
  return secret.metadata.labels?.['app.kubernetes.io/managed-by'] === 'fn-pinner';
}

/** The Secret holds `content` and is marked as fn-pinner's. */
export function secretInSync(current: SecretObject, content: Buffer): boolean {
  const data = current.data?.[DOCKER_CONFIG_JSON_KEY];
  return data !== undefined && Buffer.from(data, 'base64').equals(content) && isManaged(current);
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
 * Replacing a Secret of another type means deleting it, which is only ours to do for a Secret we manage:
 * one of that name made by someone else (an Opaque Secret of a team, say) is refused, and reported.
 */
function notOurs(namespace: string, name: string, current: SecretObject): FnPinnerError {
  return new FnPinnerError(
    'SECRET_UNAVAILABLE',
    `sync pull secret ${namespace}/${name}: a Secret of that name exists with type ` +
      `${JSON.stringify(current.type ?? '')} and is not managed by fn-pinner (no label ` +
      'app.kubernetes.io/managed-by=fn-pinner); refusing to delete it. Remove it, or choose another ' +
      'name with --registry-auth-secret-name',
  );
}

/**
 * Deletes exactly the Secret that was read (uid and resourceVersion preconditions). False when it changed
 * or was replaced in between (409 Conflict): the caller re-reads and decides again.
 */
async function deleteAsRead(api: SecretApi, current: SecretObject): Promise<boolean> {
  const { namespace, name, uid, resourceVersion } = current.metadata;
  try {
    await api.delete(namespace, name, { uid: uid ?? '', resourceVersion: resourceVersion ?? '' });
    return true;
  } catch (err) {
    if (isReason(err, 'Conflict')) return false;
    if (err instanceof KubeApiError && err.status === 404) return true;
    throw err;
  }
}

/** The wrong-type repair: type is immutable, so delete (only ours, only as read) and create. */
async function recreate(
  api: SecretApi,
  target: { namespace: string; name: string; content: Buffer },
  current: SecretObject,
): Promise<boolean> {
  const { namespace, name, content } = target;
  if (!isManaged(current)) throw notOurs(namespace, name, current);
  if (!(await deleteAsRead(api, current))) return false;
  return createOrNull(api, desiredSecret(namespace, name, content));
}

async function updateOrNull(api: SecretApi, secret: SecretObject): Promise<boolean> {
  try {
    await api.replace(secret);
    return true;
  } catch (err) {
    if (isReason(err, 'Conflict')) return false;
    throw err;
  }
}

/**
 * One reconciliation of one Secret: create if missing, update if the content or label drifted, and
 * recreate if its type is wrong (type is immutable; only a Secret fn-pinner manages). Conflicts and
 * AlreadyExists re-read and go again.
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
    } else if (current.type !== DOCKER_CONFIG_JSON_TYPE) {
      if (await recreate(api, target, current)) return 'recreated';
    } else if (secretInSync(current, content)) {
      return 'unchanged';
    } else if (await updateOrNull(api, desiredSecret(namespace, name, content, current))) {
      return 'updated';
    }
  }
  throw new KubeApiError(
    `sync pull secret ${namespace}/${name}: still conflicting after ${MAX_ROUNDS} rounds`,
    'Conflict',
    409,
    undefined,
  );
}
