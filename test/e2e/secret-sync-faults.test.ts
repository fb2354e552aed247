import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { ClusterApis } from '../../src/app/cluster.js';
import { createSecretApi, createWebhookConfigApi, loadKubeConfig } from '../../src/kube/client.js';
import type { SecretApi } from '../../src/kube/client.js';
import { createManifestFile, secretVolume, startKube } from '../support/kube.js';
import type { KubeJson, KubeObject, SecretVolume, TestKube } from '../support/kube.js';
import { watchSecret } from '../support/kube-watch.js';
import type { SecretHistory } from '../support/kube-watch.js';
import { knownCredential } from '../support/leak-scan.js';
import { countingSecretApi } from '../support/pull-secret.js';
import { until as waitUntil } from '../support/wait.js';
import { readyz, startTestWebhook } from '../support/webhook.js';
import type { TestWebhook } from '../support/webhook.js';

/**
 * kube-apiserver faults while fn-pinner keeps the pull Secret in sync, against the real API server: a
 * restart in the middle of a sync, a concurrent writer that makes its updates conflict, RBAC taken away and
 * given back, and someone else's Secret put in place of ours. Each time a watch records every version the
 * Secret goes through, so "nothing is lost" is checked on the whole history: the Secret is never deleted
 * or recreated, never holds anything but a file's content (or the other writer's), never goes back to an
 * older file, and ends with the latest file, by itself, without a restart of fn-pinner.
 */
const MANIFESTS = join(import.meta.dirname, '..', '..', 'manifests', 'base');
const SECRET = 'auth-secret';
const KEY = '.dockerconfigjson';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'fn-pinner' };
const RECOVERY_TIMEOUT_MS = 60_000;
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = RECOVERY_TIMEOUT_MS) =>
  waitUntil(what, probe, timeoutMs, 50);

let kube: TestKube;
const running: Scenario[] = [];
const figures: Record<string, number> = {};

beforeAll(async () => {
  kube = await startKube();
  await kube.createNamespace('fn-pinner-system');
}, 15 * 60_000);

afterAll(async () => {
  for (const s of running) await s.stop();
  await kube?.stop();
  console.log(`secret-sync-faults figures: ${JSON.stringify(figures, null, 2)}`);
});

// ---------------------------------------------------------------------------------------------------------
// Helpers

/** Polls `probe` until it returns something; generous bounds, since only a broken recovery would hit them. */

const secretRef = (namespace: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: SECRET, namespace },
});

async function stored(namespace: string): Promise<KubeJson> {
  const res = await kube.get(secretRef(namespace));
  return res.status === 200 ? res.body : undefined;
}

async function holding(namespace: string, content: string): Promise<KubeJson> {
  const s = await stored(namespace);
  const data = s?.data?.[KEY];
  return data !== undefined && Buffer.from(data, 'base64').toString('utf8') === content ? s : undefined;
}

/** A Docker config with a distinctive password (registered with the leak scan), version n. */
function dockerConfig(n: number): string {
  const password = `rotated-${n}-${randomBytes(6).toString('hex')}`;
  knownCredential('robot', password, `pull secret file version ${n}`);
  const auth = Buffer.from(`robot:${password}`).toString('base64');
  return `${JSON.stringify({ auths: { 'registry.example.com': { auth } } })}\n`;
}

/** What another writer puts in the Secret: valid for the type, and recognisable. */
const writerContent = (n: number): string => JSON.stringify({ auths: {}, writer: n });

/** A SecretApi that records what each call came to (read:ok, replace:Conflict, …). */

const count = (list: string[], item: string): number => list.filter((x) => x === item).length;

interface Scenario {
  namespace: string;
  volume: SecretVolume;
  webhook: TestWebhook;
  history: SecretHistory;
  /** Every content the mounted file has held, in order. */
  files: string[];
  /** Every content another writer put in the Secret. */
  written: string[];
  outcomes: string[];
  rotate(): string;
  stop(): Promise<void>;
}

/** 02-rbac.yaml's Role and RoleBinding in another namespace. */
async function grantRbac(namespace: string): Promise<void> {
  await createManifestFile(kube, join(MANIFESTS, '02-rbac.yaml'), {
    serverSide: true,
    filter: (o) => o.kind === 'Role' || o.kind === 'RoleBinding',
    transform: (o) => ({ ...o, metadata: { ...o.metadata, namespace } }),
  });
  await saCanRead(namespace, true);
}

