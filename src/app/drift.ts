import { auditPods, podStatus } from '../audit/audit.js';
import type { TagSource } from '../audit/audit.js';
import { AUDIT_STATUSES } from '../audit/types.js';
import type { AuditStatus } from '../audit/types.js';
import { BULK_RESOLVE_CONCURRENCY } from '../config/tunables.js';
import type { PodApi } from '../kube/client.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { listPods } from './audit.js';

/**
 * The drift gauge of `serve --drift-interval` (issue 11): every interval, the pods of --pod-namespace are
 * audited with the same code as `fn-pinner audit` and the webhook's own cached resolver, so a moved tag shows
 * once its cached mapping is revalidated (within --tag-ttl). Checks never overlap: the next one is
 * scheduled when the last one ends. A failed listing (RBAC, API down) is logged and counted, and leaves the
 * gauges as they were, with the last-check time going stale.
 */
export interface DriftCheckDeps {
  pods: PodApi;
  source: TagSource;
  namespaces: string[];
  intervalMs: number;
  metrics: Metrics;
  log: Logger;
}

export interface DriftCheck {
  /** Runs one check now (tests; the timer keeps running). */
  checkNow(): Promise<void>;
  stop(): void;
}

async function check(deps: DriftCheckDeps): Promise<void> {
  const started = performance.now();
  const { metrics, log } = deps;
  try {
    const pods = await listPods(deps.pods, { namespaces: deps.namespaces, selector: undefined });
    const report = await auditPods(pods, {
      source: deps.source,
      drift: true,
      concurrency: BULK_RESOLVE_CONCURRENCY,
    });
    const counts = Object.fromEntries(AUDIT_STATUSES.map((s) => [s, 0])) as Record<AuditStatus, number>;
    for (const pod of report.pods) counts[podStatus(pod)]++;
    for (const status of AUDIT_STATUSES) metrics.pods.set({ status }, counts[status]);
    metrics.driftLastCheck.set(Date.now() / 1000);
    metrics.driftChecks.inc({ result: 'ok' });
    log.info(
      { pods: counts, containers: report.summary, durationMs: Math.round(performance.now() - started) },
      'drift check',
    );
  } catch (err) {
    metrics.driftChecks.inc({ result: 'failed' });
    log.warn({ err, namespaces: deps.namespaces }, 'drift check failed');
  }
}

export function startDriftCheck(deps: DriftCheckDeps): DriftCheck {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  const run = (): Promise<void> => {
    running ??= check(deps).finally(() => {
      running = undefined;
      if (!stopped) schedule();
    });
    return running;
  };
  const schedule = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void run(), deps.intervalMs);
  };
  void run();
  return {
    async checkNow() {
      // One that starts now, not the one in flight (which may have listed the pods before a change).
      if (running) await running;
      return run();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
