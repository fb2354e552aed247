import type { Metrics } from './metrics.js';

/**
 * Metrics for one-shot commands, which export none: every metric accepts and drops its samples. Kept apart
 * from metrics.ts so that `resolve` and `mutate` never load prom-client (docs/benchmarks.md: CLI start-up).
 */
export function discardMetrics(): Metrics {
  const sink: Record<string, unknown> = {};
  for (const method of ['inc', 'dec', 'set', 'observe', 'reset']) sink[method] = (): void => undefined;
  sink.labels = (): unknown => sink;
  return new Proxy({} as Metrics, { get: () => sink });
}
