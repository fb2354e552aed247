import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';

import type { KubeJson } from '../support/kube.js';
import { renderKustomization } from '../support/kustomize.js';
import { exportedSeries, metricNames } from '../support/promql.js';

/**
 * manifests/monitoring: every PromQL expression of the alerts and of the Grafana dashboard selects series
 * fn-pinner exports, and the dashboard is well formed. promtool checks the rules' syntax and behaviour
 * (test/integration/monitoring.test.ts).
 */

/**
 * Metrics the rules and dashboard use before the code exports them, if any. Each must stay absent from
 * src/metrics.ts until then: once it is exported, remove it from this list.
 */
const PENDING: string[] = [];

const objects: KubeJson[] = renderKustomization(
  join(import.meta.dirname, '..', '..', 'manifests', 'overlays', 'monitoring'),
);
const rule = objects.find((o) => o.kind === 'PrometheusRule');
const dashboard = JSON.parse(
  objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'fn-pinner-grafana-dashboard').data[
    'fn-pinner.json'
  ],
);

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; refId: string; datasource?: { uid: string } }>;
}
const panels: Panel[] = dashboard.panels;
const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const alerts: Array<{ alert: string; expr: string }> = rule.spec.groups.flatMap((g: KubeJson) => g.rules);

describe('PromQL metric names', () => {
  it('are read out of expressions, leaving labels, functions, keywords and numbers aside', () => {
    expect(
      metricNames(
        'sum by (reason) (rate(a_total{job="x", reason=~"D|E"}[$__rate_interval])) / ignoring (le) b:rate5m > 0.1 ' +
          'and on (pod) histogram_quantile(0.99, sum by (le) (rate(c_bucket[5m] offset 1h))) > 1e3 unless absent(up == 1)',
      ),
    ).toEqual(['a_total', 'b:rate5m', 'c_bucket', 'up']);
    expect(metricNames('g - time() < 14 * 86400')).toEqual(['g']);
  });
});

describe('manifests/monitoring', () => {
  it('alerts and dashboard only select series fn-pinner exports (or a listed pending metric)', async () => {
    const exported = await exportedSeries();
    const known = new Set([...exported, ...PENDING]);
    const unknown = [...alerts.map((a) => ({ panel: a.alert, expr: a.expr })), ...queries].flatMap((q) =>
      metricNames(q.expr)
        .filter((name) => !known.has(name))
        .map((name) => `${q.panel}: ${name}`),
    );
    expect(unknown).toEqual([]);
    // A pending metric that the code now exports must leave PENDING (and this list).
    expect(PENDING.filter((name) => exported.has(name))).toEqual([]);
  });

  it('has the alerts the operations guide lists, in order', () => {
    expect(alerts.map((a) => a.alert)).toEqual([
      'FnPinnerDown',
      'FnPinnerPullSecretSyncFailing',
      'FnPinnerDenialsSpiking',
      'FnPinnerRegistryErrors',
      'FnPinnerSlowReviews',
      'FnPinnerReviewsNearTimeout',
      'FnPinnerCertificateExpiringSoon',
      'FnPinnerCertificateExpiring',
      'FnPinnerPodsDrifted',
    ]);
  });

  it('dashboard: unique panel ids, a layout inside 24 columns with no overlap, a query per panel', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    const overlaps: string[] = [];
    for (const p of panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x >= 0 && w > 0 && h > 0 && x + w <= 24).toBe(true);
      for (let col = x; col < x + w; col++)
        for (let row = y; row < y + h; row++) {
          if (cells.has(`${col},${row}`)) overlaps.push(`${p.title} at ${col},${row}`);
          cells.add(`${col},${row}`);
        }
      if (p.type === 'row') continue;
      expect(p.targets?.length).toBeGreaterThan(0);
      const refIds = (p.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
    }
    expect(overlaps).toEqual([]);
  });

  it('dashboard: every data source and variable a query uses is defined', () => {
    const variables = new Map<string, KubeJson>(dashboard.templating.list.map((v: KubeJson) => [v.name, v]));
    expect(variables.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const used = new Set<string>();
    for (const p of panels.filter((panel) => panel.type !== 'row')) {
      expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets ?? []) {
        for (const m of t.expr.matchAll(/\$(\w+)/g)) used.add(m[1] as string);
      }
    }
    // Grafana's own: $__rate_interval, $__interval, $__range.
    const undefinedVars = [...used].filter((name) => !name.startsWith('__') && !variables.has(name));
    expect(undefinedVars).toEqual([]);
    expect([...used].sort()).toEqual(['__rate_interval', 'namespace', 'pod']);
  });

  it('dashboard covers review rate and latency, denials, cache hits, registries and the Secret sync', () => {
    const metricsShown = new Set(queries.flatMap((q) => metricNames(q.expr)));
    for (const name of [
      'fn_pinner_admission_reviews_total',
      'fn_pinner_admission_duration_seconds_bucket',
      'fn_pinner_admission_errors_total',
      'fn_pinner_cache_lookups_total',
      'fn_pinner_registry_requests_total',
      'fn_pinner_pull_secret_syncs_total',
      'fn_pinner_pull_secret_last_success_timestamp_seconds',
    ]) {
      expect(metricsShown).toContain(name);
    }
  });
});
