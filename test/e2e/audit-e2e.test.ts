import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { FN_NS, OTHER_NS, auditScenario, byPod, tableRows } from '../support/audit-scenario.js';
import { matching } from '../support/matching.js';
import type { AuditScenario } from '../support/audit-scenario.js';
import { runCli } from '../support/cli.js';
import { USER_NAME, createManifestFile, startKube } from '../support/kube.js';
import type { TestKube } from '../support/kube.js';
import { freePort } from '../support/ports.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';

/**
 * `fn-pinner audit` against a real kube-apiserver (v1.20.2) and real registries. The pods are created
 * straight through the API, with no webhook (as pods created before fn-pinner, or that skipped it, are);
 * then the tag app:v1 moves, so pods pinned to its first push drift.
 */
const MANY_NS = 'many';
const MANY_PODS = 520; // more than one page of 500

let kube: TestKube;
let reg: TestRegistry;
let scenario: AuditScenario;
let registries: string[];

beforeAll(async () => {
  [kube, reg] = await Promise.all([startKube(), startRegistry('plain')]);
  scenario = await auditScenario(reg);
  await Promise.all([FN_NS, OTHER_NS, MANY_NS].map((ns) => kube.createNamespace(ns)));
  for (const pod of scenario.pods) await kube.create(pod);
  await scenario.moveTag();
  registries = ['--insecure-registry', reg.host, '--insecure-registry', scenario.downHost];
}, 15 * 60_000);

afterAll(async () => {
  await reg?.stop();
  await kube?.stop();
});

const audit = (...args: string[]) =>
  runCli(['audit', '--kubeconfig', kube.kubeconfigPath, ...registries, ...args]);

function expectedIn(...namespaces: string[]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(scenario.expected(matching)).filter(
      ([key]) => namespaces.includes(key.split('/')[0]!) && key !== `${FN_NS}/no-containers`,
    ),
  );
}

/** RBAC is served from an informer: wait until the user's list in `namespace` stops being 403. */
async function rbacInEffect(path: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const res = await kube.request('GET', path, undefined, { token: kube.userToken });
    if (res.status !== 403) return;
    await sleep(50);
  }
  throw new Error(`RBAC for ${USER_NAME} on ${path} not in effect after 10 s`);
}

