import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { request } from 'undici';

import { createMetrics } from '../../src/metrics.js';
import { createSecretApi, createWebhookConfigApi, loadKubeConfig } from '../../src/kube/client.js';
import type { SecretApi } from '../../src/kube/client.js';
import { captureLogger } from '../support/capture-logger.js';
import { countingSecretApi, pullSecretSync } from '../support/pull-secret.js';
import { caBundle } from '../../src/tls/ca-bundle.js';
import type { ClusterApis } from '../../src/app/cluster.js';
import { imagePusher } from '../support/images.js';
import type { PushedImage } from '../support/images.js';
import {
  SA_USER_NAME,
  createManifestFile,
  deleteWebhook,
  registerWebhook,
  secretVolume,
  startKube,
  startPatchWebhook,
  waitForWebhook,
} from '../support/kube.js';
import type {
  KubeJson,
  KubeObject,
  KubeResponse,
  PatchWebhook,
  SecretVolume,
  TestKube,
} from '../support/kube.js';
import { freePort } from '../support/ports.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';
import { until as waitUntil } from '../support/wait.js';
import { readyz, startTestWebhook } from '../support/webhook.js';
import type { TestWebhook } from '../support/webhook.js';

/**
 * fn-pinner proven against a real kube-apiserver (v1.20.2, etcd, 127.0.0.1; manifests.test.ts dry-runs the
 * manifests themselves): the apiserver itself calls `fn-pinner serve`, which runs as the ServiceAccount of
 * manifests/ with exactly the RBAC of manifests/base/02-rbac.yaml and keeps the pull Secret in sync through
 * the real API. Pods are created through the API and read back (they stay Pending: there is no scheduler).
 */
const MANIFESTS = join(import.meta.dirname, '..', '..', 'manifests', 'base');
const SYSTEM_NS = 'fn-pinner-system';
const FN_NS = 'porch-fn-system'; // the main fn-pinner's function namespace
const PLAIN_NS = 'plain'; // no webhook
const RACE_NS = 'fn-race'; // two fn-pinner replicas at once
const DRY_NS = 'fn-dry'; // the Secret does not exist yet
const IGNORE_NS = 'fn-ignore'; // failurePolicy Ignore
const DRIFT_NS = 'fn-drift'; // a replica with the drift gauge on
const PINNED_LABEL = 'fn-pinner.io/pinned';
const SECRET = 'auth-secret';
const DOCKER_CONFIG_KEY = '.dockerconfigjson';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'fn-pinner' };
/** Porch's wrapper-server style prefix: must appear once, however often fn-pinner is called. */
const PREFIX = ['/fn-wrapper', '--'];
const TIMED_CREATES = 20;
const SYNC_TIMEOUT_MS = 10_000;
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = SYNC_TIMEOUT_MS) =>
  waitUntil(what, probe, timeoutMs);

let kube: TestKube;
let plain: TestRegistry; // the "catalog" (default registry): anonymous
let basic: TestRegistry; // a custom registry behind htpasswd
let volume: SecretVolume; // the main instance's mounted Docker config
let raceVolume: SecretVolume;
let main: TestWebhook;
const others: TestWebhook[] = [];
let injector: PatchWebhook | undefined;
let catalog: PushedImage;
let fn: PushedImage;
let sidecar: PushedImage;
let catalogImage: string;
let fnImage: string;
let sidecarImage: string;
let suiteStarted: number;
const timings: Record<string, number> = {};

const secretRef = (namespace: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: SECRET, namespace },
});

function dockerConfig(auths: Record<string, [string, string]>, extra: Record<string, unknown> = {}): string {
  const entries = Object.fromEntries(
    Object.entries(auths).map(([host, [u, p]]) => [
      host,
      { auth: Buffer.from(`${u}:${p}`).toString('base64') },
    ]),
  );
  return `${JSON.stringify({ auths: entries, ...extra }, null, 2)}\n`;
}

beforeAll(async () => {
  suiteStarted = performance.now();
  [kube, plain, basic] = await Promise.all([startKube(), startRegistry('plain'), startRegistry('basic')]);
  timings.startKubeMs = kube.timings.totalMs;
  [catalog, fn, sidecar] = await Promise.all([
    imagePusher(plain).pushImage('catalog/set-namespace', 'v0.4', {
      entrypoint: ['/usr/local/bin/function'],
      cmd: ['--serve'],
    }),
    imagePusher(basic).pushImage('private/fn', 'v1', { entrypoint: ['/fn'], cmd: ['--run'] }),
    imagePusher(basic).pushImage('private/sidecar', 'v1', { entrypoint: ['/sidecar'] }),
  ]);
  catalogImage = `${plain.host}/catalog/set-namespace:v0.4`;
  fnImage = `${basic.host}/private/fn:v1`;
  sidecarImage = `${basic.host}/private/sidecar:v1`;
  volume = secretVolume({
    [DOCKER_CONFIG_KEY]: dockerConfig({ [basic.host]: [basic.username, basic.password] }),
  });
  raceVolume = secretVolume({
    [DOCKER_CONFIG_KEY]: dockerConfig({ [basic.host]: [basic.username, basic.password] }),
  });
  await Promise.all([
    kube.createNamespace(SYSTEM_NS, { 'app.kubernetes.io/name': 'fn-pinner' }),
    kube.createNamespace(FN_NS),
    kube.createNamespace(PLAIN_NS),
  ]);
}, 15 * 60_000);