/** RBAC is served from an informer: wait until the ServiceAccount's GET is (or is no longer) allowed. */
async function saCanRead(namespace: string, allowed: boolean): Promise<number> {
  const path = `/api/v1/namespaces/${namespace}/secrets/${SECRET}`;
  const { ms } = await until(`RBAC ${allowed ? 'granted' : 'revoked'} in ${namespace}`, async () => {
    const res = await kube.request('GET', path, undefined, { token: kube.saToken });
    return (res.status === 403) === !allowed ? true : undefined;
  });
  return ms;
}

/**
 * A namespace with 02-rbac.yaml's RBAC, a mounted file, a watch on the Secret, and `fn-pinner serve`
 * (the ServiceAccount's kubeconfig, resync every second) whose Secret API calls pass through `wrap`.
 */
async function scenario(
  namespace: string,
  wrap: (api: SecretApi) => SecretApi = (api) => api,
  opts: { waitForSync?: boolean } = {},
): Promise<Scenario> {
  if (
    (await kube.get({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } })).status === 404
  ) {
    await kube.createNamespace(namespace);
  }
  await grantRbac(namespace);
  const files = [dockerConfig(1)];
  const volume = secretVolume({ [KEY]: files[0]! });
  const history = watchSecret(kube, namespace, SECRET);
  const outcomes: string[] = [];
  const kc = loadKubeConfig({ kubeconfig: kube.saKubeconfigPath, inCluster: false });
  const apis: ClusterApis = {
    secrets: countingSecretApi(wrap(createSecretApi(kc)), outcomes),
    webhooks: createWebhookConfigApi(kc),
  };
  const webhook = await startTestWebhook(
    {
      kubeconfig: kube.saKubeconfigPath,
      enablePrivateRegistries: 'true',
      registryAuthSecretPath: volume.path(KEY),
      registryAuthSecretName: SECRET,
      podNamespace: [namespace],
      secretResync: '1',
    },
    { apis },
  );
  const s: Scenario = {
    namespace,
    volume,
    webhook,
    history,
    files,
    written: [],
    outcomes,
    rotate() {
      const next = dockerConfig(files.length + 1);
      files.push(next);
      volume.update({ [KEY]: next });
      return next;
    },
    async stop() {
      await webhook.stop();
      await history.stop();
      volume.remove();
    },
  };
  running.push(s);
  if (opts.waitForSync ?? true) await until('first sync', () => holding(namespace, files[0]!));
  return s;
}

function failures(webhook: TestWebhook): string[] {
  return webhook.logs.filter((l) => l.msg === 'pull secret sync failed').map((l) => String(l.err));
}

/** The Secret's whole history: nothing lost, nothing wrong, nothing old, and the latest file at the end. */
async function expectNothingLost(s: Scenario, opts: { uidChanges?: number } = {}): Promise<void> {
  const latest = s.files[s.files.length - 1]!;
  const { ms } = await until(`${s.namespace}: the latest file in the Secret`, () =>
    holding(s.namespace, latest),
  );
  // Let the watch catch up with the last write before looking at the history.
  await until('watch caught up', async () =>
    s.history.versions.at(-1)?.content === latest ? true : undefined,
  );
  const versions = s.history.versions;
  expect(s.history.gaps).toBe(0);
  expect(versions.filter((v) => v.event === 'DELETED')).toEqual([]);
  expect(new Set(versions.map((v) => v.uid)).size).toBe(1 + (opts.uidChanges ?? 0));
  for (const v of versions) {
    expect(v.type).toBe('kubernetes.io/dockerconfigjson');
    expect([...s.files, ...s.written]).toContain(v.content);
  }
  // fn-pinner never writes an older file over a newer one.
  const order = versions.map((v) => s.files.indexOf(v.content ?? '')).filter((i) => i >= 0);
  expect(order).toEqual([...order].sort((a, b) => a - b));
  expect(versions.at(-1)).toMatchObject({
    content: latest,
    labels: expect.objectContaining(MANAGED_BY),
  });
  figures[`${s.namespace}: versions seen`] = versions.length;
  figures[`${s.namespace}: latest file in the Secret, ms after the fault ended`] = Math.round(ms);
}

