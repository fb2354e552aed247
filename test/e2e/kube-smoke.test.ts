import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';

import { imagePusher } from '../support/images.js';
import type { PushedImage } from '../support/images.js';
import {
  METADATA_NAME_LABEL,
  USER_NAME,
  deleteWebhook,
  registerWebhook,
  startKube,
  waitForWebhook,
} from '../support/kube.js';
import type { KubeJson, KubeObject, TestKube } from '../support/kube.js';
import { freePort } from '../support/ports.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';
import { startTestWebhook } from '../support/webhook.js';
import type { TestWebhook } from '../support/webhook.js';

/**
 * Smoke test of the real control plane (etcd + kube-apiserver v1.20.2 on 127.0.0.1) and of `fn-pinner
 * serve` registered in it with a url clientConfig: the apiserver itself calls the webhook.
 */
const FN_NS = 'porch-fn-system'; // selected by the webhook
const PLAIN_NS = 'plain'; // not selected
const TIMED_CREATES = 20;

let kube: TestKube;
let registry: TestRegistry;
let webhook: TestWebhook;
let fn: PushedImage;
let fnImage: string;
const timings: Record<string, number> = {};

beforeAll(async () => {
  // A cold scripts/build-kube-apiserver.sh takes ~4 minutes; a cached one, nothing.
  const started = performance.now();
  [kube, registry] = await Promise.all([startKube(), startRegistry('plain')]);
  timings.startKubeMs = performance.now() - started;
  timings.etcdReadyMs = kube.timings.etcdReadyMs;
  timings.apiserverReadyMs = kube.timings.apiserverReadyMs;
  fn = await imagePusher(registry).pushImage('catalog/set-namespace', 'v0.4', {
    entrypoint: ['/usr/local/bin/function'],
    cmd: ['--serve'],
  });
  fnImage = `${registry.host}/catalog/set-namespace:v0.4`;
  webhook = await startTestWebhook({
    insecureRegistry: [registry.host],
    defaultRegistry: [`${registry.host}/catalog/`],
  });
}, 15 * 60_000);

afterAll(async () => {
  console.log(`kube-smoke timings (ms): ${JSON.stringify(roundAll(timings), null, 2)}`);
  await webhook?.stop();
  await registry?.stop();
  await kube?.stop();
});

function roundAll(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function pod(namespace: string, image = fnImage, name?: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: name ? { name, namespace } : { generateName: 'fn-', namespace },
    spec: { containers: [{ name: 'function', image }] },
  };
}