afterAll(async () => {
  await injector?.stop();
  await Promise.all(others.map((w) => w.stop()));
  await main?.stop();
  for (const w of [...others, main]) if (w) rmSync(w.certDir, { recursive: true, force: true });
  await Promise.all([plain?.stop(), basic?.stop()]);
  await kube?.stop();
  volume?.remove();
  raceVolume?.remove();
  timings.suiteMs = performance.now() - suiteStarted;
  console.log(`webhook-e2e timings (ms): ${JSON.stringify(roundAll(timings), null, 2)}`);
});

// ---------------------------------------------------------------------------------------------------------
// Helpers

function roundAll(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function pod(
  namespace: string,
  containers: Array<Record<string, unknown>>,
  extra: Record<string, unknown> = {},
) {
  const { name, labels, imagePullSecrets } = extra as {
    name?: string;
    labels?: Record<string, string>;
    imagePullSecrets?: unknown[];
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(name ? { name } : { generateName: 'fn-' }),
      namespace,
      ...(labels ? { labels } : {}),
    },
    spec: { containers, ...(imagePullSecrets ? { imagePullSecrets } : {}) },
  } satisfies KubeObject;
}

/** Polls `probe` until it returns something other than undefined; resolves with it and the time taken. */

/** The stored Secret when it is the in-sync dockerconfigjson Secret holding `content`. */
async function secretHolding(namespace: string, content: string): Promise<KubeJson> {
  const res = await kube.get(secretRef(namespace));
  if (res.status !== 200) return undefined;
  const data = res.body.data?.[DOCKER_CONFIG_KEY];
  if (res.body.type !== 'kubernetes.io/dockerconfigjson' || data === undefined) return undefined;
  return Buffer.from(data, 'base64').toString('utf8') === content ? res.body : undefined;
}

/** RBAC is served from an informer: wait until the ServiceAccount's GET of `path` stops being 403. */
async function rbacInEffect(path: string): Promise<number> {
  const { ms } = await until(`RBAC for ${SA_USER_NAME} on ${path}`, async () => {
    const res = await kube.request('GET', path, undefined, { token: kube.saToken });
    return res.status === 403 ? undefined : res.status;
  });
  return ms;
}

/** 02-rbac.yaml's namespaced Role and RoleBinding, moved to another function namespace. */
function rbacFor(namespace: string): {
  filter: (o: KubeObject) => boolean;
  transform: (o: KubeObject) => KubeObject;
} {
  return {
    filter: (o) => o.kind === 'Role' || o.kind === 'RoleBinding',
    transform: (o) => ({ ...o, metadata: { ...o.metadata, namespace } }),
  };
}

function decisions(webhook: TestWebhook, podName?: string): Array<Record<string, unknown>> {
  return webhook.logs.filter((l) => l.msg === 'admission decision' && (!podName || l.pod === podName));
}

function syncFailures(webhook: TestWebhook): Array<Record<string, unknown>> {
  return webhook.logs.filter((l) => l.msg === 'pull secret sync failed');
}

/** A SecretApi that records what each call came to (e.g. create → AlreadyExists), for race assertions. */

/** The production API clients, built from the ServiceAccount's kubeconfig, with the Secret calls counted. */
function saApis(outcomes: string[]): ClusterApis {
  const kc = loadKubeConfig({ kubeconfig: kube.saKubeconfigPath, inCluster: false });
  return { secrets: countingSecretApi(createSecretApi(kc), outcomes), webhooks: createWebhookConfigApi(kc) };
}

const count = (list: string[], item: string): number => list.filter((x) => x === item).length;

