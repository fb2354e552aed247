import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';

import { request } from 'undici';

import { bundleCas } from '../../src/tls/ca-bundle.js';
import { ServiceProxy } from '../support/service-proxy.js';
import { imagePusher } from '../support/images.js';
import { createManifestFile, readManifests, registerWebhook, startKube } from '../support/kube.js';
import type { KubeJson, KubeObject, TestKube } from '../support/kube.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';
import { startServeProcess } from '../support/serve-process.js';
import type { ServeProcess } from '../support/serve-process.js';
import { startTestWebhook } from '../support/webhook.js';
import type { TestWebhook } from '../support/webhook.js';

/**
 * Two self-signed replicas sharing their CA through the Secret fn-pinner-webhook-tls, as separate
 * `fn-pinner serve` processes with the RBAC of 02-rbac.yaml and 02-rbac-webhook-tls.yaml, behind the
 * MutatingWebhookConfiguration of manifests/base (failurePolicy: Fail). Its clientConfig points at
 * test/support/service-proxy.ts, which plays kube-proxy, the readiness probe and the endpoints controller
 * for them. Then a rolling restart as the Deployment does it (maxSurge 1, maxUnavailable 0,
 * minReadySeconds), while pods are created through the API without pause.
 */
const MANIFESTS = join(import.meta.dirname, '..', '..', 'manifests', 'base');
const SYSTEM_NS = 'fn-pinner-system';
const FN_NS = 'porch-fn-system';
const TLS_SECRET = 'fn-pinner-webhook-tls';
/** Bounds on the pod-creating load: it stops by itself. */
const CREATE_WORKERS = 2;
const CREATE_PAUSE_MS = 50;
const MAX_CREATES = 3_000;

let kube: TestKube;
let registry: TestRegistry;
let service: ServiceProxy;
let image: string;
let minReadyMs: number;
let deploymentFlags: string[];
const replicas: ServeProcess[] = [];
const inProcess: TestWebhook[] = [];
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  [kube, registry] = await Promise.all([
    startKube({ apiserverArgs: ['--enable-aggregator-routing=true'] }),
    startRegistry('plain'),
  ]);
  await imagePusher(registry).pushImage('catalog/set-namespace', 'v0.4', { entrypoint: ['/fn'] });
  image = `${registry.host}/catalog/set-namespace:v0.4`;
  await Promise.all([kube.createNamespace(SYSTEM_NS), kube.createNamespace(FN_NS)]);
  service = await ServiceProxy.start();
  for (const file of ['02-rbac.yaml', '02-rbac-webhook-tls.yaml']) {
    await createManifestFile(kube, join(MANIFESTS, file));
  }
  // The manifest's webhook, reached through the proxy instead of the Service's cluster IP.
  await createManifestFile(kube, join(MANIFESTS, '05-mutatingwebhookconfiguration.yaml'), {
    transform: (o) => {
      const hook = (o as KubeJson).webhooks[0];
      hook.clientConfig = {
        url: `https://127.0.0.1:${service.port}/mutate`,
        caBundle: hook.clientConfig.caBundle,
      };
      return o;
    },
  });
  const deployment = readManifests(join(MANIFESTS, '03-deployment.yaml'))[0] as KubeJson;
  minReadyMs = deployment.spec.minReadySeconds * 1000;
  const shared =
    /^--(service-name|service-namespace|webhook-config-name|webhook-tls-secret-name|pod-namespace)=/;
  deploymentFlags = (deployment.spec.template.spec.containers[0].args as string[]).filter((a) =>
    shared.test(a),
  );
  expect(deploymentFlags).toHaveLength(5);
  // RBAC is served from an informer: wait until the ServiceAccount may read the Secret (404, not 403).
  for (;;) {
    const res = await kube.request('GET', secretPath(), undefined, { token: kube.saToken });
    if (res.status === 404) break;
    await sleep(50);
  }
}, 15 * 60_000);

afterAll(async () => {
  await service?.stop();
  await Promise.all(replicas.map((r) => r.cleanup()));
  await Promise.all(inProcess.map((w) => w.stop()));
  await registry?.stop();
  await kube?.stop();
  console.log(`ha-rollout figures: ${JSON.stringify(figures, null, 2)}`);
});

function secretPath(): string {
  return `/api/v1/namespaces/${SYSTEM_NS}/secrets/${TLS_SECRET}`;
}

/**
 * The Deployment's own flags for the Service, the webhook configuration, the shared Secret and the function
 * namespace; its cert dir and mounted Docker config are the pod's, so the test registry stands in.
 */
