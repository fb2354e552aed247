import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * All Prometheus metrics, created against one registry per process (tests create their own, since the
 * global registry refuses a second registration of the same name).
 */
export function createMetrics(registry: Registry = new Registry()): Metrics {
  const registers = [registry];
  return {
    registry,
    registryRequests: new Counter({
      name: 'fn_pinner_registry_requests_total',
      help: 'HTTP requests sent to registries and token services, by registry (its host when configuration names it, else other)',
      labelNames: ['registry', 'kind', 'method', 'status'] as const,
      registers,
    }),
    cacheLookups: new Counter({
      name: 'fn_pinner_cache_lookups_total',
      help: 'Image metadata cache lookups by tier (tag, manifest, config) and result (hit, miss, revalidated, stale)',
      labelNames: ['tier', 'result'] as const,
      registers,
    }),
    singleFlightJoins: new Counter({
      name: 'fn_pinner_singleflight_joins_total',
      help: 'Resolutions that joined an identical resolution already in flight instead of calling the registry',
      registers,
    }),
    resolutions: new Counter({
      name: 'fn_pinner_resolutions_total',
      help: 'Image resolutions by outcome (ok or an error code)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    resolutionSeconds: new Histogram({
      name: 'fn_pinner_resolution_duration_seconds',
      help: 'Time to resolve one image (digest and entrypoint), cache hits included',
      labelNames: ['cache'] as const,
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    admissionReviews: new Counter({
      name: 'fn_pinner_admission_reviews_total',
      help: 'Admission reviews by decision reason (Patched, NotPatched, Skipped*, Denied, ErrorIgnored)',
      labelNames: ['reason'] as const,
      registers,
    }),
    admissionErrors: new Counter({
      name: 'fn_pinner_admission_errors_total',
      help: 'Reviews that could not pin a pod, by decision (Denied, ErrorIgnored) and error code',
      labelNames: ['reason', 'code'] as const,
      registers,
    }),
    servingCertExpiry: new Gauge({
      name: 'fn_pinner_serving_certificate_expiration_timestamp_seconds',
      help: 'When the served certificate chain stops being valid: the earliest notAfter of leaf, intermediates and CA (Unix seconds)',
      registers,
    }),
    secretSyncs: new Counter({
      name: 'fn_pinner_pull_secret_syncs_total',
      help: 'Pull secret reconciliations by result (created, updated, recreated, unchanged, failed)',
      labelNames: ['namespace', 'result'] as const,
      registers,
    }),
    secretLastSuccess: new Gauge({
      name: 'fn_pinner_pull_secret_last_success_timestamp_seconds',
      help: 'When the pull secret was last confirmed in sync, per namespace',
      labelNames: ['namespace'] as const,
      registers,
    }),
    cacheEntries: new Gauge({
      name: 'fn_pinner_cache_entries',
      help: 'Entries held per cache tier',
      labelNames: ['tier'] as const,
      registers,
    }),
    cacheBytes: new Gauge({
      name: 'fn_pinner_cache_bytes',
      help: 'Estimated bytes held by the image metadata cache (bounded by --cache-max-bytes)',
      registers,
    }),
    httpRequests: new Counter({
      name: 'fn_pinner_http_requests_total',
      help: 'HTTP requests served, by route (a fixed set, so stray paths cannot explode cardinality) and status',
      labelNames: ['route', 'status'] as const,
      registers,
    }),
    admissionSeconds: new Histogram({
      name: 'fn_pinner_admission_duration_seconds',
      help: 'Time from receiving POST /mutate to sending the answer, body parsing included, by HTTP status',
      labelNames: ['status'] as const,
      // The API server gives up after timeoutSeconds (at most 30 s); buckets resolve the cached (ms) and
      // registry-bound (100 ms to seconds) regimes.
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    pods: new Gauge({
      name: 'fn_pinner_pods',
      help: 'Pods of --pod-namespace by audit status (pinned, unpinned, drift, unresolvable) at the last drift check',
      labelNames: ['status'] as const,
      registers,
    }),
    driftLastCheck: new Gauge({
      name: 'fn_pinner_drift_last_check_timestamp_seconds',
      help: 'When the last drift check finished (0: none yet; only with --drift-interval)',
      registers,
    }),
    driftChecks: new Counter({
      name: 'fn_pinner_drift_checks_total',
      help: 'Drift checks by result (ok, or failed when the pods could not be listed)',
      labelNames: ['result'] as const,
      registers,
    }),
  };
}

export interface Metrics {
  registry: Registry;
  registryRequests: Counter<'registry' | 'kind' | 'method' | 'status'>;
  cacheLookups: Counter<'tier' | 'result'>;
  singleFlightJoins: Counter;
  resolutions: Counter<'outcome'>;
  resolutionSeconds: Histogram<'cache'>;
  cacheEntries: Gauge<'tier'>;
  cacheBytes: Gauge;
  admissionReviews: Counter<'reason'>;
  admissionErrors: Counter<'reason' | 'code'>;
  servingCertExpiry: Gauge;
  secretSyncs: Counter<'namespace' | 'result'>;
  secretLastSuccess: Gauge<'namespace'>;
  httpRequests: Counter<'route' | 'status'>;
  admissionSeconds: Histogram<'status'>;
  pods: Gauge<'status'>;
  driftLastCheck: Gauge;
  driftChecks: Counter<'result'>;
}
