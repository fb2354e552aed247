import { collectDefaultMetrics } from 'prom-client';

import { createAdmissionEndpoint } from './admission/endpoint.js';
import { startClusterSide } from './cluster.js';
import type { ClusterApis } from './cluster.js';
import { createResolverStack } from './compose.js';
import type { ServeConfig } from './config.js';
import type { Logger } from './logging.js';
import { createMetrics } from './metrics.js';
import type { Metrics } from './metrics.js';
import { createApp } from './server/app.js';
import { startHttpsServer } from './server/https.js';
import type { Readiness } from './server/types.js';
import { ServingCertManager } from './tls/serving-watcher.js';

export interface RunningWebhook {
  port: number;
  caPem: string;
  metrics: Metrics;
  /**
   * Reports not ready for notReadyMs while still serving (so the API server stops picking this endpoint),
   * then stops accepting, drains in-flight reviews (up to graceMs) and releases everything.
   */
  close(graceMs?: number, notReadyMs?: number): Promise<void>;
}

/** Composition root of `fn-pinner serve`: certificates → resolver → admission → HTTPS. */
export async function startWebhook(
  config: ServeConfig,
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
  const stack = createResolverStack(config, log, metrics);
  const cluster = startClusterSide(config, { log, metrics, ...overrides });
  const endpoint = createAdmissionEndpoint({
    source: stack.resolver,
    options: config.admission,
    log,
    observe: (reason) => metrics.admissionReviews.inc({ reason }),
    ...(cluster.sync ? { pullSecret: cluster.sync } : {}),
  });
  // Certificates are loaded and the resolver configured before we listen; with private registries the
  // first pull-secret sync must also have succeeded. While shutting down we report not ready first.
  let stopping = false;
  const readiness: Readiness = {
    notReadyReason: () => (stopping ? 'shutting down' : cluster.sync?.notReadyReason()),
  };
  // Not awaited: a slow or unreachable API server must not keep the webhook from listening.
  void cluster.publishCa(certs.certs.caPem);
  const app = createApp({ endpoint, readiness, metrics, log });
  let running;
  try {
    running = await startHttpsServer(app, {
      host: config.server.host,
      port: config.server.port,
      certs: certs.certs,
      log,
    });
  } catch (err) {
    // Release what is already running (watchers, agents), or the process would linger after the error.
    cluster.stop();
    await stack.close();
    throw err;
  }
  const server = running;
  const unsubscribe = certs.onChange((c) => {
    server.updateCerts(c);
    void cluster.publishCa(c.caPem);
  });
  certs.start();
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
    async close(graceMs?: number, notReadyMs = 0): Promise<void> {
      // Endpoints are removed asynchronously: keep answering while /readyz says no, then drain.
      stopping = true;
      if (notReadyMs > 0) await new Promise((resolve) => setTimeout(resolve, notReadyMs));
      unsubscribe();
      certs.stop();
      cluster.stop();
      await server.close(graceMs);
      await stack.close();
    },
  };
}
