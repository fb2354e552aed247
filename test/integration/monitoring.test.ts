import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

import type { KubeJson } from '../support/kube.js';
import { renderKustomization } from '../support/kustomize.js';

/**
 * The PrometheusRule of manifests/monitoring through promtool (Debian's prometheus package, installed by
 * scripts/install-test-deps.sh): `check rules` for syntax, `test rules` for behaviour against the series
 * in test/monitoring/alerts.test.yaml. The Grafana dashboard's queries get the same syntax check.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const objects: KubeJson[] = renderKustomization(join(ROOT, 'manifests', 'overlays', 'monitoring'));
let dir: string;

interface Run {
  code: number;
  output: string;
}

function promtool(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile('promtool', args, { cwd: dir, timeout: 60_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(
          new Error('promtool not found: run scripts/install-test-deps.sh (Debian package prometheus)'),
        );
      }
      resolve({ code: err ? Number(err.code ?? 1) : 0, output });
    });
  });
}

/** Grafana's variables, replaced by what they stand for at query time. */
function asPromQL(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$namespace', 'fn-pinner-system')
    .replaceAll('$pod', '.*');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fn-pinner-promtool-'));
  const rule = objects.find((o) => o.kind === 'PrometheusRule');
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rule.spec.groups }));
  copyFileSync(join(ROOT, 'test', 'monitoring', 'alerts.test.yaml'), join(dir, 'alerts.test.yaml'));
  const dashboard = JSON.parse(
    objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'fn-pinner-grafana-dashboard').data[
      'fn-pinner.json'
    ],
  );
  const recorded = (dashboard.panels as KubeJson[]).flatMap((p) =>
    (p.targets ?? []).map((t: KubeJson) => ({
      record: `dashboard:panel_${p.id}_${t.refId}`,
      expr: asPromQL(t.expr),
    })),
  );
  writeFileSync(join(dir, 'dashboard.yaml'), stringify({ groups: [{ name: 'dashboard', rules: recorded }] }));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('promtool', () => {
  it('checks the alerting rules of the PrometheusRule', async () => {
    const run = await promtool(['check', 'rules', 'rules.yaml']);
    expect(run).toEqual({ code: 0, output: expect.stringContaining('SUCCESS: 9 rules found') });
  });

  it('passes the rules unit tests (each alert fires, and stays quiet, when it should)', async () => {
    const run = await promtool(['test', 'rules', 'alerts.test.yaml']);
    expect(run.output).toContain('SUCCESS');
    expect(run.code).toBe(0);
  });

  it('parses every query of the Grafana dashboard', async () => {
    const run = await promtool(['check', 'rules', 'dashboard.yaml']);
    expect(run.code).toBe(0);
    expect(run.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('fails a rule file with a broken expression (the checks above can fail)', async () => {
    writeFileSync(
      join(dir, 'broken.yaml'),
      stringify({ groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'sum by (x (up)' }] }] }),
    );
    const run = await promtool(['check', 'rules', 'broken.yaml']);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain('parse error');
  });
});
