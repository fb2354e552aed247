import { collectDefaultMetrics } from 'prom-client';

import { createAdmissionEndpoint } from '../admission/endpoint.js';
import type { Config } from '../config/load.js';
import { admissionOptions } from '../config/options.js';
import { HTTPS_TUNABLES, POD_SECRET_TUNABLES, SHUTDOWN_TUNABLES } from '../config/tunables.js';
import type { PodApi } from '../kube/client.js';
import type { Logger } from '../logging.js';
import { createMetrics } from '../metrics.js';
import type { Metrics } from '../metrics.js';
import { createApp } from '../server/app.js';
import { PodPullSecrets } from '../sources/pod-pull-secrets.js';
import { startHttpsServer } from '../server/https.js';
import { clusterPodApi } from './audit.js';
import { createServingCerts } from './cert-sources.js';
import { podSecretReader, startClusterSide } from './cluster.js';
import type { ClusterApis } from './cluster.js';
import { startDriftCheck } from './drift.js';
import type { DriftCheck } from './drift.js';
import { readinessOf } from './readiness.js';
import type { ReadinessGate } from './readiness.js';
import { createResolverStack } from './resolver-stack.js';
import { startWarmUp } from './warm-up.js';
import type { WarmUp } from './warm-up.js';

export interface RunningWebhook {
  port: number;
  caPem: string;
  metrics: Metrics;
  warmUp: WarmUp;
  /** With --drift-interval only. */
  drift: DriftCheck | undefined;
  /**
   * Reports not ready for notReadyMs while still serving (so the API server stops picking this endpoint),
   * then stops accepting, drains in-flight reviews (up to graceMs) and releases everything.
   */
  close(graceMs?: number, notReadyMs?: number): Promise<void>;
}

/** The drift gauge's pod API is made at start, so that a broken kubeconfig fails start-up, not every check. */
async function driftPods(config: Config, apis: ClusterApis | undefined): Promise<PodApi | undefined> {
  if (config.drift.intervalMs <= 0) return undefined;
  return apis?.pods ?? clusterPodApi(config, '--drift-interval lists pods');
}

/** The webhook process: certificates → resolver → admission → HTTPS, plus the cluster side. */
export async function startWebhook(
  config: Config,
  log: Logger,
  overrides: { apis?: ClusterApis } = {},
): Promise<RunningWebhook> {
  const metrics = createMetrics();
  collectDefaultMetrics({ register: metrics.registry });
  const pods = await driftPods(config, overrides.apis);
  const pullSecretReader = podSecretReader(config, overrides.apis);
  const stack = createResolverStack(config, log, metrics);
  stack.watch();
  const cluster = startClusterSide(config, { log, metrics, source: stack.customConfig, ...overrides });
  // With the shared Secret this waits for one attempt to read it (each API call times out), so that a
  // replica normally listens with the certificate it will keep; see cert-sources.ts.
  const certs = await createServingCerts(config, { log, metrics, cluster }).catch(async (err: unknown) => {
    cluster.stop();
    await stack.close();
    throw err;
  });
  const warmUp = startWarmUp({
    images: config.inputs.warmImages,
    source: stack.resolver,
    timeoutMs: config.warm.timeoutMs,
    log: log.child({ component: 'warm-up' }),
  });
  const endpoint = createAdmissionEndpoint({
    source: stack.resolver,
    options: admissionOptions(config),
    log,
    observe: (reason, _seconds, code) => {
      metrics.admissionReviews.inc({ reason });
      if (code !== undefined) metrics.admissionErrors.inc({ reason, code });
    },
    ...(cluster.sync ? { pullSecret: cluster.sync } : {}),
    ...(pullSecretReader
      ? {
          podCredentials: new PodPullSecrets({
            ...POD_SECRET_TUNABLES,
            api: pullSecretReader,
            log: log.child({ component: 'pod-pull-secrets' }),
          }),
        }
      : {}),
  });
  // Ready once the certificate is served and its CA is in the caBundle (when we publish it), and with
  // private registries once the first pull-secret sync has succeeded, and with --warm-images once the
  // warm-up (or its timeout) is over. While shutting down we report not ready first. Each concern is one gate.
  let stopping = false;
  const gates: ReadinessGate[] = [
    () => (stopping ? 'shutting down' : undefined),
    () => certs.notReadyReason(),
    () => cluster.sync?.notReadyReason(),
    () => warmUp.notReadyReason(),
  ];
  const release = async (): Promise<void> => {
    warmUp.stop();
    certs.stop();
    cluster.stop();
    await stack.close();
  };
  const readiness = readinessOf(gates);
  const server = await startHttpsServer(createApp({ endpoint, readiness, metrics, log }), {
    ...HTTPS_TUNABLES,
    host: config.server.host,
    port: config.server.port,
    certs: certs.certs,
    log,
  }).catch(async (err: unknown) => {
    // Release what is already running (watchers, agents), or the process would linger after the error.
    await release();
    throw err;
  });
  // In the background: a slow or unreachable API server keeps the webhook not ready, not from listening.
  certs.start((c) => server.updateCerts(c));
  const drift =
    pods &&
    startDriftCheck({
      pods,
      source: stack.resolver,
      namespaces: config.cluster.podNamespaces,
      intervalMs: config.drift.intervalMs,
      metrics,
      log: log.child({ component: 'drift' }),
    });
  log.info(
    {
      host: config.server.host,
      port: server.port,
      certDir: config.server.certDir,
      failurePolicy: config.admission.failurePolicy,
    },
    'fn-pinner webhook listening',
  );
  return {
    port: server.port,
    caPem: certs.certs.caPem,
    metrics,
    warmUp,
    drift,
    async close(graceMs = SHUTDOWN_TUNABLES.drainMs, notReadyMs = 0): Promise<void> {
      // Endpoints are removed asynchronously: keep answering while /readyz says no, then drain. Each
      // answer meanwhile closes its connection, so clients reconnect (to another endpoint) instead of
      // reusing a connection that is about to close; what is still idle at the end is closed at once.
      stopping = true;
      drift?.stop();
      server.endKeepAlive();
      if (notReadyMs > 0) await new Promise((resolve) => setTimeout(resolve, notReadyMs));
      certs.stop();
      await server.close(graceMs);
      await release();
    },
  };
}

/** `fn-pinner serve` as a process: runs until SIGTERM or SIGINT, then drains. Resolves to the exit code. */
export async function runWebhook(config: Config, log: Logger): Promise<number> {
  try {
    const webhook = await startWebhook(config, log);
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    log.info({ signal }, 'shutting down: draining in-flight reviews');
    await webhook.close(SHUTDOWN_TUNABLES.drainMs, SHUTDOWN_TUNABLES.notReadyMs);
    log.info('stopped');
    return 0;
  } catch (err) {
    log.fatal({ err }, 'fn-pinner serve failed');
    return 1;
  }
}
