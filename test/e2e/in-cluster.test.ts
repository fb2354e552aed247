import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createSecretApi, loadKubeConfig } from '../../src/kube/client.js';
import { pullSecretSync } from '../support/pull-secret.js';
import { writeDockerConfig } from '../support/cli.js';
import { createManifestFile, startKube } from '../support/kube.js';
import type { TestKube } from '../support/kube.js';

/** fn-pinner's in-cluster path (service-account token + CA, KUBERNETES_SERVICE_HOST/PORT) against a real API. */
let kube: TestKube;
const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };

beforeAll(async () => {
  kube = await startKube();
  await kube.createNamespace('fn-pinner-system');
  await kube.createNamespace('porch-fn-system');
  await createManifestFile(kube, join('manifests', 'base', '02-rbac.yaml'));
  // A cold scripts/build-kube-apiserver.sh takes minutes; a cached one, nothing.
}, 15 * 60_000);

afterAll(async () => {
  process.env.KUBERNETES_SERVICE_HOST = saved.host;
  process.env.KUBERNETES_SERVICE_PORT = saved.port;
  if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
  if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
  await kube?.stop();
});

describe('in-cluster configuration', () => {
  it('syncs the pull secret with the mounted service-account token and the RBAC of manifests/', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fn-pinner-incluster-'));
    const sa = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), kube.saToken);
    writeFileSync(join(sa, 'ca.crt'), kube.caPem);
    writeFileSync(join(sa, 'namespace'), 'fn-pinner-system');
    // What the kubelet sets in every pod; client-node reads them itself.
    process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
    process.env.KUBERNETES_SERVICE_PORT = String(kube.port);

    const kc = loadKubeConfig({ inCluster: true, serviceAccountRoot: root });
    const file = writeDockerConfig({ 'registry.example.com': ['robot', 'secret'] });
    const { sync } = pullSecretSync(createSecretApi(kc), file, { namespaces: ['porch-fn-system'] });
    await sync.syncNow();
    const secret = await kube.request('GET', '/api/v1/namespaces/porch-fn-system/secrets/auth-secret');
    expect(secret.status).toBe(200);
    expect(secret.body.type).toBe('kubernetes.io/dockerconfigjson');
    expect(secret.body.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'fn-pinner' });
  });

  it('refuses to guess when neither a kubeconfig nor a cluster is there', () => {
    expect(() => loadKubeConfig({ inCluster: false })).toThrow(
      'load Kubernetes config: not running in a cluster and no --kubeconfig (or KUBECONFIG) given',
    );
  });
});
