import type { ServeConfig } from './config.js';
import type { Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import { createSecretApi, createWebhookConfigApi, loadKubeConfig } from './secrets/kube.js';
import { PullSecretSync } from './secrets/sync.js';
import { caBundle } from './tls/serving.js';

/** What `serve` does against the Kubernetes API: the pull Secret sync and the caBundle of its webhook config. */
export interface ClusterSide {
  sync: PullSecretSync | undefined;
  /** Publishes a (new) CA in the MutatingWebhookConfiguration, when --webhook-config-name is set. */
  publishCa(caPem: string): Promise<void>;
  stop(): void;
}

export function startClusterSide(config: ServeConfig, log: Logger, metrics: Metrics): ClusterSide {
  const needsApi = config.auth.enablePrivateRegistries || config.server.webhookConfigName !== undefined;
  if (!needsApi) return { sync: undefined, publishCa: () => Promise.resolve(), stop: () => undefined };
  const kc = loadKubeConfig({ kubeconfig: config.secrets.kubeconfig });
  let sync: PullSecretSync | undefined;
  if (config.auth.enablePrivateRegistries) {
    sync = new PullSecretSync({
      api: createSecretApi(kc),
      sourcePath: config.auth.registryAuthSecretPath,
      name: config.admission.mutation.pullSecret?.name ?? 'auth-secret',
      namespaces: config.secrets.podNamespaces,
      resyncMs: config.secrets.resyncMs,
      log: log.child({ component: 'pull-secret-sync' }),
      metrics,
    });
    sync.start();
  }
  const webhooks = createWebhookConfigApi(kc);
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