function serveArgs(): string[] {
  return [
    '--kubeconfig',
    kube.saKubeconfigPath,
    ...deploymentFlags,
    `--insecure-registry=${registry.host}`,
    `--default-registry=${registry.host}/catalog/`,
  ];
}

async function caBundleOf(name: string): Promise<string[]> {
  const res = await kube.request(
    'GET',
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`,
  );
  return bundleCas(res.body.webhooks[0].clientConfig.caBundle).map((pem) => pem.trim());
}

async function sharedCa(): Promise<string> {
  const res = await kube.request('GET', secretPath());
  expect(res.status).toBe(200);
  return Buffer.from(res.body.data['ca.crt'], 'base64').toString('utf8').trim();
}

async function secretNames(): Promise<string[]> {
  const res = await kube.request('GET', `/api/v1/namespaces/${SYSTEM_NS}/secrets`);
  return res.body.items.map((s: KubeJson) => s.metadata.name);
}

/** The leaf a replica serves, verified against `caPem` for 127.0.0.1, the address the API server dials. */
function servedLeaf(port: number, caPem: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: caPem }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (!socket.authorized || !cert)
        reject(new Error(`not authorized: ${String(socket.authorizationError)}`));
      else resolve(cert);
    });
    socket.once('error', reject);
  });
}

function pod(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'fn-', namespace: FN_NS },
    spec: { containers: [{ name: 'function', image }] },
  };
}

interface Creator {
  created: number;
  failures: string[];
  unpinned: number;
  stop(): Promise<void>;
}

/** Creates pods through the API without pause (CREATE_WORKERS in parallel) until stopped or MAX_CREATES. */
function createContinuously(): Creator {
  let running = true;
  const state = { created: 0, failures: [] as string[], unpinned: 0 };
  const worker = async (): Promise<void> => {
    while (running && state.created + state.failures.length < MAX_CREATES) {
      const res = await kube.apply(pod());
      if (res.status !== 201)
        state.failures.push(`HTTP ${res.status}: ${JSON.stringify(res.body?.message ?? res.body)}`);
      else if (!String(res.body.spec.containers[0].image).includes('@sha256:')) state.unpinned++;
      else state.created++;
      await sleep(CREATE_PAUSE_MS);
    }
  };
  const workers = Array.from({ length: CREATE_WORKERS }, worker);
  return Object.assign(state, {
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  });
}

function written(r: ServeProcess): Array<Record<string, unknown>> {
  return r.logs.filter((l) => l.msg === 'webhook TLS Secret written');
}

function decisions(r: ServeProcess): number {
  return r.logs.filter((l) => l.msg === 'admission decision').length;
}

async function waitCreated(creator: Creator, atLeast: number): Promise<void> {
  while (creator.created < atLeast && creator.failures.length === 0) await sleep(50);
}

describe('two self-signed replicas sharing one CA through a Secret', () => {
  it(
    'start together against an empty caBundle: one creates the Secret, both serve its CA, and both are ready once it is published',
    async () => {
      expect(await caBundleOf('fn-pinner')).toEqual([]);
      const started = performance.now();
      const pair = await Promise.all([startServeProcess(serveArgs()), startServeProcess(serveArgs())]);
      replicas.push(...pair);
      for (const r of pair) service.add(r);
      await Promise.all(pair.map((r) => service.waitReady(r)));
      figures.twoReplicasReadyMs = Math.round(performance.now() - started);

      expect(await secretNames()).toEqual([TLS_SECRET]);
      expect(pair.flatMap(written)).toEqual([expect.objectContaining({ created: true })]);
      const ca = await sharedCa();
      expect(await caBundleOf('fn-pinner')).toEqual([ca]);
      const leaves = await Promise.all(pair.map((r) => servedLeaf(r.port, ca)));
      expect(leaves[0]!.serialNumber).toBe(leaves[1]!.serialNumber);
      for (const r of pair)
        expect(r.logs.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
      const res = await kube.apply(pod());
      expect(res.status).toBe(201);
      expect(res.body.spec.containers[0].image).toContain('@sha256:');
    },
    5 * 60_000,
  );

  it('survive a rolling restart, one at a time, while pods are created continuously: zero failed creates, one CA Secret', async () => {
    const [a, b] = replicas as [ServeProcess, ServeProcess];
    const creator = createContinuously();
    const started = performance.now();
    await waitCreated(creator, 20);
    const exits: Array<Promise<{ code: number | null; ms: number }>> = [];
    const steps: Array<Record<string, number>> = [];
    for (const old of [a, b]) {
      const stepStarted = performance.now();
      const fresh = await startServeProcess(serveArgs());
      replicas.push(fresh);
      service.add(fresh);
      const readyMs = await service.waitReady(fresh);
      await sleep(minReadyMs);
      // The pod is deleted: the endpoints controller drops it while the kubelet sends SIGTERM. The
      // Deployment goes on with the next pod without waiting for this one to exit.
      exits.push(old.terminate());
      service.remove(old);
      steps.push({
        startToReadyMs: Math.round(performance.now() - stepStarted - minReadyMs),
        readyAfterListeningMs: Math.round(readyMs),
      });
    }
    const exited = await Promise.all(exits);
    const mark = creator.created;
    await waitCreated(creator, mark + 20);
    await creator.stop();

    figures.rollingRestart = {
      durationMs: Math.round(performance.now() - started),
      podsCreated: creator.created,
      failedCreates: creator.failures.length,
      unpinned: creator.unpinned,
      steps,
      oldReplicaExitAfterSigtermMs: exited.map((e) => Math.round(e.ms)),
      reviewsPerReplica: replicas.map(decisions),
      readyBackendChanges: service.changes,
      connectionsPerReplica: replicas.map((r) => service.connections.get(r.port) ?? 0),
      refusedConnections: service.refused,
    };
    expect(creator.failures).toEqual([]);
    expect(creator.unpinned).toBe(0);
    expect(creator.created).toBeGreaterThanOrEqual(40);
    expect(exited.map((e) => e.code)).toEqual([0, 0]);
    expect(service.refused).toBe(0);
    // One Secret, written once; every replica served its CA, which is all the caBundle holds.
    expect(await secretNames()).toEqual([TLS_SECRET]);
    expect(replicas.flatMap(written)).toHaveLength(1);
    const ca = await sharedCa();
    expect(await caBundleOf('fn-pinner')).toEqual([ca]);
    for (const r of replicas.slice(2)) await servedLeaf(r.port, ca);
    // The new replicas answered reviews. Not necessarily both: the API server keeps its keep-alive
    // connections, so the first new replica may see none before the second one is up.
    expect(
      replicas
        .slice(2)
        .map(decisions)
        .reduce((a, b) => a + b, 0),
    ).toBeGreaterThan(0);
  });

  it(
    'stays not ready while it may not update the caBundle, retries, and is ready only once the caBundle holds its CA',
    async () => {
      const name = 'fn-pinner-gate';
      await registerWebhook(kube, {
        name,
        url: 'https://127.0.0.1:1/mutate',
        caPem: kube.caPem,
        namespace: 'nowhere',
      });
      const webhook = await startTestWebhook({
        kubeconfig: kube.saKubeconfigPath,
        webhookConfigName: name,
        webhookTlsSecretName: TLS_SECRET,
      });
      inProcess.push(webhook);
      const readyz = async (): Promise<{ status: number; body: string }> => {
        const res = await request(`${webhook.url}/readyz`, { dispatcher: webhook.dispatcher });
        return { status: res.statusCode, body: await res.body.text() };
      };
      let reason = '';
      while (!reason.includes('403')) {
        const r = await readyz();
        expect(r.status).toBe(503);
        reason = r.body;
        await sleep(50);
      }
      expect(reason).toMatch(
        new RegExp(
          `^caBundle: mutatingwebhookconfiguration ${name} not yet known to hold the serving CA \\(update caBundle of mutatingwebhookconfiguration ${name}: 403 Forbidden`,
        ),
      );
      const ca = await sharedCa();
      expect(webhook.caPem.trim()).toBe(ca); // the shared CA, read from the Secret
      // Grant it as 02-rbac.yaml does for "fn-pinner".
      const [role, binding] = readManifests(join(MANIFESTS, '02-rbac.yaml')).filter((o) =>
        o.kind.startsWith('Cluster'),
      );
      await kube.create({
        ...role!,
        metadata: { name },
        rules: [{ ...(role as KubeJson).rules[0], resourceNames: [name] }],
      });
      await kube.create({
        ...binding!,
        metadata: { name },
        roleRef: { ...(binding as KubeJson).roleRef, name },
      });
      let ready = false;
      while (!ready) {
        ready = (await readyz()).status === 200;
        if (!ready) await sleep(20);
      }
      // Ready, and the caBundle holds the CA it serves with.
      expect(await caBundleOf(name)).toContain(ca);
    },
    5 * 60_000,
  );
});