describe('real kube-apiserver', () => {
  it('starts, answers /version and serves the admin and user kubeconfigs', async () => {
    const version = await kube.request('GET', '/version');
    expect(version.status).toBe(200);
    expect(version.body.major).toBe('1');
    console.log(
      `kube-apiserver ${version.body.gitVersion} from ${kube.binDir} at ${kube.server}: ` +
        `ready in ${Math.round(kube.timings.totalMs)} ms (etcd ${Math.round(kube.timings.etcdReadyMs)} ms)`,
    );
    expect(kube.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(readFileSync(kube.kubeconfigPath, 'utf8')).toContain(kube.adminToken);
    expect(readFileSync(kube.userKubeconfigPath, 'utf8')).toContain(kube.userToken);
    // anonymous-auth=false: no token, no entry.
    const anonymous = await kube.request('GET', '/api/v1/namespaces', undefined, { token: 'nope' });
    expect(anonymous.status).toBe(401);
  });

  it('creates namespaces labelled with kubernetes.io/metadata.name', async () => {
    await kube.createNamespace(FN_NS);
    await kube.createNamespace(PLAIN_NS, { team: 'a' });
    const res = await kube.get({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: PLAIN_NS } });
    expect(res.status).toBe(200);
    expect(res.body.metadata.labels).toEqual({ team: 'a', [METADATA_NAME_LABEL]: PLAIN_NS });
  });

  it('round-trips a Secret with a map in data (no reflect2 crash) and rejects a duplicate', async () => {
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'auth-secret', namespace: FN_NS, labels: { a: 'b' } },
      type: 'kubernetes.io/dockerconfigjson',
      data: {
        '.dockerconfigjson': Buffer.from(
          JSON.stringify({ auths: { [registry.host]: { auth: 'eDp5' } } }),
        ).toString('base64'),
      },
    };
    const created = await kube.create(secret);
    expect(created.metadata.uid).toEqual(expect.any(String));
    const read = await kube.get(secret);
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual(secret.data);
    expect(read.body.type).toBe('kubernetes.io/dockerconfigjson');
    const list = await kube.request('GET', `/api/v1/namespaces/${FN_NS}/secrets`);
    expect(list.status).toBe(200);
    expect(list.body.items.map((s: KubeJson) => s.metadata.name)).toContain('auth-secret');
    const again = await kube.apply(secret);
    expect(again.status).toBe(409);
    expect(again.body.reason).toBe('AlreadyExists');
    // The apiserver is still alive after encoding maps.
    expect((await kube.request('GET', '/readyz')).body).toBe('ok');
  });

  it('gives the restricted user 403 on secrets until RBAC grants it one', async () => {
    const opts = { token: kube.userToken };
    const path = `/api/v1/namespaces/${FN_NS}/secrets/auth-secret`;
    const denied = await kube.request('GET', path, undefined, opts);
    expect(denied.status).toBe(403);
    expect(denied.body.message).toContain(`User "${USER_NAME}" cannot get resource "secrets"`);
    const create = await kube.apply(
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: FN_NS } },
      opts,
    );
    expect(create.status).toBe(403);

    await kube.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'read-auth-secret', namespace: FN_NS },
      rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['auth-secret'], verbs: ['get'] }],
    });
    await kube.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'read-auth-secret', namespace: FN_NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-auth-secret' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USER_NAME }],
    });
    // RBAC is read from an informer: the grant shows up after a moment.
    let allowed = await kube.request('GET', path, undefined, opts);
    for (let i = 0; i < 50 && allowed.status === 403; i++) {
      await new Promise((r) => setTimeout(r, 100));
      allowed = await kube.request('GET', path, undefined, opts);
    }
    expect(allowed.status).toBe(200);
    expect((await kube.request('GET', `/api/v1/namespaces/${FN_NS}/secrets`, undefined, opts)).status).toBe(
      403,
    );
  });

  it('calls fn-pinner serve for pods in the selected namespace and stores the pinned pod', async () => {
    // Baseline without the webhook, before it is registered (warm: one create first).
    await kube.create(pod(PLAIN_NS));
    timings.podCreateNoWebhookMedianMs = median(await timeCreates(PLAIN_NS));

    await registerWebhook(kube, {
      name: 'fn-pinner',
      url: webhook.url,
      caPem: webhook.caPem,
      namespace: FN_NS,
    });
    const seen = await waitForWebhook(kube, { namespace: FN_NS, image: fnImage });
    timings.webhookObservedAfterMs = seen.ms;
    expect(seen.res.status).toBe(201);

    const created = await kube.create(pod(FN_NS, fnImage, 'pinned'));
    const stored = await kube.get(created);
    expect(stored.status).toBe(200);
    const [container] = stored.body.spec.containers;
    expect(container.image).toBe(`${fnImage}@${fn.digest}`);
    expect(container.image).toMatch(/^127\.0\.0\.1:\d+\/catalog\/set-namespace:v0\.4@sha256:[0-9a-f]{64}$/);
    expect(container.command).toEqual(['/usr/local/bin/function']);
    expect(container.args).toEqual(['--serve']);
    expect(JSON.parse(stored.body.metadata.annotations['fn-pinner.io/original-images'])).toEqual({
      function: fnImage,
    });
    // The apiserver's request, as fn-pinner logged it.
    const decision = webhook.logs.find((l) => l.msg === 'admission decision' && l.pod === 'pinned');
    expect(decision).toMatchObject({ namespace: FN_NS, operation: 'CREATE', allowed: true });

    // Not selected: untouched.
    const plain = await kube.create(pod(PLAIN_NS));
    expect(plain.spec.containers[0].image).toBe(fnImage);
    expect(plain.spec.containers[0].command).toBeUndefined();

    const logged = webhook.logs.length;
    timings.podCreateWithWebhookMedianMs = median(await timeCreates(FN_NS));
    const reviews = webhook.logs.slice(logged).filter((l) => l.msg === 'admission decision');
    expect(reviews).toHaveLength(TIMED_CREATES);
    timings.webhookReviewMedianMs = median(reviews.map((l) => Number(l.durationMs)));
    timings.podCreateNoWebhookAfterMedianMs = median(await timeCreates(PLAIN_NS));
  });

  it('runs the webhook on a dry-run create and stores nothing', async () => {
    const res = await kube.apply(pod(FN_NS, fnImage, 'dry'), { dryRun: true });
    expect(res.status).toBe(201);
    expect(res.body.spec.containers[0].image).toBe(`${fnImage}@${fn.digest}`);
    expect((await kube.get(pod(FN_NS, fnImage, 'dry'))).status).toBe(404);
  });

  it('fails closed when the webhook is unreachable, and stops calling it once deleted', async () => {
    const closedPort = await freePort();
    await registerWebhook(kube, {
      name: 'fn-pinner',
      url: `https://127.0.0.1:${closedPort}/mutate`,
      caPem: webhook.caPem,
      namespace: FN_NS,
    });
    const failing = await waitForWebhook(kube, {
      namespace: FN_NS,
      image: fnImage,
      acted: (r) => r.status !== 201,
    });
    timings.webhookUpdateObservedAfterMs = failing.ms;
    expect(failing.res.status).toBe(500);
    expect(failing.res.body.message).toContain('failed calling webhook "fn-pinner.fn-pinner.io"');
    expect(failing.res.body.message).toContain('connection refused');

    await deleteWebhook(kube, 'fn-pinner');
    const gone = await waitForWebhook(kube, {
      namespace: FN_NS,
      image: fnImage,
      acted: (r) => r.status === 201,
    });
    timings.webhookDeleteObservedAfterMs = gone.ms;
    expect(gone.res.body.spec.containers[0].image).toBe(fnImage);
  });
});

async function timeCreates(namespace: string): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < TIMED_CREATES; i++) {
    const started = performance.now();
    const res = await kube.apply(pod(namespace));
    ms.push(performance.now() - started);
    expect(res.status).toBe(201);
  }
  return ms;
}