// ---------------------------------------------------------------------------------------------------------

describe('pull Secret sync under kube-apiserver faults', () => {
  it('survives kube-apiserver killed in the middle of a sync: a file change made while it is down lands once it is back', async () => {
    let armed = false;
    let killed: Promise<void> | undefined;
    // A restarted API server's watch cache starts empty: a watch resumed from a version older than its
    // start gets 410 Gone and its history would have a hole. So fn-pinner's calls wait (they do not fail)
    // from the restart until the watch is back; then everything it writes is seen.
    let gate: Promise<void> = Promise.resolve();
    const gated =
      <A extends unknown[], T>(call: (...args: A) => Promise<T>) =>
      async (...args: A): Promise<T> => {
        await gate;
        return call(...args);
      };
    // Kill the API server between the sync's read and its write: the update goes to a dying server.
    const s = await scenario('fault-restart', (api) => ({
      read: gated((ns: string, name: string) => api.read(ns, name)),
      create: gated((secret: Parameters<SecretApi['create']>[0]) => api.create(secret)),
      delete: gated((ns: string, name: string, pre: Parameters<SecretApi['delete']>[2]) =>
        api.delete(ns, name, pre),
      ),
      replace: (secret) => {
        if (armed) {
          armed = false;
          killed = kube.stopApiserver('SIGKILL');
        }
        return gated((x: typeof secret) => api.replace(x))(secret);
      },
    }));
    armed = true;
    const failedBefore = failures(s.webhook).length;
    s.rotate();
    await until('the API server killed mid-sync', async () => (killed ? true : undefined));
    await killed;
    const down = performance.now();
    // While it is down: syncs fail and retry; readiness does not flap; another file change comes in.
    await until('a sync failed against the dead API server', async () =>
      failures(s.webhook).length > failedBefore ? true : undefined,
    );
    s.rotate();
    expect(await readyz(s.webhook)).toEqual({ status: 200, body: 'ok' });
    await until('a sync of the newest file failed too', async () =>
      failures(s.webhook).length > failedBefore + 1 ? true : undefined,
    );
    expect(failures(s.webhook).at(-1)).toMatch(/ECONNREFUSED|socket hang up|ECONNRESET/);

    let open = (): void => undefined;
    gate = new Promise<void>((resolve) => (open = resolve));
    const streams = s.history.streams;
    await kube.startApiserver();
    figures['kube-apiserver down (ms)'] = Math.round(performance.now() - down);
    await until('the watch back', async () => (s.history.streams > streams ? true : undefined));
    open();
    await expectNothingLost(s);
    expect(s.history.resumed).toBeGreaterThan(0);
    expect(await readyz(s.webhook)).toEqual({ status: 200, body: 'ok' });
    figures['fault-restart: failed syncs while down'] = failures(s.webhook).length - failedBefore;
  });

  it('converges through a concurrent writer whose updates make its own conflict, keeping what that writer added', async () => {
    let interfere = 7; // more than one sync's worth of rounds (5): one sync gives up, the resync wins
    let writes = 0;
    const write = async (namespace: string): Promise<void> => {
      const current = await stored(namespace);
      if (!current) return;
      const n = ++writes;
      const content = writerContent(n);
      s.written.push(content);
      await kube.request('PUT', `/api/v1/namespaces/${namespace}/secrets/${SECRET}`, {
        ...current,
        metadata: {
          ...current.metadata,
          labels: { ...current.metadata.labels, 'example.com/writer': 'yes' },
          annotations: { ...current.metadata.annotations, 'example.com/write': String(n) },
        },
        data: { [KEY]: Buffer.from(content).toString('base64') },
      });
    };
    // Another writer gets in between fn-pinner's read and its update: a real 409 from the API server.
    const s: Scenario = await scenario('fault-conflict', (api) => ({
      ...api,
      replace: async (secret) => {
        if (interfere-- > 0) await write(secret.metadata.namespace);
        return api.replace(secret);
      },
    }));
    s.rotate();
    // And one writing on its own schedule for three seconds, while the file changes once more.
    const chaos = (async () => {
      const end = Date.now() + 3_000;
      while (Date.now() < end) {
        await write(s.namespace);
        await sleep(50);
      }
    })();
    await sleep(1_000);
    s.rotate();
    await chaos;

    await expectNothingLost(s);
    const conflicts = count(s.outcomes, 'replace:Conflict');
    expect(conflicts).toBeGreaterThanOrEqual(7);
    // One sync ran out of rounds, and said so; a later one won without anyone's help.
    expect(failures(s.webhook).some((f) => f.includes('still conflicting after 5 rounds'))).toBe(true);
    const last = s.history.versions.at(-1)!;
    expect(last.labels).toMatchObject({ 'example.com/writer': 'yes' });
    expect(last.annotations['example.com/write']).toBeDefined();
    figures['fault-conflict: 409 Conflicts on update'] = conflicts;
    figures['fault-conflict: writes by the other writer'] = writes;
  });

  it('keeps the last good Secret while RBAC is taken away (403), and syncs the file changed meanwhile once it is back', async () => {
    const s = await scenario('fault-rbac');
    const binding: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'fn-pinner-pull-secret', namespace: s.namespace },
    };
    expect((await kube.remove(binding)).status).toBe(200);
    await saCanRead(s.namespace, false);
    const failedBefore = failures(s.webhook).length;
    s.rotate();
    // A few resyncs' worth of refusals, not just one.
    await until('syncs refused with 403', async () => {
      const refused = failures(s.webhook).slice(failedBefore);
      return refused.filter((f) => f.includes('403 Forbidden')).length >= 3 ? true : undefined;
    });
    expect(failures(s.webhook).at(-1)).toContain(
      `User "system:serviceaccount:fn-pinner-system:fn-pinner" cannot get resource "secrets"`,
    );
    expect(await holding(s.namespace, s.files[0]!)).toBeDefined();
    expect(await readyz(s.webhook)).toEqual({ status: 200, body: 'ok' });

    const restored = performance.now();
    await grantRbac(s.namespace);
    await expectNothingLost(s);
    figures['fault-rbac: synced after RBAC restored (ms)'] = Math.round(performance.now() - restored);
    figures['fault-rbac: syncs refused while forbidden'] = failures(s.webhook).length - failedBefore;
  });

  it('never deletes someone else’s Secret put in place of ours between the read and the delete, and takes over once it is gone', async () => {
    const namespace = 'fault-foreign';
    await kube.createNamespace(namespace);
    // Ours, but of the wrong type (a careless restore): the repair deletes it and creates it again.
    await kube.create({
      ...secretRef(namespace),
      metadata: { ...secretRef(namespace).metadata, labels: MANAGED_BY },
      type: 'Opaque',
    });
    let theirs: KubeJson;
    const s = await scenario(
      namespace,
      (api) => ({
        ...api,
        delete: async (ns, name, pre) => {
          if (!theirs) {
            await kube.remove(secretRef(ns));
            theirs = await kube.create({
              ...secretRef(ns),
              type: 'Opaque',
              data: { team: Buffer.from('their data').toString('base64') },
            });
          }
          return api.delete(ns, name, pre);
        },
      }),
      { waitForSync: false },
    );
    const { value: refusal } = await until('the refusal', async () =>
      failures(s.webhook).find((f) => f.includes('not managed')),
    );
    expect(refusal).toBe(
      `sync pull secret ${namespace}/${SECRET}: a Secret of that name exists with type "Opaque" and is not ` +
        'managed by fn-pinner (no label app.kubernetes.io/managed-by=fn-pinner); refusing to delete it. Remove ' +
        'it, or choose another name with --registry-auth-secret-name',
    );
    expect(s.outcomes).toContain('delete:Conflict');
    // A few resyncs later it is still theirs, untouched.
    await until('two more refusals', async () => (failures(s.webhook).length >= 3 ? true : undefined));
    const still = await stored(namespace);
    expect(still.metadata.uid).toBe(theirs!.metadata.uid);
    expect(still.data).toEqual(theirs!.data);
    const notReady = await readyz(s.webhook);
    expect(notReady.status).toBe(503);
    expect(notReady.body).toContain('is not managed by fn-pinner');

    // Its owner removes it: the next resync creates ours, and fn-pinner becomes ready.
    expect((await kube.remove(secretRef(namespace))).status).toBe(200);
    await until('ours created', () => holding(namespace, s.files[0]!));
    await until('ready', async () => ((await readyz(s.webhook)).status === 200 ? true : undefined));
  });
});
