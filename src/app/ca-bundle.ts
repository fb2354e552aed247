import type { Logger } from '../logging.js';
import type { WebhookConfigApi } from '../kube/client.js';

/** Publishes CAs into the caBundle of fn-pinner's MutatingWebhookConfiguration (--webhook-config-name). */
export interface CaPublisher {
  readonly name: string;
  /**
   * Makes every webhook's caBundle hold every CA of `trusted` (a caBundle: base64 PEM), keeping the other
   * still-valid CAs so that replicas and rollouts overlap. Resolves to whether it had to change anything;
   * throws what the API throws (a Conflict with another writer included: the caller retries).
   */
  publish(trusted: string): Promise<boolean>;
}

export function createCaPublisher(api: WebhookConfigApi, name: string, log: Logger): CaPublisher {
  return {
    name,
    async publish(trusted) {
      const changed = await api.setCaBundle(name, trusted);
      if (changed) log.info({ webhookConfiguration: name, changed }, 'caBundle published');
      return changed;
    },
  };
}
