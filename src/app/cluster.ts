import type { Config } from '../config/load.js';
import { PULL_SECRET_TUNABLES } from '../config/tunables.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { createSecretApi, createWebhookConfigApi, loadKubeConfig } from '../kube/client.js';
import type { PodApi, SecretApi, WebhookConfigApi } from '../kube/client.js';
import { PullSecretSync } from '../secrets/sync.js';
import type { PullSecretSource } from '../secrets/sync.js';
import { createCaBundlePublisher } from './ca-bundle.js';

/** What `serve` does against the Kubernetes API: the pull Secret sync and the caBundle of its webhook config. */
export interface ClusterSide {
  sync: PullSecretSync | undefined;
  /** Publishes a (new) CA in the MutatingWebhookConfiguration, when --webhook-config-name is set. */
  publishCa(caPem: string): Promise<void>;
  stop(): void;
}

/** Tests may hand in their own API clients (e.g. against a test kube-apiserver, or in memory). */
export interface ClusterApis {
  secrets: SecretApi;
  webhooks: WebhookConfigApi;
  /** For the drift gauge (--drift-interval); made from the kubeconfig when absent. */
  pods?: PodApi;
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
    return { sync: undefined, publishCa: () => Promise.resolve(), stop: () => undefined };
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
    publishCa: createCaBundlePublisher(webhooks, webhookConfigName, log),
    stop: () => sync?.stop(),
  };
}
