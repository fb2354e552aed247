import { collectDefaultMetrics } from 'prom-client';

import { createAdmissionEndpoint } from '../admission/endpoint.js';
import type { Config } from '../config/load.js';
import { admissionOptions } from '../config/options.js';
import { HTTPS_TUNABLES, SHUTDOWN_TUNABLES } from '../config/tunables.js';
import type { PodApi } from '../kube/client.js';
import type { Logger } from '../logging.js';
import { createMetrics } from '../metrics.js';
import type { Metrics } from '../metrics.js';
import { createApp } from '../server/app.js';
import { startHttpsServer } from '../server/https.js';
import type { Readiness } from '../server/types.js';
import { ServingCertManager } from '../tls/serving-watcher.js';
import { clusterPodApi } from './audit.js';
import { startClusterSide } from './cluster.js';
import type { ClusterApis } from './cluster.js';
import { startDriftCheck } from './drift.js';
import type { DriftCheck } from './drift.js';
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
  const certs = new ServingCertManager({
    dir: config.server.certDir,
    service: config.server.serviceName,
    namespace: config.server.serviceNamespace,
    generate: config.server.selfSignedCerts,
    log,
  });
  const pods = await driftPods(config, overrides.apis);
  const stack = createResolverStack(config, log, metrics);
  stack.watch();
  const warmUp = startWarmUp({
    images: config.inputs.warmImages,
    source: stack.resolver,
    timeoutMs: config.warm.timeoutMs,
    log: log.child({ component: 'warm-up' }),
  });
  const cluster = startClusterSide(config, { log, metrics, source: stack.customConfig, ...overrides });
  const endpoint = createAdmissionEndpoint({
    source: stack.resolver,
    options: admissionOptions(config),
    log,
    observe: (reason) => metrics.admissionReviews.inc({ reason }),
    ...(cluster.sync ? { pullSecret: cluster.sync } : {}),
  });
  // Certificates are loaded and the resolver configured before we listen; with private registries the
  // first pull-secret sync must also have succeeded, and with --warm-images the warm-up (or its timeout)
  // must be over. While shutting down we report not ready first.
  let stopping = false;
  const readiness: Readiness = {
    notReadyReason: () =>
      stopping ? 'shutting down' : (warmUp.notReadyReason() ?? cluster.sync?.notReadyReason()),
  };
  // Not awaited: a slow or unreachable API server must not keep the webhook from listening.
  void cluster.publishCa(certs.certs.caPem);
  const release = async (): Promise<void> => {
    certs.stop();
    cluster.stop();
    warmUp.stop();
    await stack.close();
  };
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
  const unsubscribe = certs.onChange((c) => {
    server.updateCerts(c);
    void cluster.publishCa(c.caPem);
  });
  certs.start();
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
      // Endpoints are removed asynchronously: keep answering while /readyz says no, then drain.
      stopping = true;
      if (notReadyMs > 0) await new Promise((resolve) => setTimeout(resolve, notReadyMs));
      unsubscribe();
      drift?.stop();
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