/** Reconciliations a replica has finished, whatever their result (fn_pinner_pull_secret_syncs_total). */
async function syncCount(webhook: TestWebhook): Promise<number> {
  const { values } = await webhook.metrics.secretSyncs.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

// ---------------------------------------------------------------------------------------------------------

describe('fn-pinner against a real kube-apiserver', () => {
  it('runs as the ServiceAccount with only the RBAC of 02-rbac.yaml: caBundle published, ready once the Secret exists', async () => {
    const rbac = join(MANIFESTS, '02-rbac.yaml');
    // The webhook configuration, named as in manifests/, with a caBundle fn-pinner does not serve with.
    const port = await freePort();
    await registerWebhook(kube, {
      name: 'fn-pinner',
      url: `https://127.0.0.1:${port}/mutate`,
      caPem: kube.caPem,
      namespace: FN_NS,
    });
    // Cluster-scoped RBAC first (the caBundle); the namespaced Role (the Secret) only once fn-pinner runs.
    await createManifestFile(kube, rbac, { filter: (o) => o.kind.startsWith('Cluster') });
    timings.rbacClusterRoleInEffectMs = await rbacInEffect(
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/fn-pinner',
    );
    // Without the Role, fn-pinner may not even read the Secret.
    expect(
      (
        await kube.request('GET', `/api/v1/namespaces/${FN_NS}/secrets/${SECRET}`, undefined, {
          token: kube.saToken,
        })
      ).status,
    ).toBe(403);

    main = await startTestWebhook({
      port: String(port),
      kubeconfig: kube.saKubeconfigPath,
      enablePrivateRegistries: 'true',
      registryAuthSecretPath: volume.path(DOCKER_CONFIG_KEY),
      registryAuthSecretName: SECRET,
      podNamespace: [FN_NS],
      secretResync: '1',
      insecureRegistry: [plain.host, basic.host],
      defaultRegistry: [`${plain.host}/catalog/`],
      failurePolicy: 'Fail',
      webhookConfigName: 'fn-pinner',
      commandPrefix: JSON.stringify(PREFIX),
    });
    expect(main.port).toBe(port);
    // caBundle: published by fn-pinner itself (02-rbac.yaml's ClusterRole: get + update on "fn-pinner"),
    // in the background of start-up, with its CA first and any other still-valid CA kept behind it.
    const { value: published } = await until('caBundle published', async () =>
      main.logs.find((l) => l.msg === 'caBundle published'),
    );
    expect(published).toMatchObject({ changed: true });
    const config = await kube.get({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'fn-pinner' },
    });
    const bundle = Buffer.from(config.body.webhooks[0].clientConfig.caBundle, 'base64').toString('utf8');
    expect(bundle.startsWith(Buffer.from(caBundle(main.caPem), 'base64').toString('utf8').trim())).toBe(true);

    // Not ready: it may not even read the Secret yet.
    const { value: before } = await until('readyz giving the reason', async () => {
      const r = await readyz(main);
      expect(r.status).toBe(503);
      return r.body.includes('403') ? r : undefined;
    });
    expect(before.body).toContain(`pull secret: get secret ${FN_NS}/${SECRET}: 403 Forbidden`);
    expect(before.body).toContain(`User "${SA_USER_NAME}" cannot get resource "secrets"`);
    expect((await kube.get(secretRef(FN_NS))).status).toBe(404);
    expect(syncFailures(main).length).toBeGreaterThan(0);

    // The rest of 02-rbac.yaml: the next resync (1 s) creates the Secret, and only then is it ready.
    const granted = performance.now();
    await createManifestFile(kube, rbac, { filter: (o) => !o.kind.startsWith('Cluster') });
    const ready = await until('fn-pinner /readyz ok', async () => {
      const r = await readyz(main);
      return r.status === 200 ? r : undefined;
    });
    expect(ready.value.body).toBe('ok');
    const secret = await kube.get(secretRef(FN_NS));
    timings.readyAfterRoleMs = performance.now() - granted;
    expect(secret.status).toBe(200);
    expect(secret.body.type).toBe('kubernetes.io/dockerconfigjson');
    expect(Object.keys(secret.body.data)).toEqual([DOCKER_CONFIG_KEY]);
    expect(Buffer.from(secret.body.data[DOCKER_CONFIG_KEY], 'base64')).toEqual(
      readFileSync(volume.path(DOCKER_CONFIG_KEY)),
    );
    expect(secret.body.metadata.labels).toEqual(MANAGED_BY);
    expect(main.logs.find((l) => l.msg === 'pull secret synced')).toMatchObject({
      secret: `${FN_NS}/${SECRET}`,
      result: 'created',
    });

    // The apiserver calls it, trusting the caBundle fn-pinner published.
    const seen = await waitForWebhook(kube, { namespace: FN_NS, image: catalogImage });
    timings.webhookObservedAfterMs = seen.ms;
    expect(seen.res.status).toBe(201);
  });

  it('pins a custom-registry pod, sets its command and appends the pull secret; catalog pods get no secret', async () => {
    const created = await kube.create(
      pod(FN_NS, [{ name: 'function', image: fnImage }], {
        name: 'custom',
        imagePullSecrets: [{ name: 'existing' }],
      }),
    );
    const stored = await kube.get(created);
    expect(stored.status).toBe(200);
    const [c] = stored.body.spec.containers;
    expect(c.image).toBe(`${fnImage}@${fn.digest}`);
    // What `kubectl get pods -l '!fn-pinner.io/pinned'` relies on.
    expect(stored.body.metadata.labels).toEqual({ [PINNED_LABEL]: 'true' });
    expect(c.command).toEqual([...PREFIX, '/fn']);
    expect(c.args).toEqual(['--run']);
    expect(stored.body.spec.imagePullSecrets).toEqual([{ name: 'existing' }, { name: SECRET }]);
    expect(JSON.parse(stored.body.metadata.annotations['fn-pinner.io/original-images'])).toEqual({
      function: fnImage,
    });

    const defaults = await kube.get(
      await kube.create(pod(FN_NS, [{ name: 'function', image: catalogImage }], { name: 'catalog-only' })),
    );
    const [d] = defaults.body.spec.containers;
    expect(d.image).toBe(`${catalogImage}@${catalog.digest}`);
    expect(defaults.body.metadata.labels).toEqual({ [PINNED_LABEL]: 'true' });
    expect(d.command).toEqual([...PREFIX, '/usr/local/bin/function']);
    expect(d.args).toEqual(['--serve']);
    expect(defaults.body.spec.imagePullSecrets).toBeUndefined();
    expect(decisions(main, 'catalog-only')[0]).toMatchObject({ allowed: true, pullSecret: 'not-needed' });
    expect(decisions(main, 'custom')[0]).toMatchObject({ allowed: true, pullSecret: 'added' });
  });

  it('updates the Secret within seconds when the mounted file is swapped as the kubelet does', async () => {
    const next = dockerConfig(
      { [basic.host]: [basic.username, basic.password], 'other.example.com': ['robot', 'rotated'] },
      { credsStore: '' },
    );
    const swapped = performance.now();
    volume.update({ [DOCKER_CONFIG_KEY]: next });
    const { value, ms } = await until('Secret updated from the swapped file', () =>
      secretHolding(FN_NS, next),
    );
    timings.secretUpdatedAfterFileSwapMs = ms;
    expect(value.metadata.labels).toEqual(MANAGED_BY);
    expect(performance.now() - swapped).toBeLessThan(SYNC_TIMEOUT_MS);
    expect(main.logs.some((l) => l.msg === 'pull secret synced' && l.result === 'updated')).toBe(true);
    // Still resolves the custom registry with the new file.
    const again = await kube.create(pod(FN_NS, [{ name: 'function', image: fnImage }]));
    expect(again.spec.containers[0].image).toBe(`${fnImage}@${fn.digest}`);
  });

  it('recreates a deleted Secret and repairs edited content and a wrong type', async () => {
    const want = readFileSync(volume.path(DOCKER_CONFIG_KEY), 'utf8');
    const ref = secretRef(FN_NS);

    const deleted = await kube.remove(ref);
    expect(deleted.status).toBe(200);
    timings.secretRecreatedAfterDeleteMs = (
      await until('deleted Secret recreated', () => secretHolding(FN_NS, want))
    ).ms;

    // Wrong content (still valid JSON, or the apiserver refuses it for this type).
    const current = (await kube.get(ref)).body;
    const edited = await kube.request('PUT', `/api/v1/namespaces/${FN_NS}/secrets/${SECRET}`, {
      ...current,
      data: { [DOCKER_CONFIG_KEY]: Buffer.from('{"auths":{}}').toString('base64') },
    });
    expect(edited.status).toBe(200);
    timings.secretRepairedAfterEditMs = (
      await until('edited Secret repaired', () => secretHolding(FN_NS, want))
    ).ms;

    // Data removed: the apiserver itself refuses that for a dockerconfigjson Secret...
    const emptied = await kube.request(
      'PATCH',
      `/api/v1/namespaces/${FN_NS}/secrets/${SECRET}`,
      { data: null },
      { contentType: 'application/merge-patch+json' },
    );
    expect(emptied.status).toBe(422);
    expect(emptied.body.message).toContain('.dockerconfigjson');
    // ...so the data-less Secret that crashes Porch can only be an Opaque one. fn-pinner recreates it when
    // it is its own (the label; a restore from a backup that lost the type, say); someone else's it leaves
    // alone (secret-sync-faults.test.ts).
    expect((await kube.remove(ref)).status).toBe(200);
    let replaced: KubeResponse | undefined;
    for (let i = 0; i < 20; i++) {
      replaced = await kube.apply({
        ...ref,
        metadata: { ...ref.metadata, labels: MANAGED_BY },
        type: 'Opaque',
      });
      if (replaced.status === 201) break;
      // fn-pinner's resync got there first: take it away again.
      await kube.remove(ref);
    }
    expect(replaced?.status).toBe(201);
    const opaque = await until('Opaque Secret without data recreated', () => secretHolding(FN_NS, want));
    timings.secretRecreatedFromWrongTypeMs = opaque.ms;
    expect(opaque.value.metadata.labels).toEqual(MANAGED_BY);
    expect(opaque.value.type).toBe('kubernetes.io/dockerconfigjson');
    // The Opaque one is replaced by delete + create: 'recreated' when one call did both, or 'created' when
    // a resync or an admission's repair found it already deleted (both race the test's own writes).
    const results = main.logs.filter((l) => l.msg === 'pull secret synced').map((l) => l.result);
    expect(results).toEqual(expect.arrayContaining(['created', 'updated']));
  });

  it('two replicas starting at the same moment end with one correct Secret and no errors', async () => {
    await kube.createNamespace(RACE_NS);
    await createManifestFile(kube, join(MANIFESTS, '02-rbac.yaml'), rbacFor(RACE_NS));
    await rbacInEffect(`/api/v1/namespaces/${RACE_NS}/secrets/${SECRET}`);
    const content = readFileSync(raceVolume.path(DOCKER_CONFIG_KEY), 'utf8');
    const opts = {
      kubeconfig: kube.saKubeconfigPath,
      enablePrivateRegistries: 'true',
      registryAuthSecretPath: raceVolume.path(DOCKER_CONFIG_KEY),
      podNamespace: [RACE_NS],
      // Only the start and the file watch sync here, never a resync.
      secretResync: '3600',
      insecureRegistry: [plain.host, basic.host],
      defaultRegistry: [`${plain.host}/catalog/`],
    };
    const outA: string[] = [];
    const outB: string[] = [];
    const replicas = await Promise.all([
      startTestWebhook(opts, { apis: saApis(outA) }),
      startTestWebhook(opts, { apis: saApis(outB) }),
    ]);
    others.push(...replicas);
    await until('both replicas ready', async () => {
      const states = await Promise.all(replicas.map(readyz));
      return states.every((s) => s.status === 200) ? true : undefined;
    });
    const list = await kube.request('GET', `/api/v1/namespaces/${RACE_NS}/secrets`);
    expect(list.body.items.map((s: KubeJson) => s.metadata.name)).toEqual([SECRET]);
    expect(await secretHolding(RACE_NS, content)).toBeDefined();
    const outcomes = [...outA, ...outB];
    expect(count(outcomes, 'create:ok')).toBe(1);
    console.log(`two replicas starting: ${JSON.stringify({ a: outA, b: outB })}`);

    // Both watch the same mounted file: a swap makes both write at once; one wins, the other re-reads.
    const next = dockerConfig({
      [basic.host]: [basic.username, basic.password],
      'mirror.example.com': ['robot', 'x'],
    });
    const marks = [outA.length, outB.length];
    const syncsBefore = await Promise.all(replicas.map(syncCount));
    raceVolume.update({ [DOCKER_CONFIG_KEY]: next });
    const watched = await until('Secret updated by the file watch', () => secretHolding(RACE_NS, next));
    timings.secretUpdatedByFileWatchMs = watched.ms; // resync is 1 h: this is the folder watch alone
    // Both replicas finished a reconcile (updated, or unchanged after a Conflict and a re-read).
    await until('both replicas synced the swap', async () => {
      const now = await Promise.all(replicas.map(syncCount));
      return now.every((n, i) => n > syncsBefore[i]!) ? true : undefined;
    });
    const after = [...outA.slice(marks[0]), ...outB.slice(marks[1])];
    console.log(`two replicas after a file swap: ${JSON.stringify(after)}`);
    expect(count(after, 'replace:ok')).toBe(1);
    expect(await secretHolding(RACE_NS, next)).toBeDefined();
    for (const r of replicas) {
      expect(syncFailures(r)).toEqual([]);
      expect(r.logs.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
    }

    // The create race itself, made certain: two PullSecretSyncs (production code, real API, the
    // ServiceAccount's RBAC) sync at the same instant, five times, with the Secret deleted in between.
    const metrics = createMetrics();
    const { log, lines } = captureLogger('info');
    const raceOutcomes: string[] = [];
    const syncs = [0, 1].map(
      () =>
        pullSecretSync(saApis(raceOutcomes).secrets, raceVolume.path(DOCKER_CONFIG_KEY), {
          name: SECRET,
          namespaces: [RACE_NS],
          log,
          metrics,
        }).sync,
    );
    let raced = 0;
    for (let round = 0; round < 5; round++) {
      expect((await kube.remove(secretRef(RACE_NS))).status).toBe(200);
      const mark = raceOutcomes.length;
      await Promise.all(syncs.map((s) => s.syncNow()));
      const round_ = raceOutcomes.slice(mark);
      expect(count(round_, 'create:ok')).toBe(1);
      if (round_.includes('create:AlreadyExists')) raced++;
      const secrets = await kube.request('GET', `/api/v1/namespaces/${RACE_NS}/secrets`);
      expect(secrets.body.items).toHaveLength(1);
      expect(await secretHolding(RACE_NS, next)).toBeDefined();
    }
    timings.createRacesLostWithAlreadyExists = raced;
    expect(raced).toBeGreaterThan(0);
    expect(lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
    for (const s of syncs) expect(s.notReadyReason()).toBeUndefined();
  });

  it('does not lose a file change that lands while a sync is still in flight', async () => {
    // A slow API (each GET 600 ms, as under retries with backoff): the swap's sync (200 ms debounce)
    // comes while the start sync, which read the old file, is still running. Resync is 1 h.
    const api = saApis([]).secrets;
    const slow: SecretApi = { ...api, read: async (ns, name) => (await sleep(600), api.read(ns, name)) };
    const old = dockerConfig({ [basic.host]: [basic.username, basic.password] });
    const vol = secretVolume({ [DOCKER_CONFIG_KEY]: old });
    const sync = pullSecretSync(slow, vol.path(DOCKER_CONFIG_KEY), {
      name: SECRET,
      namespaces: [RACE_NS],
      resyncMs: 3_600_000,
    });
    try {
      sync.start();
      await sleep(50);
      const next = dockerConfig({
        [basic.host]: [basic.username, basic.password],
        'late.example.com': ['a', 'b'],
      });
      vol.update({ [DOCKER_CONFIG_KEY]: next });
      const { ms } = await until('the later file content synced', () => secretHolding(RACE_NS, next), 5_000);
      timings.lateFileChangeSyncedMs = ms;
    } finally {
      sync.stop();
      vol.remove();
    }
  });

  it('refuses a pod whose registry is down (Fail), and admits it unmutated with Ignore', async () => {
    // A registry that held the image, then went away; fn-pinner never resolved it before.
    const down = await startRegistry('plain');
    await imagePusher(down).pushImage('catalog/gone', 'v1', { entrypoint: ['/gone'] });
    const goneImage = `${down.host}/catalog/gone:v1`;
    await down.stop();

    const refused = await kube.apply(
      pod(FN_NS, [{ name: 'function', image: goneImage }], { name: 'refused' }),
    );
    expect(refused.status).toBe(403);
    expect(refused.body.message).toContain('admission webhook "fn-pinner.fn-pinner.io" denied the request');
    expect(refused.body.message).toContain(goneImage);
    expect(refused.body.message).toMatch(/connection refused|ECONNREFUSED/);
    console.log(`refused (Fail): ${refused.body.message}`);
    expect((await kube.get(pod(FN_NS, [], { name: 'refused' }))).status).toBe(404);

    // A second fn-pinner with --failure-policy Ignore, registered with failurePolicy Ignore.
    await kube.createNamespace(IGNORE_NS);
    const lenient = await startTestWebhook({
      failurePolicy: 'Ignore',
      insecureRegistry: [plain.host, basic.host, down.host],
      defaultRegistry: [`${plain.host}/catalog/`],
    });
    others.push(lenient);
    await registerWebhook(kube, {
      name: 'fn-pinner-ignore',
      url: lenient.url,
      caPem: lenient.caPem,
      namespace: IGNORE_NS,
      failurePolicy: 'Ignore',
    });
    await waitForWebhook(kube, { namespace: IGNORE_NS, image: catalogImage });
    const admitted = await kube.apply(
      pod(IGNORE_NS, [{ name: 'function', image: goneImage }], { name: 'ignored' }),
    );
    expect(admitted.status).toBe(201);
    // What kubectl prints as "Warning: ...".
    expect(admitted.warnings).toHaveLength(1);
    expect(admitted.warnings[0]).toContain(goneImage);
    expect(admitted.warnings[0]).toMatch(/connection refused|ECONNREFUSED/);
    expect(admitted.warnings[0]).toContain('(pod admitted unmutated: failurePolicy Ignore)');
    console.log(`admitted (Ignore) with warning: ${admitted.warnings[0]}`);
    const stored = await kube.get(admitted.body);
    expect(stored.body.spec.containers[0].image).toBe(goneImage);
    expect(stored.body.spec.containers[0].command).toBeUndefined();
    expect(stored.body.metadata.annotations?.['fn-pinner.io/original-images']).toBeUndefined();
    expect(stored.body.metadata.labels?.[PINNED_LABEL]).toBeUndefined();
    // The same instance still pins what it can reach.
    const pinned = await kube.create(pod(IGNORE_NS, [{ name: 'function', image: catalogImage }]));
    expect(pinned.spec.containers[0].image).toBe(`${catalogImage}@${catalog.digest}`);
    expect(pinned.metadata.labels).toEqual({ [PINNED_LABEL]: 'true' });
    // The label lists what slipped through: the pod admitted unmutated, not the one pinned.
    const slipped = await kube.request(
      'GET',
      `/api/v1/namespaces/${IGNORE_NS}/pods?labelSelector=${encodeURIComponent(`!${PINNED_LABEL}`)}`,
    );
    const names = slipped.body.items.map((p: KubeJson) => p.metadata.name);
    expect(names).toContain('ignored');
    expect(names).not.toContain(pinned.metadata.name);
  });

  it('writes no Secret for a server-side dry run, and refuses it with a message saying why', async () => {
    // A fresh replica for a function namespace that does not exist yet: its first sync fails.
    const dry = await startTestWebhook({
      kubeconfig: kube.saKubeconfigPath,
      enablePrivateRegistries: 'true',
      registryAuthSecretPath: volume.path(DOCKER_CONFIG_KEY),
      podNamespace: [DRY_NS],
      secretResync: '3600',
      insecureRegistry: [plain.host, basic.host],
      defaultRegistry: [`${plain.host}/catalog/`],
    });
    others.push(dry);
    expect((await readyz(dry)).status).toBe(503);
    await kube.createNamespace(DRY_NS);
    await createManifestFile(kube, join(MANIFESTS, '02-rbac.yaml'), rbacFor(DRY_NS));
    await rbacInEffect(`/api/v1/namespaces/${DRY_NS}/secrets/${SECRET}`);
    await registerWebhook(kube, { name: 'fn-pinner-dry', url: dry.url, caPem: dry.caPem, namespace: DRY_NS });
    // Catalog images need no Secret: a dry run of those is fine.
    const probe = await waitForWebhook(kube, { namespace: DRY_NS, image: catalogImage });
    expect(probe.res.status).toBe(201);

    const custom = pod(DRY_NS, [{ name: 'function', image: fnImage }], { name: 'dry' });
    const dryRun = await kube.apply(custom, { dryRun: true });
    expect(dryRun.status).toBe(403);
    expect(dryRun.body.message).toContain(
      'admission webhook "fn-pinner-dry.fn-pinner.io" denied the request',
    );
    expect(dryRun.body.message).toContain(
      `ensure pull secret ${DRY_NS}/${SECRET}: it does not exist, and a dry run does not create it`,
    );
    console.log(`dry run refused: ${dryRun.body.message}`);
    expect((await kube.get(secretRef(DRY_NS))).status).toBe(404);
    expect(decisions(dry, 'dry')[0]).toMatchObject({ dryRun: true, allowed: false });

    // The real create may write: it syncs the Secret on demand and admits the pod.
    const real = await kube.create(custom);
    expect(real.spec.imagePullSecrets).toEqual([{ name: SECRET }]);
    expect(real.spec.containers[0].image).toBe(`${fnImage}@${fn.digest}`);
    expect(await secretHolding(DRY_NS, readFileSync(volume.path(DOCKER_CONFIG_KEY), 'utf8'))).toBeDefined();
    expect((await readyz(dry)).status).toBe(200);
  });

  it('measures pod creation through the API with and without the webhook (warm cache)', async () => {
    const custom = (namespace: string) => pod(namespace, [{ name: 'function', image: fnImage }]);
    // Warm both paths: the tag is cached and the Secret known to be in sync.
    await kube.create(custom(FN_NS));
    await kube.create(custom(PLAIN_NS));
    const withWebhook: number[] = [];
    const without: number[] = [];
    const logged = main.logs.length;
    for (let i = 0; i < TIMED_CREATES; i++) {
      for (const [namespace, into] of [
        [FN_NS, withWebhook],
        [PLAIN_NS, without],
      ] as const) {
        const started = performance.now();
        const res = await kube.apply(custom(namespace));
        into.push(performance.now() - started);
        expect(res.status).toBe(201);
      }
    }
    const reviews = main.logs.slice(logged).filter((l) => l.msg === 'admission decision');
    expect(reviews).toHaveLength(TIMED_CREATES);
    expect(reviews.every((r) => r.allowed === true && r.pullSecret === 'added')).toBe(true);
    timings.podCreateWithWebhookMedianMs = median(withWebhook);
    timings.podCreateWithoutWebhookMedianMs = median(without);
    timings.webhookReviewMedianMs = median(reviews.map((r) => Number(r.durationMs)));
    console.log(
      `pod create through the API, median of ${TIMED_CREATES} alternating (ms): ` +
        `with fn-pinner ${timings.podCreateWithWebhookMedianMs.toFixed(1)}, ` +
        `without ${timings.podCreateWithoutWebhookMedianMs.toFixed(1)}, ` +
        `fn-pinner's own review ${timings.webhookReviewMedianMs.toFixed(2)}`,
    );
  });

  it('is idempotent when re-invoked: one digest per image, one command prefix, the images as written', async () => {
    // A second configuration for the same fn-pinner, and a later webhook that adds a sidecar, so the
    // apiserver re-invokes both fn-pinner webhooks (reinvocationPolicy IfNeeded).
    await registerWebhook(kube, {
      name: 'fn-pinner-again',
      url: main.url,
      caPem: main.caPem,
      namespace: FN_NS,
      reinvocationPolicy: 'IfNeeded',
    });
    const sidecarContainer = { name: 'sidecar', image: sidecarImage };
    injector = await startPatchWebhook((object: KubeJson) =>
      object.spec.containers.some((c: KubeJson) => c.name === 'sidecar')
        ? undefined
        : [{ op: 'add', path: '/spec/containers/-', value: sidecarContainer }],
    );
    await registerWebhook(kube, {
      name: 'zz-sidecar-injector', // called after both fn-pinner configurations (name order)
      webhookName: 'sidecar.example.com',
      url: injector.url,
      caPem: injector.caPem,
      namespace: FN_NS,
      objectSelector: { matchLabels: { 'inject-sidecar': 'true' } },
      reinvocationPolicy: 'Never',
    });
    const labels = { 'inject-sidecar': 'true' };
    await waitForWebhook(kube, {
      namespace: FN_NS,
      pod: pod(FN_NS, [{ name: 'function', image: fnImage }], { labels }),
      acted: (r) => r.status === 201 && r.body.spec.containers.length === 2,
    });

    const created = await kube.create(
      pod(FN_NS, [{ name: 'function', image: fnImage }], { name: 'reinvoked', labels }),
    );
    const stored = (await kube.get(created)).body;
    const byName = Object.fromEntries(stored.spec.containers.map((c: KubeJson) => [c.name, c]));
    expect(Object.keys(byName)).toEqual(['function', 'sidecar']);
    for (const c of stored.spec.containers) expect(c.image.match(/@sha256:/g)).toHaveLength(1);
    expect(byName.function.image).toBe(`${fnImage}@${fn.digest}`);
    expect(byName.function.command).toEqual([...PREFIX, '/fn']);
    expect(byName.function.args).toEqual(['--run']);
    // The sidecar came after fn-pinner's first pass: only a re-invocation can have pinned it.
    expect(byName.sidecar.image).toBe(`${sidecarImage}@${sidecar.digest}`);
    expect(byName.sidecar.command).toEqual([...PREFIX, '/sidecar']);
    expect(stored.spec.imagePullSecrets).toEqual([{ name: SECRET }]);
    expect(JSON.parse(stored.metadata.annotations['fn-pinner.io/original-images'])).toEqual({
      function: fnImage,
      sidecar: sidecarImage,
    });
    const calls = decisions(main, 'reinvoked');
    console.log(
      `re-invocation: fn-pinner called ${calls.length} times for one pod: ` +
        JSON.stringify(
          calls.map((c) => ({
            reason: c.reason,
            containers: (c.containers as KubeJson[] | undefined)?.map((x) => x.name),
          })),
        ),
    );
    // fn-pinner, fn-pinner-again, then both again after the sidecar was added.
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.every((c) => c.allowed === true)).toBe(true);

    await deleteWebhook(kube, 'zz-sidecar-injector');
    await deleteWebhook(kube, 'fn-pinner-again');
  });
  it('exports the drift gauge with the RBAC of manifests/audit/drift-rbac.yaml, and it changes after a tag moves', async () => {
    await kube.createNamespace(DRIFT_NS);
    const moving = `${plain.host}/catalog/moving:v1`;
    const first = await imagePusher(plain).pushImage('catalog/moving', 'v1', { entrypoint: ['/v1'] });
    const drifty = await startTestWebhook({
      kubeconfig: kube.saKubeconfigPath,
      podNamespace: [DRIFT_NS],
      driftInterval: '1',
      tagTtl: '1',
      insecureRegistry: [plain.host, basic.host],
      defaultRegistry: [`${plain.host}/catalog/`],
    });
    others.push(drifty);
    await registerWebhook(kube, {
      name: 'fn-pinner-drift',
      url: drifty.url,
      caPem: drifty.caPem,
      namespace: DRIFT_NS,
    });
    await waitForWebhook(kube, { namespace: DRIFT_NS, image: catalogImage });
    const created = await kube.create(
      pod(DRIFT_NS, [{ name: 'function', image: moving }], { name: 'moving' }),
    );
    expect(created.spec.containers[0].image).toBe(`${moving}@${first.digest}`);
    expect(created.metadata.labels).toEqual({ [PINNED_LABEL]: 'true' });

    const gauge = async (): Promise<Record<string, number>> => {
      const { values } = await drifty.metrics.pods.get();
      return Object.fromEntries(values.map((v) => [String(v.labels.status), v.value]));
    };
    // Without the Role the listing is refused: logged, counted, no gauge.
    const { value: refused } = await until('a drift check refused by RBAC', async () =>
      drifty.logs.find((l) => l.msg === 'drift check failed'),
    );
    expect(JSON.stringify(refused.err)).toContain('403 Forbidden');
    expect(await gauge()).toEqual({});

    await createManifestFile(kube, join(MANIFESTS, '..', 'audit', 'drift-rbac.yaml'), {
      transform: (o) => ({ ...o, metadata: { ...o.metadata, namespace: DRIFT_NS } }),
    });
    await rbacInEffect(`/api/v1/namespaces/${DRIFT_NS}/pods`);
    await until('the gauge shows the pinned pod', async () =>
      (await gauge()).pinned === 1 ? true : undefined,
    );
    expect(await gauge()).toEqual({ pinned: 1, unpinned: 0, drift: 0, unresolvable: 0 });

    const moved = await imagePusher(plain).pushImage('catalog/moving', 'v1', { entrypoint: ['/v2'] });
    expect(moved.digest).not.toBe(first.digest);
    const movedAt = Date.now() / 1000;
    const seen = await until(
      'the gauge shows the drift',
      async () => ((await gauge()).drift === 1 ? true : undefined),
      30_000,
    );
    timings.driftSeenAfterTagMoveMs = seen.ms;
    expect(await gauge()).toEqual({ pinned: 0, unpinned: 0, drift: 1, unresolvable: 0 });
    const lastCheck = (await drifty.metrics.driftLastCheck.get()).values[0]!.value;
    expect(lastCheck).toBeGreaterThan(movedAt);
    // The same numbers on /metrics, as Prometheus reads them.
    const res = await request(`${drifty.url}/metrics`, { dispatcher: drifty.dispatcher });
    const text = await res.body.text();
    expect(text).toContain('fn_pinner_pods{status="drift"} 1');
    expect(text).toMatch(/^fn_pinner_drift_last_check_timestamp_seconds \d+(\.\d+)?$/m);
    await deleteWebhook(kube, 'fn-pinner-drift');
  });
});
