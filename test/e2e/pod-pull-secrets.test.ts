import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { imagePusher } from '../support/images.js';
import type { PushedImage } from '../support/images.js';
import { knownSecret } from '../support/leak-scan.js';
import { createManifestFile, registerWebhook, startKube, waitForWebhook } from '../support/kube.js';
import type { KubeObject, TestKube } from '../support/kube.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';
import { startTestWebhook } from '../support/webhook.js';
import type { TestWebhook } from '../support/webhook.js';

/**
 * --pod-pull-secrets against a real kube-apiserver (v1.20.2): `fn-pinner serve` runs as the ServiceAccount
 * of manifests/ with exactly the RBAC of manifests/pod-pull-secrets/rbac.yaml, and the API server calls
 * it for pods in a function namespace. The registry is an htpasswd one; fn-pinner has no credentials of
 * its own for it (no mounted config), so every pinned pod was pinned with its own pull secret. The
 * ServiceAccount admission plugin is off here, so a ServiceAccount's imagePullSecrets reach fn-pinner only
 * through its own read of the ServiceAccount.
 */
const RBAC = join(import.meta.dirname, '..', '..', 'manifests', 'pod-pull-secrets', 'rbac.yaml');
const NS = 'fn-pull-secrets';
const OTHER_NS = 'fn-no-rbac';

let kube: TestKube;
let reg: TestRegistry;
let webhook: TestWebhook;
let fn: PushedImage;
let image: string;

function dockerConfigSecret(namespace: string, name: string, user: string, password: string): KubeObject {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  const config = JSON.stringify({ auths: { [reg.host]: { auth } } });
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(config).toString('base64') },
  };
}

function pod(name: string, spec: Record<string, unknown> = {}, namespace = NS): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: { containers: [{ name: 'function', image }], ...spec },
  };
}

beforeAll(async () => {
  [kube, reg] = await Promise.all([startKube(), startRegistry('basic')]);
  fn = await imagePusher(reg).pushImage('private/fn', 'v1', { entrypoint: ['/fn'], cmd: ['--run'] });
  image = `${reg.host}/private/fn:v1`;
  await Promise.all([
    kube.createNamespace('fn-pinner-system'),
    kube.createNamespace(NS),
    kube.createNamespace(OTHER_NS),
  ]);
  await createManifestFile(kube, RBAC, {
    transform: (o) => ({ ...o, metadata: { ...o.metadata, namespace: NS } }),
  });
  await kube.create(dockerConfigSecret(NS, 'regcred', reg.username, reg.password));
  knownSecret('wrong-password-0123', 'a wrong registry password');
  await kube.create(dockerConfigSecret(NS, 'stale', reg.username, 'wrong-password-0123'));
  await kube.create(dockerConfigSecret(OTHER_NS, 'regcred', reg.username, reg.password));
  await kube.create({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'builder', namespace: NS },
    imagePullSecrets: [{ name: 'regcred' }],
  });
  webhook = await startTestWebhook({
    kubeconfig: kube.saKubeconfigPath,
    podPullSecrets: 'true',
    insecureRegistry: [reg.host],
    podNamespace: [NS, OTHER_NS],
  });
  for (const namespace of [NS, OTHER_NS]) {
    await registerWebhook(kube, {
      name: `fn-pinner-${namespace}`,
      url: webhook.url,
      caPem: webhook.caPem,
      namespace,
    });
  }
  await waitForWebhook(kube, {
    namespace: NS,
    pod: pod('probe', { imagePullSecrets: [{ name: 'regcred' }] }),
  });
}, 15 * 60_000);

afterAll(async () => {
  await webhook?.stop();
  if (webhook) rmSync(webhook.certDir, { recursive: true, force: true });
  await reg?.stop();
  await kube?.stop();
});

describe('the pod’s own pull secrets (--pod-pull-secrets)', () => {
  it('pins a pod with the Secret its imagePullSecrets name', async () => {
    const created = await kube.apply(pod('by-pod', { imagePullSecrets: [{ name: 'regcred' }] }));
    expect(created.status).toBe(201);
    expect(created.body.spec.containers[0]).toMatchObject({
      image: `${image}@${fn.digest}`,
      command: ['/fn'],
      args: ['--run'],
    });
  });

  it('pins a pod with the Secret of its ServiceAccount (read by fn-pinner, not added by the API server)', async () => {
    const created = await kube.apply(pod('by-sa', { serviceAccountName: 'builder' }));
    expect(created.status).toBe(201);
    expect(created.body.spec.imagePullSecrets).toBeUndefined();
    expect(created.body.spec.containers[0].image).toBe(`${image}@${fn.digest}`);
  });

  it('denies a pod without them although the digest is cached, naming what was looked at', async () => {
    const denied = await kube.apply(pod('none'));
    expect(denied.status).toBe(403);
    const message = String(denied.body.message);
    expect(message).toContain(image);
    expect(message).toMatch(/no credentials matched, tried anonymously/);
    expect(message).toContain(`pull secrets of pod ${NS}/none: none`);
    // What it could not read stays unknown to it: neither the digest nor the command.
    expect(message).not.toContain(fn.digest);
    expect(message).not.toContain('--run');
  });

  it('denies a pod whose Secret is rejected, naming the Secret, never its content', async () => {
    const denied = await kube.apply(pod('stale', { imagePullSecrets: [{ name: 'stale' }] }));
    expect(denied.status).toBe(403);
    const message = String(denied.body.message);
    expect(message).toContain(`credentials tried: secret ${NS}/stale auths["${reg.host}"]`);
    expect(message).toContain(`pull secret ${NS}/stale (pod): 1 match`);
  });

  it('uses exactly the RBAC of the manifest: a namespace without the Role gets "not readable", and a denial', async () => {
    const denied = await kube.apply(pod('elsewhere', { imagePullSecrets: [{ name: 'regcred' }] }, OTHER_NS));
    expect(denied.status).toBe(403);
    const message = String(denied.body.message);
    expect(message).toMatch(/service account fn-no-rbac\/default: not readable \(.*403/);
    expect(message).toMatch(/pull secret fn-no-rbac\/regcred \(pod\): not readable \(.*403/);
  });

  it('reads on a dry run too', async () => {
    const dry = await kube.apply(pod('dry', { imagePullSecrets: [{ name: 'regcred' }] }), { dryRun: true });
    expect(dry.status).toBe(201);
    expect(dry.body.spec.containers[0].image).toBe(`${image}@${fn.digest}`);
  });
});
