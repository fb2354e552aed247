import type { Config } from '../config/load.js';
import { SERVING_CERT_TUNABLES } from '../config/tunables.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { WebhookTlsSecret } from '../secrets/webhook-tls.js';
import { caBundle } from '../tls/ca-bundle.js';
import { errorMessage } from '../tls/pem.js';
import { ensureServingCerts } from '../tls/serving.js';
import type { ServingCerts } from '../tls/serving.js';
import { chainNotAfter } from '../tls/serving-check.js';
import { ServingCertManager } from '../tls/serving-watcher.js';
import type { ClusterSide } from './cluster.js';
import { ServingCertsController } from './serving-certs.js';
import type { CertCandidate, CertSource } from './serving-certs.js';

/**
 * Where the serving certificate comes from:
 * - self-signed with --webhook-tls-secret-name: the Secret all replicas share (created by the first);
 * - otherwise --cert-dir: issued and rotated there (self-signed), or only loaded (cert-manager).
 */
export async function createServingCerts(
  config: Config,
  deps: { log: Logger; metrics: Metrics; cluster: ClusterSide },
): Promise<ServingCertsController> {
  const { log, metrics, cluster } = deps;
  const common = { log, metrics, publisher: cluster.publisher, ...SERVING_CERT_TUNABLES };
  const secret = sharedSecret(config, cluster, log);
  if (secret === undefined) {
    const source = dirSource(config, log);
    return new ServingCertsController({ ...common, source, initial: await source.load() });
  }
  const source = secretSource(secret);
  try {
    return new ServingCertsController({ ...common, source, initial: await source.load() });
  } catch (err) {
    // Listen anyway, not ready and saying why, rather than not at all: /healthz and /readyz answer, and
    // the loop retries the Secret. The stand-in is never published, so nothing trusts it.
    const standIn = `cannot use Secret ${secret.ref}: ${errorMessage(err)}`;
    log.error(
      { err: errorMessage(err), secret: secret.ref },
      'serving a stand-in certificate until the shared Secret is usable',
    );
    const certs = ensureServingCerts({ ...certDirOptions(config), generate: true }).certs;
    return new ServingCertsController({ ...common, source, initial: candidateOf(certs), standIn });
  }
}

export function candidateOf(certs: ServingCerts): CertCandidate {
  return { certs, trusted: caBundle(certs.caPem), notAfter: chainNotAfter(certs) ?? new Date(0) };
}

function certDirOptions(config: Config): { dir: string; service: string; namespace: string } {
  return {
    dir: config.server.certDir,
    service: config.server.serviceName,
    namespace: config.server.serviceNamespace,
  };
}

function sharedSecret(config: Config, cluster: ClusterSide, log: Logger): WebhookTlsSecret | undefined {
  const name = config.server.tlsSecretName;
  const { publisher, secrets } = cluster;
  if (!config.server.selfSignedCerts || name === undefined || !publisher || !secrets) return undefined;
  return new WebhookTlsSecret({
    ...SERVING_CERT_TUNABLES,
    api: secrets,
    name,
    service: config.server.serviceName,
    namespace: config.server.serviceNamespace,
    publish: (trusted) => publisher.publish(trusted),
    log: log.child({ component: 'webhook-tls-secret' }),
  });
}

function secretSource(secret: WebhookTlsSecret): CertSource {
  return {
    polled: true,
    load: () => secret.sync(),
    onChange: () => () => undefined,
    start: () => undefined,
    stop: () => undefined,
  };
}

/** Loads (or issues) the certificates right away: a problem with them fails the start (BAD_CONFIG). */
function dirSource(config: Config, log: Logger): CertSource {
  const manager = new ServingCertManager({
    ...certDirOptions(config),
    generate: config.server.selfSignedCerts,
    log,
  });
  return {
    polled: false,
    load: () => Promise.resolve(candidateOf(manager.certs)),
    onChange: (listener) => manager.onChange(() => listener()),
    start: () => manager.start(),
    stop: () => manager.stop(),
  };
}
