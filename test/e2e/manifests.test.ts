import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';

import { startKube } from '../support/kube.js';
import type { KubeObject, TestKube } from '../support/kube.js';
import { objectId, renderKustomization } from '../support/kustomize.js';

/**
 * Every install variant of manifests/, as `kubectl apply -k` would send it, through a server-side dry run
 * against the real kube-apiserver (v1.20.2): validation, defaulting and admission, nothing stored.
 * v1.20 does not serve policy/v1 (1.21+), and the cert-manager and Prometheus Operator CRDs are not
 * installed; those objects are checked against current schemas by test/unit/manifests.test.ts instead.
 */
const MANIFESTS = join(import.meta.dirname, '..', '..', 'manifests');
const SCHEMA_CHECKED_ONLY = ['policy/v1', 'cert-manager.io/v1', 'monitoring.coreos.com/v1'];
const VARIANTS: Array<[string, string[]]> = [
  ['base', ['PodDisruptionBudget fn-pinner']],
  [
    'overlays/cert-manager',
    [
      'PodDisruptionBudget fn-pinner',
      'Issuer fn-pinner-selfsigned',
      'Certificate fn-pinner-ca',
      'Issuer fn-pinner-ca',
      'Certificate fn-pinner-serving',
    ],
  ],
  [
    'overlays/monitoring',
    ['PodDisruptionBudget fn-pinner', 'ServiceMonitor fn-pinner', 'PrometheusRule fn-pinner'],
  ],
];

let kube: TestKube;

beforeAll(async () => {
  kube = await startKube();
  // A dry run stores nothing, so the namespaces the objects live in must already exist.
  await Promise.all([
    kube.createNamespace('fn-pinner-system', { 'app.kubernetes.io/name': 'fn-pinner' }),
    kube.createNamespace('porch-fn-system'),
  ]);
}, 15 * 60_000);

afterAll(async () => {
  await kube?.stop();
});

describe('manifests/ against kube-apiserver v1.20', () => {
  it('serves none of the API versions left to the schema check (else dry-run them here too)', async () => {
    const served: string[] = [];
    for (const groupVersion of SCHEMA_CHECKED_ONLY) {
      const res = await kube.request('GET', `/apis/${groupVersion}`);
      if (res.status !== 404) served.push(`${groupVersion}: ${res.status}`);
    }
    expect(served).toEqual([]);
  });

  it.each(VARIANTS)(
    '%s: accepts every object it serves (server-side apply, dry run)',
    async (variant, skipped) => {
      const objects: KubeObject[] = renderKustomization(join(MANIFESTS, variant));
      const results: string[] = [];
      const refused: string[] = [];
      const notSent: string[] = [];
      for (const object of objects) {
        if (SCHEMA_CHECKED_ONLY.includes(object.apiVersion)) {
          notSent.push(`${object.kind} ${object.metadata?.name}`);
          continue;
        }
        const res = await kube.serverSideApply(object, { dryRun: true });
        results.push(`${objectId(object)}: ${res.status}`);
        // 201 created, 200 already there (the namespaces created above).
        if (res.status !== 200 && res.status !== 201)
          refused.push(`${objectId(object)}: ${JSON.stringify(res.body)}`);
      }
      console.log(`${variant} (server-side dry run):\n  ${results.join('\n  ')}`);
      expect(refused).toEqual([]);
      expect(notSent).toEqual(skipped);
      for (const kind of ['Deployment', 'Service', 'MutatingWebhookConfiguration']) {
        expect(results.filter((r) => r.includes(` ${kind} `))).toHaveLength(1);
      }
      // A dry run stores nothing.
      const roles = await kube.request(
        'GET',
        '/apis/rbac.authorization.k8s.io/v1/namespaces/fn-pinner-system/roles',
      );
      expect(roles.body.items).toEqual([]);
    },
  );
});
