import type { Config } from '../config/load.js';
import { POD_SECRET_TUNABLES, PULL_SECRET_TUNABLES } from '../config/tunables.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import {
  createPullSecretReader,
  createSecretApi,
  createWebhookConfigApi,
  loadKubeConfig,
} from '../kube/client.js';
import type { PodApi, PullSecretReader, SecretApi, WebhookConfigApi } from '../kube/client.js';
import { PullSecretSync } from '../secrets/sync.js';
import type { PullSecretSource } from '../secrets/sync.js';
import { createCaPublisher } from './ca-bundle.js';
import type { CaPublisher } from './ca-bundle.js';

/**
 * What `serve` does against the Kubernetes API: the pull Secret sync, the caBundle of its webhook config,
 * and (self-signed with --webhook-tls-secret-name) the Secret the replicas share their certificate through.
 */
export interface ClusterSide {
  sync: PullSecretSync | undefined;
  /** When --webhook-config-name is set. */
  publisher: CaPublisher | undefined;
  /** Whenever the API is used at all. */
  secrets: SecretApi | undefined;
  stop(): void;
}

/** Tests may hand in their own API clients (e.g. against a test kube-apiserver, or in memory). */
export interface ClusterApis {
  secrets: SecretApi;
  webhooks: WebhookConfigApi;
  /** For the drift gauge (--drift-interval); made from the kubeconfig when absent. */
  pods?: PodApi;
  /** For --pod-pull-secrets; made from the kubeconfig when absent. */
  pullSecrets?: PullSecretReader;
}

/** --pod-pull-secrets: made at start, so that a broken kubeconfig fails start-up, not every review. */
export function podSecretReader(config: Config, apis: ClusterApis | undefined): PullSecretReader | undefined {
  if (!config.auth.podPullSecrets) return undefined;
  if (apis?.pullSecrets) return apis.pullSecrets;
  const kc = loadKubeConfig({
    kubeconfig: config.cluster.kubeconfig,
    inCluster: config.inputs.inCluster,
    purpose: '--pod-pull-secrets reads Secrets and ServiceAccounts',
  });
  return createPullSecretReader(kc, { timeoutMs: POD_SECRET_TUNABLES.apiTimeoutMs });
}

function apis(config: Config): ClusterApis {
  const kc = loadKubeConfig({ kubeconfig: config.cluster.kubeconfig, inCluster: config.inputs.inCluster });
  return { secrets: createSecretApi(kc), webhooks: createWebhookConfigApi(kc) };
}

export function startClusterSide(
  config: Config,
  deps: { log: Logger; metrics: Metrics; source: PullSecretSource | undefined; apis?: ClusterApis },
): ClusterSide {
  const { log, metrics, source } = deps;
  const webhookConfigName = config.cluster.webhookConfigName;
  if (!source && webhookConfigName === undefined) {
    return { sync: undefined, publisher: undefined, secrets: undefined, stop: () => undefined };
  }
  const { secrets, webhooks } = deps.apis ?? apis(config);
  const sync =
    source &&
    new PullSecretSync({
      ...PULL_SECRET_TUNABLES,
      api: secrets,
      source,
      name: config.auth.pullSecretName,
      namespaces: config.cluster.podNamespaces,
      resyncMs: config.cluster.secretResyncMs,
      log: log.child({ component: 'pull-secret-sync' }),
      metrics,
    });
  sync?.start();
  return {
    sync,
    publisher:
      webhookConfigName === undefined ? undefined : createCaPublisher(webhooks, webhookConfigName, log),
    secrets,
    stop: () => sync?.stop(),
  };
}
