import * as k8s from '@kubernetes/client-node';

import { FnPinnerError } from '../errors.js';
import { raceTimeout } from '../util/timeout.js';
import { mergeCaBundle } from '../tls/ca-bundle.js';
import type {
  PodApi,
  PodJson,
  PullSecretReader,
  SecretApi,
  SecretObject,
  WebhookConfigApi,
} from './types.js';

export type * from './types.js';

/**
 * The only module that talks to the Kubernetes API (and imports @kubernetes/client-node). Reads are plain
 * GETs: no informer, so no list/watch RBAC, and nothing that blocks waiting for a cache to sync. The data
 * types it hands out are in types.ts.
 */

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
  if ((err as Error | undefined)?.name === 'AbortError') {
    return { status: undefined, reason: 'Timeout', message: 'request aborted at its deadline' };
  }
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
export const API_TIMEOUT_MS = 10_000;
/** The race below only backs up the abort (a hang before the request is sent, e.g. in an auth plugin). */
const BACKSTOP_MS = 1_000;

/**
 * Aborts the HTTP request itself at the deadline, through the per-call middleware of the generated API:
 * node-fetch then destroys the socket. Racing a timer alone gave up on the call but left its request
 * running, so every call to a hung API server left a socket open.
 */
function abortAfter(ms: number): k8s.ConfigurationOptions {
  const middleware: k8s.ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(AbortSignal.timeout(ms));
      return new k8s.Observable(Promise.resolve(context));
    },
    post: (context) => new k8s.Observable(Promise.resolve(context)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

async function call<T>(
  op: string,
  ms: number,
  fn: (options: k8s.ConfigurationOptions) => Promise<T>,
): Promise<T> {
  let outcome;
  try {
    outcome = await raceTimeout(fn(abortAfter(ms)), ms + BACKSTOP_MS);
  } catch (err) {
    throw kubeError(op, err);
  }
  if (outcome.done) return outcome.value;
  throw new KubeApiError(`${op}: no response within ${ms} ms`, 'Timeout', undefined, undefined);
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

export interface KubeCallOptions {
  /** Per call, the request included; default API_TIMEOUT_MS. */
  timeoutMs?: number;
}

export function createSecretApi(kc: k8s.KubeConfig, opts: KubeCallOptions = {}): SecretApi {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const ms = opts.timeoutMs ?? API_TIMEOUT_MS;
  const ref = (s: SecretObject): string => `${s.metadata.namespace}/${s.metadata.name}`;
  return {
    async read(namespace, name) {
      try {
        return toSecret(
          await call(`get secret ${namespace}/${name}`, ms, (o) =>
            core.readNamespacedSecret({ namespace, name }, o),
          ),
        );
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    create: async (secret) =>
      toSecret(
        await call(`create secret ${ref(secret)}`, ms, (o) =>
          core.createNamespacedSecret({ namespace: secret.metadata.namespace, body: secret }, o),
        ),
      ),
    replace: async (secret) =>
      toSecret(
        await call(`update secret ${ref(secret)}`, ms, (o) =>
          core.replaceNamespacedSecret(
            { namespace: secret.metadata.namespace, name: secret.metadata.name, body: secret },
            o,
          ),
        ),
      ),
    async delete(namespace, name, preconditions) {
      await call(`delete secret ${namespace}/${name}`, ms, (o) =>
        core.deleteNamespacedSecret({ namespace, name, body: { preconditions } }, o),
      );
    },
  };
}

export function createWebhookConfigApi(kc: k8s.KubeConfig, opts: KubeCallOptions = {}): WebhookConfigApi {
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const ms = opts.timeoutMs ?? API_TIMEOUT_MS;
  return {
    async setCaBundle(name, caBundle) {
      const op = `update caBundle of mutatingwebhookconfiguration ${name}`;
      const current = await call(op, ms, (o) => admission.readMutatingWebhookConfiguration({ name }, o));
      const hooks = current.webhooks ?? [];
      const merged = hooks.map((h) => mergeCaBundle(h.clientConfig.caBundle, caBundle));
      if (hooks.every((h, i) => h.clientConfig.caBundle === merged[i])) return false;
      hooks.forEach((h, i) => (h.clientConfig.caBundle = merged[i]));
      // resourceVersion from the read makes this an optimistic update: a concurrent edit gets a Conflict.
      await call(op, ms, (o) => admission.replaceMutatingWebhookConfiguration({ name, body: current }, o));
      return true;
    },
  };
}

async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    throw err;
  }
}

export function createPullSecretReader(kc: k8s.KubeConfig, opts: KubeCallOptions = {}): PullSecretReader {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const ms = opts.timeoutMs ?? API_TIMEOUT_MS;
  return {
    readSecret: async (namespace, name) => {
      const read = call(`get secret ${namespace}/${name}`, ms, (o) =>
        core.readNamespacedSecret({ namespace, name }, o),
      );
      const secret = await orUndefined(read);
      return secret && toSecret(secret);
    },
    readServiceAccount: async (namespace, name) => {
      const read = call(`get serviceaccount ${namespace}/${name}`, ms, (o) =>
        core.readNamespacedServiceAccount({ namespace, name }, o),
      );
      const sa = await orUndefined(read);
      if (!sa) return undefined;
      const { resourceVersion } = sa.metadata ?? {};
      return {
        metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
        imagePullSecrets: (sa.imagePullSecrets ?? []).flatMap((r) => (r.name ? [r.name] : [])),
      };
    },
  };
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
        const list = await call(op, API_TIMEOUT_MS, (o) =>
          namespace === undefined
            ? core.listPodForAllNamespaces(params, o)
            : core.listNamespacedPod({ namespace, ...params }, o),
        );
        for (const item of list.items) pods.push(podJson(item));
        token = list.metadata?._continue;
        if (!token) return pods;
      }
      throw new KubeApiError(`${op}: more than ${MAX_POD_PAGES} pages`, 'TooManyPages', undefined, undefined);
    },
  };
}
