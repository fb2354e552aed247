import * as k8s from '@kubernetes/client-node';

import { FnPinnerError } from '../errors.js';
import { raceTimeout } from '../util/timeout.js';
import { mergeCaBundle } from '../tls/ca-bundle.js';

/**
 * The only module that talks to the Kubernetes API (and imports @kubernetes/client-node). Reads are plain
 * GETs: no informer, so no list/watch RBAC, and nothing that blocks waiting for a cache to sync.
 */
export interface SecretObject {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    [field: string]: unknown;
  };
  type?: string;
  data?: Record<string, string>;
}

export interface SecretApi {
  /** undefined when the Secret does not exist. */
  read(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** Throws KUBE_API with reason AlreadyExists when another writer got there first. */
  create(secret: SecretObject): Promise<SecretObject>;
  /** Optimistic update: metadata.resourceVersion must be the one read; throws reason Conflict otherwise. */
  replace(secret: SecretObject): Promise<SecretObject>;
  delete(namespace: string, name: string): Promise<void>;
}

export interface WebhookConfigApi {
  /**
   * Adds a CA (base64 PEM, as caBundle holds it) to every webhook of a MutatingWebhookConfiguration;
   * returns false when every bundle already had it.
   */
  setCaBundle(name: string, caBundle: string): Promise<boolean>;
}

export class KubeApiError extends FnPinnerError {
  constructor(
    message: string,
    readonly reason: string,
    status: number | undefined,
    cause: unknown,
  ) {
    super('KUBE_API', message, {
      status,
      cause,
      temporary: status === undefined || status === 429 || status >= 500,
    });
  }
}

function statusOf(err: unknown): { status: number | undefined; reason: string; message: string } {
  if (err instanceof k8s.ApiException) {
    const e = err as k8s.ApiException<unknown>;
    let body: { reason?: string; message?: string } = {};
    try {
      body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as typeof body;
    } catch {
      body = {};
    }
    return {
      status: e.code,
      reason: body.reason ?? String(e.code),
      message: body.message ?? `HTTP ${e.code}`,
    };
  }
  const code = (err as { code?: string }).code;
  return { status: undefined, reason: code ?? 'NetworkError', message: (err as Error).message };
}

/** Maps an API failure to our error, logging-safe: the message never carries the request body. */
function kubeError(op: string, err: unknown): KubeApiError {
  const { status, reason, message } = statusOf(err);
  return new KubeApiError(`${op}: ${status ?? 'no response'} ${reason}: ${message}`, reason, status, err);
}

/**
 * client-node 1.4 (node-fetch) sets no timeout: a blackholed API server would hang a call, and with it the
 * single-flight sync every admission joins. Give up after this long; the retry and resync logic goes on.
 */
const API_TIMEOUT_MS = 10_000;

async function call<T>(op: string, fn: () => Promise<T>): Promise<T> {
  let outcome;
  try {
    outcome = await raceTimeout(fn(), API_TIMEOUT_MS);
  } catch (err) {
    throw kubeError(op, err);
  }
  if (outcome.done) return outcome.value;
  throw new KubeApiError(`${op}: no response within ${API_TIMEOUT_MS} ms`, 'Timeout', undefined, undefined);
}

function toSecret(s: k8s.V1Secret): SecretObject {
  return {
    metadata: { ...s.metadata, name: s.metadata?.name ?? '', namespace: s.metadata?.namespace ?? '' },
    type: s.type,
    data: s.data,
  };
}

export interface KubeClientOptions {
  /** A kubeconfig file (--kubeconfig / KUBECONFIG). */
  kubeconfig?: string;
  /** Running in a pod (KUBERNETES_SERVICE_HOST set): use the service account. */
  inCluster: boolean;
  /** Prefix of /var/run/secrets/kubernetes.io/serviceaccount (tests point it at a temp dir). */
  serviceAccountRoot?: string;
  /** What needs the API, for the error when there is no config: e.g. "--drift-interval lists pods". */
  purpose?: string;
}

/**
 * An explicit kubeconfig wins, then in-cluster config. No silent fallback to client-node's default
 * (http://localhost:8080), which only produces a confusing error at the first call.
 */
export function loadKubeConfig(opts: KubeClientOptions): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const source = opts.kubeconfig ?? 'in-cluster config';
  if (!opts.kubeconfig && !opts.inCluster) {
    throw new FnPinnerError(
      'BAD_CONFIG',
      `load Kubernetes config: not running in a cluster and no --kubeconfig (or KUBECONFIG) given; ${opts.purpose ?? 'private registries and --webhook-config-name need the API'}`,
    );
  }
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromCluster(opts.serviceAccountRoot ?? '');
  } catch (err) {
    throw new FnPinnerError(
      'BAD_CONFIG',
      `load Kubernetes config from ${source}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!kc.getCurrentCluster())
    throw new FnPinnerError('BAD_CONFIG', `load Kubernetes config from ${source}: no current cluster`);
  return kc;
}

export function createSecretApi(kc: k8s.KubeConfig): SecretApi {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return {
    async read(namespace, name) {
      try {
        return toSecret(
          await call(`get secret ${namespace}/${name}`, () => core.readNamespacedSecret({ namespace, name })),
        );
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    create: async (secret) =>
      toSecret(
        await call(`create secret ${secret.metadata.namespace}/${secret.metadata.name}`, () =>
          core.createNamespacedSecret({ namespace: secret.metadata.namespace, body: secret }),
        ),
      ),
    replace: async (secret) =>
      toSecret(
        await call(`update secret ${secret.metadata.namespace}/${secret.metadata.name}`, () =>
          core.replaceNamespacedSecret({
            namespace: secret.metadata.namespace,
            name: secret.metadata.name,
            body: secret,
          }),
        ),
      ),
    async delete(namespace, name) {
      await call(`delete secret ${namespace}/${name}`, () =>
        core.deleteNamespacedSecret({ namespace, name }),
      );
    },
  };
}

export function createWebhookConfigApi(kc: k8s.KubeConfig): WebhookConfigApi {
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  return {
    async setCaBundle(name, caBundle) {
      const op = `update caBundle of mutatingwebhookconfiguration ${name}`;
      const current = await call(op, () => admission.readMutatingWebhookConfiguration({ name }));
      const hooks = current.webhooks ?? [];
      const merged = hooks.map((h) => mergeCaBundle(h.clientConfig.caBundle, caBundle));
      if (hooks.every((h, i) => h.clientConfig.caBundle === merged[i])) return false;
      hooks.forEach((h, i) => (h.clientConfig.caBundle = merged[i]));
      // resourceVersion from the read makes this an optimistic update: a concurrent edit gets a Conflict.
      await call(op, () => admission.replaceMutatingWebhookConfiguration({ name, body: current }));
      return true;
    },
  };
}

/** A pod as the API serves it (wire JSON). Its readers check every field they use. */
export type PodJson = Record<string, unknown>;

export interface PodApi {
  /** The pods of one namespace, or of every namespace when none is given; follows pagination. */
  list(opts: { namespace?: string; labelSelector?: string }): Promise<PodJson[]>;
}

/**
 * The fields an audit reads, under their wire names (client-node's models use the same names for these),
 * and nothing else: a scan of thousands of pods keeps only what it needs.
 */
function podJson(pod: k8s.V1Pod): PodJson {
  const names = (list: Array<{ name: string; image?: string }> | undefined): unknown =>
    list?.map((c) => ({ name: c.name, image: c.image }));
  const { name, namespace, annotations, labels } = pod.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, annotations, labels },
    spec: {
      containers: names(pod.spec?.containers),
      initContainers: names(pod.spec?.initContainers),
      ephemeralContainers: names(pod.spec?.ephemeralContainers),
    },
  };
}

/** Pages keep each answer bounded; the page count bounds a server that keeps saying "continue". */
const POD_PAGE_SIZE = 500;
const MAX_POD_PAGES = 1_000;

export function createPodApi(kc: k8s.KubeConfig): PodApi {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return {
    async list({ namespace, labelSelector }) {
      const where = namespace === undefined ? 'all namespaces' : `namespace ${namespace}`;
      const op = `list pods in ${where}${labelSelector ? ` with selector ${labelSelector}` : ''}`;
      const pods: PodJson[] = [];
      let token: string | undefined;
      for (let page = 0; page < MAX_POD_PAGES; page++) {
        const params = { labelSelector, limit: POD_PAGE_SIZE, _continue: token };
        const list = await call(op, () =>
          namespace === undefined
            ? core.listPodForAllNamespaces(params)
            : core.listNamespacedPod({ namespace, ...params }),
        );
        for (const item of list.items) pods.push(podJson(item));
        token = list.metadata?._continue;
        if (!token) return pods;
      }
      throw new KubeApiError(`${op}: more than ${MAX_POD_PAGES} pages`, 'TooManyPages', undefined, undefined);
    },
  };
}
