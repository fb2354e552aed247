import type { ServeConfig } from './config.js';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import { createSecretApi, createWebhookConfigApi, loadKubeConfig } from './secrets/kube.js';
import type { SecretApi, WebhookConfigApi } from './secrets/kube.js';
import { PullSecretSync } from './secrets/sync.js';
import { caBundle } from './tls/serving.js';

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
}

function apis(config: ServeConfig): ClusterApis {
  const kc = loadKubeConfig(config.secrets);
  return { secrets: createSecretApi(kc), webhooks: createWebhookConfigApi(kc) };
}

export function startClusterSide(
  config: ServeConfig,
  deps: { log: Logger; metrics: Metrics; apis?: ClusterApis },
): ClusterSide {
  const { log, metrics } = deps;
  const needsApi = config.auth.enablePrivateRegistries || config.server.webhookConfigName !== undefined;
  if (!needsApi) return { sync: undefined, publishCa: () => Promise.resolve(), stop: () => undefined };
  const { secrets, webhooks } = deps.apis ?? apis(config);
  let sync: PullSecretSync | undefined;
  if (config.auth.enablePrivateRegistries) {
    sync = new PullSecretSync({
      api: secrets,
      sourcePath: config.auth.registryAuthSecretPath,
      name: config.admission.mutation.pullSecret?.name ?? 'auth-secret',
      namespaces: config.secrets.podNamespaces,
      resyncMs: config.secrets.resyncMs,
      log: log.child({ component: 'pull-secret-sync' }),
      metrics,
    });
    sync.start();
  }
  const name = config.server.webhookConfigName;
  return {
    sync,
    async publishCa(caPem: string): Promise<void> {
      if (!name) return;
      try {
        const changed = await webhooks.setCaBundle(name, caBundle(caPem));
        log.info({ webhookConfiguration: name, changed }, 'caBundle published');
      } catch (err) {
        // Not fatal: with cert-manager's CA injector (or a caBundle set at install) admission still works.
        log.error(
          { err: (err as Error).message, webhookConfiguration: name },
          'could not publish the caBundle',
        );
      }
    },
    stop: () => sync?.stop(),
  };
}
