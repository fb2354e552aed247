import type { Logger } from '../logging.js';
import type { WebhookConfigApi } from '../kube/client.js';
import { caBundle } from '../tls/ca-bundle.js';

/**
 * Publishes the CA this instance serves with into its MutatingWebhookConfiguration (--webhook-config-name),
 * keeping the other still-valid CAs so replicas and rollouts overlap. Failure is logged, not fatal: with
 * cert-manager's CA injector, or a caBundle set at install, admission still works.
 */
export function createCaBundlePublisher(
  api: WebhookConfigApi,
  name: string | undefined,
  log: Logger,
): (caPem: string) => Promise<void> {
  return async (caPem) => {
    if (!name) return;
    try {
      const changed = await api.setCaBundle(name, caBundle(caPem));
      log.info({ webhookConfiguration: name, changed }, 'caBundle published');
    } catch (err) {
      log.error(
        { err: (err as Error).message, webhookConfiguration: name },
        'could not publish the caBundle',
      );
    }
  };
}