describe('fn-pinner audit against a real kube-apiserver', () => {
  it('classifies the pods of -n porch-fn-system -n team-b, as JSON, in the order of the namespaces given', async () => {
    const r = await audit('--json', '-n', FN_NS, '-n', OTHER_NS);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(byPod(report)).toEqual(expectedIn(FN_NS, OTHER_NS));
    // The API lists a namespace's pods by name.
    expect(report.pods.map((p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`)).toEqual([
      `${FN_NS}/bad-annotation`,
      `${FN_NS}/bad-image`,
      `${FN_NS}/by-digest`,
      `${FN_NS}/drifted`,
      `${FN_NS}/pinned`,
      `${FN_NS}/registry-down`,
      `${FN_NS}/unpinned`,
      `${FN_NS}/with-init`,
      `${OTHER_NS}/elsewhere`,
    ]);
    expect(report.summary).toEqual({
      pods: 9,
      containers: 11,
      pinned: 3,
      unpinned: 2,
      drift: 3,
      unresolvable: 3,
    });
    console.log(`audit --json (cluster):\n${r.stdout}`);
  });

  it('lists porch-fn-system by default, as a table for people', async () => {
    const r = await audit();
    expect(r.code).toBe(0);
    const rows = tableRows(r.stdout);
    expect(new Set(rows.map((row) => row[0]))).toEqual(new Set([FN_NS]));
    expect(rows.map((row) => `${row[1]}/${row[2]}:${row[3]}`)).toEqual([
      'bad-annotation/fn:unresolvable',
      'bad-image/fn:unresolvable',
      'by-digest/fn:pinned',
      'by-digest/sidecar:drift',
      'drifted/fn:drift',
      'pinned/fn:pinned',
      'registry-down/fn:unresolvable',
      'unpinned/fn:unpinned',
      'with-init/init:pinned',
      'with-init/fn:unpinned',
    ]);
    expect(r.stdout).toContain('8 pods, 10 containers: 3 pinned, 2 unpinned, 2 drift, 3 unresolvable\n');
    console.log(`audit (table, cluster):\n${r.stdout}`);
  });

  it('-A lists every namespace; -l passes the label selector to the API', async () => {
    const all = JSON.parse((await audit('--json', '-A')).stdout);
    expect(byPod(all)).toEqual(expectedIn(FN_NS, OTHER_NS));
    const gated = await audit('--json', '-A', '-l', 'tier=gate');
    expect(Object.keys(byPod(JSON.parse(gated.stdout))).sort()).toEqual([
      `${FN_NS}/drifted`,
      `${FN_NS}/pinned`,
      `${OTHER_NS}/elsewhere`,
    ]);
    const notGated = await audit('--json', '-n', FN_NS, '-l', 'tier!=gate,tier!=other');
    expect(JSON.parse(notGated.stdout).summary.pods).toBe(6);
    const bad = await audit('-l', 'tier in (');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^fn-pinner audit: list pods in namespace porch-fn-system with selector tier in \(: 400 BadRequest/,
    );
  });

  it('reads KUBECONFIG as serve does', async () => {
    const r = await runCli(['audit', '--json', '--no-drift', '-n', OTHER_NS], {
      KUBECONFIG: kube.kubeconfigPath,
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).summary).toMatchObject({ pods: 1, pinned: 1 });
  });

  it('exits 1 on the statuses --fail-on names, 0 otherwise', async () => {
    expect((await audit('--fail-on', 'drift')).code).toBe(1);
    expect((await audit('-n', OTHER_NS, '--fail-on', 'unpinned', '--fail-on', 'unresolvable')).code).toBe(0);
    expect((await audit('-n', OTHER_NS, '--fail-on', 'drift')).code).toBe(1);
    expect((await audit('-n', OTHER_NS, '--no-drift', '--fail-on', 'drift')).code).toBe(0);
  });

  it('follows pagination past 500 pods', async () => {
    const image = `${reg.host}/fn/tool:v1@${scenario.digests.tool}`;
    for (let i = 0; i < MANY_PODS; i += 40) {
      await Promise.all(
        Array.from({ length: Math.min(40, MANY_PODS - i) }, (_, j) =>
          kube.create({
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: `p-${i + j}`, namespace: MANY_NS },
            spec: { containers: [{ name: 'fn', image }] },
          }),
        ),
      );
    }
    const r = await audit('--json', '-n', MANY_NS);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.summary).toEqual({
      pods: MANY_PODS,
      containers: MANY_PODS,
      pinned: MANY_PODS,
      unpinned: 0,
      drift: 0,
      unresolvable: 0,
    });
    expect(new Set(report.pods.map((p: { name: string }) => p.name)).size).toBe(MANY_PODS);
  });
});

describe('fn-pinner audit: RBAC and an unreachable API', () => {
  const asUser = (...args: string[]) =>
    runCli(['audit', '--kubeconfig', kube.userKubeconfigPath, '--no-drift', ...args]);

  it('exits 2 naming the reason when the API forbids the list, and works once manifests/audit/clusterrole.yaml is bound', async () => {
    const forbidden = await asUser();
    expect(forbidden.code).toBe(2);
    expect(forbidden.stdout).toBe('');
    expect(forbidden.stderr).toContain(`fn-pinner audit: list pods in namespace ${FN_NS}: 403 Forbidden: `);
    expect(forbidden.stderr).toContain(`User "${USER_NAME}" cannot list resource "pods"`);

    // The policy team's role, bound in one namespace only (a RoleBinding to the ClusterRole).
    await createManifestFile(kube, join('manifests', 'audit', 'clusterrole.yaml'));
    await kube.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'fn-pinner-audit', namespace: FN_NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'fn-pinner-audit' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USER_NAME }],
    });
    await rbacInEffect(`/api/v1/namespaces/${FN_NS}/pods`);
    const allowed = await asUser('--json');
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.stdout).summary.pods).toBe(8);
    // Only list: not get, not other namespaces, not the cluster.
    expect(
      (
        await kube.request('GET', `/api/v1/namespaces/${FN_NS}/pods/pinned`, undefined, {
          token: kube.userToken,
        })
      ).status,
    ).toBe(403);
    const elsewhere = await asUser('-n', OTHER_NS);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain(`list pods in namespace ${OTHER_NS}: 403 Forbidden`);
    const cluster = await asUser('-A');
    expect(cluster.code).toBe(2);
    expect(cluster.stderr).toContain('list pods in all namespaces: 403 Forbidden');
  });

  it('exits 2 when the API does not answer, naming it', async () => {
    const closed = join(kube.kubeconfigPath.replace(/[^/]+$/, ''), 'closed-kubeconfig');
    const port = await freePort();
    writeFileSync(
      closed,
      readFileSync(kube.kubeconfigPath, 'utf8').replace(kube.server, `https://127.0.0.1:${port}`),
    );
    const r = await runCli(['audit', '--kubeconfig', closed]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^fn-pinner audit: list pods in namespace porch-fn-system: no response .*ECONNREFUSED/,
    );
  });
});
