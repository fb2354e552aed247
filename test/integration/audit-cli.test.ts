import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';

import { auditScenario, byPod, tableRows } from '../support/audit-scenario.js';
import { matching } from '../support/matching.js';
import type { AuditScenario } from '../support/audit-scenario.js';
import { runCli } from '../support/cli.js';
import { startProxy } from '../support/proxy.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';

/**
 * `fn-pinner audit -f`: the CI gate before `kubectl apply`, with no cluster. The pods are those the e2e
 * suite creates in a real kube-apiserver (test/support/audit-scenario.ts), read from a file, against a real
 * registry whose tag app:v1 moved after the pods were pinned.
 */
let reg: TestRegistry;
let scenario: AuditScenario;
const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-audit-'));
let file: string;
let registries: string[];

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const yamlDocs = (docs: unknown[]): string => docs.map((d) => stringify(d)).join('---\n');

beforeAll(async () => {
  reg = await startRegistry('plain');
  scenario = await auditScenario(reg);
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { a: 'b' } };
  file = write('pods.yaml', yamlDocs([...scenario.pods, configMap, ...scenario.fileOnlyPods]));
  await scenario.moveTag();
  registries = ['--insecure-registry', reg.host, '--insecure-registry', scenario.downHost];
});

afterAll(async () => {
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('fn-pinner audit -f FILE', () => {
  it('--json: exactly one object, every container classified as in the cluster, exit 0', async () => {
    const r = await runCli(['audit', '-f', file, '--json', ...registries]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('fn-pinner audit: skipped 1 object(s) that are not Pods: ConfigMap\n');
    const report = JSON.parse(r.stdout);
    expect(Object.keys(report)).toEqual(['pods', 'summary']);
    expect(byPod(report)).toEqual(scenario.expected(matching));
    expect(report.pods.map((p: { name: string }) => p.name)).toEqual([
      ...scenario.pods.map((p) => p.metadata?.name),
      'no-containers',
    ]);
    expect(report.summary).toEqual({
      pods: 10,
      containers: 12,
      pinned: 3,
      unpinned: 2,
      drift: 3,
      unresolvable: 4,
    });
  });

  it('a namespace is the object own, or null', async () => {
    const bare = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare' }, spec: { containers: [] } };
    const r = await runCli(['audit', '-f', write('bare.json', JSON.stringify(bare)), '--json']);
    expect(JSON.parse(r.stdout).pods[0]).toMatchObject({ namespace: null, name: 'bare' });
  });

  it('without --json: a table (current only where it differs), a summary line, the reasons', async () => {
    const r = await runCli(['audit', '-f', file, ...registries]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE +POD +CONTAINER +STATUS +IMAGE +CURRENT$/);
    const rows = tableRows(r.stdout);
    const { appNew, appOld } = scenario.digests;
    expect(rows.map((row) => [row[1], row[2], row[3], row[5]])).toEqual([
      ['pinned', 'fn', 'pinned', undefined],
      ['drifted', 'fn', 'drift', appNew],
      ['unpinned', 'fn', 'unpinned', appNew],
      ['by-digest', 'fn', 'pinned', undefined],
      ['by-digest', 'sidecar', 'drift', appNew],
      ['registry-down', 'fn', 'unresolvable', undefined],
      ['with-init', 'init', 'pinned', undefined],
      ['with-init', 'fn', 'unpinned', appNew],
      ['bad-annotation', 'fn', 'unresolvable', undefined],
      ['bad-image', 'fn', 'unresolvable', undefined],
      ['elsewhere', 'fn', 'drift', appNew],
      ['no-containers', '<none>', 'unresolvable', undefined],
    ]);
    expect(rows[1]![4]).toBe(`${reg.host}/fn/app:v1@${appOld}`);
    expect(r.stdout).toContain('10 pods, 12 containers: 3 pinned, 2 unpinned, 3 drift, 4 unresolvable\n');
    const reasons = r.stdout.slice(r.stdout.indexOf('\nunresolvable:\n'));
    expect(reasons.split('\n').filter((l) => l.startsWith('  '))).toEqual([
      expect.stringMatching(/^ {2}porch-fn-system\/registry-down fn: network error: resolve /),
      expect.stringMatching(
        /^ {2}porch-fn-system\/bad-annotation fn: annotation fn-pinner\.io\/original-images /,
      ),
      expect.stringMatching(/^ {2}porch-fn-system\/bad-image fn: parse image reference /),
      '  porch-fn-system/no-containers: pod has no containers (spec.containers is empty or missing)',
    ]);
  });

  it.each([
    [['--fail-on', 'drift'], 1],
    [['--fail-on', 'unpinned'], 1],
    [['--fail-on', 'unresolvable'], 1],
    [['--fail-on', 'drift', '--fail-on', 'unpinned'], 1],
    [[], 0],
  ])('%j → exit %i', async (flags, code) => {
    const r = await runCli(['audit', '-f', file, '--json', ...registries, ...flags]);
    expect(r.code).toBe(code);
    expect(JSON.parse(r.stdout).summary.pods).toBe(10);
  });

  it('exits 0 with --fail-on naming statuses no container has', async () => {
    const pinnedOnly = write(
      'pinned.yaml',
      yamlDocs(scenario.pods.filter((p) => p.metadata?.name === 'pinned')),
    );
    const r = await runCli([
      'audit',
      '-f',
      pinnedOnly,
      ...registries,
      '--fail-on',
      'drift',
      '--fail-on',
      'unpinned',
      '--fail-on',
      'unresolvable',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1 pod, 1 container: 1 pinned, 0 unpinned, 0 drift, 0 unresolvable');
  });

  it('--no-drift resolves nothing: every container with a digest is pinned, --fail-on drift passes', async () => {
    const r = await runCli(['audit', '-f', file, '--json', '--no-drift', '--fail-on', 'drift']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.summary).toEqual({
      pods: 10,
      containers: 12,
      pinned: 8,
      unpinned: 2,
      drift: 0,
      unresolvable: 2,
    });
    const all = report.pods.flatMap((p: { containers: unknown[] }) => p.containers);
    expect(all.every((c: { current: unknown }) => c.current === null)).toBe(true);
  });

  it('reads stdin with -f -', async () => {
    const child = promisify(execFile)(
      join('node_modules', '.bin', 'tsx'),
      [join('test', 'support', 'cli-entry.ts'), 'audit', '-f', '-', '--json', ...registries],
      { env: { PATH: process.env.PATH, HOME: dir } },
    );
    child.child.stdin?.end(yamlDocs(scenario.pods));
    const { stdout } = await child;
    const { ['porch-fn-system/no-containers']: _fileOnly, ...expected } = scenario.expected(matching);
    expect(byPod(JSON.parse(stdout))).toEqual(expected);
  });

  it('resolves each distinct tag once per run: 100 pods sharing two tags make two manifest GETs', async () => {
    const proxy = await startProxy(reg.url);
    try {
      const pods = Array.from({ length: 100 }, (_, i) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `p${i}`, namespace: 'porch-fn-system' },
        spec: {
          containers: [
            { name: 'fn', image: `${proxy.host}/fn/app:v1@${scenario.digests.appOld}` },
            { name: 'tool', image: `${proxy.host}/fn/tool:v1` },
          ],
        },
      }));
      const r = await runCli([
        'audit',
        '-f',
        write('many.json', JSON.stringify(pods)),
        '--insecure-registry',
        proxy.host,
      ]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(
        '100 pods, 200 containers: 0 pinned, 100 unpinned, 100 drift, 0 unresolvable',
      );
      const manifests = proxy.requests
        .filter((q) => q.path.includes('/manifests/'))
        .map((q) => `${q.method} ${q.path}`);
      expect(manifests.sort()).toEqual(['GET /v2/fn/app/manifests/v1', 'GET /v2/fn/tool/manifests/v1']);
    } finally {
      await proxy.stop();
    }
  });
});

describe('fn-pinner audit: exit 2 when it cannot do its job, naming the reason', () => {
  it.each([
    ['an unreadable file', () => ['audit', '-f', join(dir, 'missing.yaml')], /read .*missing\.yaml: ENOENT/],
    ['invalid YAML', () => ['audit', '-f', write('bad.yaml', 'kind: Pod\n  bad: [')], /invalid YAML/],
    [
      '-f with -n',
      () => ['audit', '-f', file, '-n', 'x'],
      /-f reads pods from a file; -n, -A and -l select pods/,
    ],
    [
      '-A with -n',
      () => ['audit', '-A', '-n', 'x'],
      /-A \(--all-namespaces\) and -n \(--namespace\) cannot be used together/,
    ],
    [
      'an unknown --fail-on',
      () => ['audit', '-f', file, '--fail-on', 'stale'],
      /argument 'stale' is invalid/,
    ],
    ['an unknown flag', () => ['audit', '--everything'], /unknown option '--everything'/],
    [
      'no cluster config',
      () => ['audit'],
      /not running in a cluster and no --kubeconfig .*fn-pinner audit lists pods/,
    ],
    [
      'a kubeconfig that is not there',
      () => ['audit', '--kubeconfig', join(dir, 'none')],
      /load Kubernetes config from .*none: ENOENT/,
    ],
    [
      'an invalid setting',
      () => ['audit', '-f', file, '--tag-ttl', '-1'],
      /--tag-ttl \(FN_PINNER_TAG_TTL\): want a number/,
    ],
  ])('%s', async (_what, args, message) => {
    const r = await runCli(args());
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });
});
