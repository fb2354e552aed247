import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createMetrics } from '../../src/metrics.js';
import { KubeApiError } from '../../src/kube/client.js';
import { FakeSecrets } from '../support/fake-secrets.js';
import { reconcileSecret } from '../../src/secrets/reconcile.js';
import type { PullSecretSync } from '../../src/secrets/sync.js';
import { pullSecretSync } from '../support/pull-secret.js';

const CONFIG = Buffer.from(
  JSON.stringify({ auths: { 'r.example.com': { auth: Buffer.from('u:p').toString('base64') } } }),
);
const b64 = (b: Buffer): string => b.toString('base64');

const target = { namespace: 'fns', name: 'auth-secret', content: CONFIG };

describe('reconcileSecret', () => {
  it('creates a missing Secret as kubernetes.io/dockerconfigjson with the managed-by label', async () => {
    const api = new FakeSecrets();
    expect(await reconcileSecret(api, target)).toBe('created');
    expect(api.store.get('fns/auth-secret')).toMatchObject({
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': b64(CONFIG) },
      metadata: { labels: { 'app.kubernetes.io/managed-by': 'fn-pinner' } },
    });
  });

  it('leaves a Secret that is already in sync alone (no write)', async () => {
    const api = new FakeSecrets();
    await reconcileSecret(api, target);
    api.calls = [];
    expect(await reconcileSecret(api, target)).toBe('unchanged');
    expect(api.calls).toEqual(['read']);
  });

  it('updates changed content, keeping labels someone else added', async () => {
    const api = new FakeSecrets();
    api.put({
      metadata: { name: 'auth-secret', namespace: 'fns', labels: { team: 'a' } },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': 'e30=' },
    });
    expect(await reconcileSecret(api, target)).toBe('updated');
    expect(api.store.get('fns/auth-secret')!.metadata.labels).toEqual({
      team: 'a',
      'app.kubernetes.io/managed-by': 'fn-pinner',
    });
  });

  it('repairs a Secret with no data at all (Porch panics on it)', async () => {
    const api = new FakeSecrets();
    api.put({ metadata: { name: 'auth-secret', namespace: 'fns' }, type: 'kubernetes.io/dockerconfigjson' });
    expect(await reconcileSecret(api, target)).toBe('updated');
    expect(api.store.get('fns/auth-secret')!.data).toEqual({ '.dockerconfigjson': b64(CONFIG) });
  });

  it('recreates a Secret of the wrong type, since type is immutable', async () => {
    const api = new FakeSecrets();
    api.put({ metadata: { name: 'auth-secret', namespace: 'fns' }, type: 'Opaque', data: { x: 'eQ==' } });
    expect(await reconcileSecret(api, target)).toBe('recreated');
    expect(api.calls).toEqual(['read', 'delete', 'create']);
    expect(api.store.get('fns/auth-secret')!.type).toBe('kubernetes.io/dockerconfigjson');
  });

  it('re-reads and reconciles on a 409 Conflict from a concurrent writer', async () => {
    const api = new FakeSecrets();
    api.put({
      metadata: { name: 'auth-secret', namespace: 'fns' },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': 'e30=' },
    });
    // Another replica bumps the resourceVersion between our read and our update.
    api.before.push({ op: 'replace', run: () => void api.put(api.store.get('fns/auth-secret')!) });
    expect(await reconcileSecret(api, target)).toBe('updated');
    expect(api.calls).toEqual(['read', 'replace', 'read', 'replace']);
  });

  it('re-reads on AlreadyExists when another replica created it first, ending with one correct Secret', async () => {
    const api = new FakeSecrets();
    api.before.push({
      op: 'create',
      run: () =>
        void api.put({
          metadata: {
            name: 'auth-secret',
            namespace: 'fns',
            labels: { 'app.kubernetes.io/managed-by': 'fn-pinner' },
          },
          type: 'kubernetes.io/dockerconfigjson',
          data: { '.dockerconfigjson': b64(CONFIG) },
        }),
    });
    expect(await reconcileSecret(api, target)).toBe('unchanged');
    expect(api.calls).toEqual(['read', 'create', 'read']);
    expect(api.store.size).toBe(1);
  });
});

function syncWith(
  api: FakeSecrets,
  file: string,
  extra: Parameters<typeof pullSecretSync>[2] = {},
): PullSecretSync {
  return pullSecretSync(api, file, extra).sync;
}

function configFile(content: Buffer | string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fn-pinner-sync-')), '.dockerconfigjson');
  writeFileSync(file, content);
  return file;
}

describe('PullSecretSync', () => {
  it('is not ready until the first sync succeeds, then is', async () => {
    const api = new FakeSecrets();
    const sync = syncWith(api, configFile(CONFIG));
    expect(sync.notReadyReason()).toMatch(/not synced yet/);
    await sync.syncNow();
    expect(sync.notReadyReason()).toBeUndefined();
  });

  it('backs off and retries transient API errors', async () => {
    const api = new FakeSecrets();
    api.failures.push({
      op: 'read',
      error: new KubeApiError('get: 503 ServiceUnavailable', 'ServiceUnavailable', 503, undefined),
    });
    api.failures.push({
      op: 'read',
      error: new KubeApiError('get: no response ECONNREFUSED', 'ECONNREFUSED', undefined, undefined),
    });
    await syncWith(api, configFile(CONFIG)).syncNow();
    expect(api.store.size).toBe(1);
  });

  it('never overwrites a good Secret with an invalid Docker config, and says why', async () => {
    const api = new FakeSecrets();
    const file = configFile(CONFIG);
    const { sync, source } = pullSecretSync(api, file);
    await sync.syncNow();
    writeFileSync(file, '{"auths": {"r.example.com": {"auth": "!!!"}}');
    await sync.syncNow();
    expect(api.store.get('fns/auth-secret')!.data!['.dockerconfigjson']).toBe(b64(CONFIG));
    expect(source.lastError).toBe(`load Docker config ${file}: not valid JSON (at character 44)`);
    expect(sync.notReadyReason()).toBeUndefined();
  });

  it('refuses to create anything from an invalid file when there is no good one yet', async () => {
    const api = new FakeSecrets();
    const sync = syncWith(api, configFile('not json'));
    await expect(sync.syncNow()).rejects.toMatchObject({ code: 'BAD_DOCKER_CONFIG' });
    expect(api.store.size).toBe(0);
    expect(sync.notReadyReason()).toMatch(/^pull secret: load Docker config .*: not valid JSON/);
  });

  it('ensure() on a dry run never writes, and fails clearly when the Secret is missing', async () => {
    const api = new FakeSecrets();
    const sync = syncWith(api, configFile(CONFIG));
    await expect(sync.ensure({ dryRun: true, namespace: 'fns' })).rejects.toThrow(
      'ensure pull secret fns/auth-secret: it does not exist, and a dry run does not create it',
    );
    expect(api.calls.filter((c) => c !== 'read')).toEqual([]);
  });

  it('ensure() syncs on demand for a real create, and refuses namespaces it does not manage', async () => {
    const api = new FakeSecrets();
    const sync = syncWith(api, configFile(CONFIG));
    await sync.ensure({ dryRun: false, namespace: 'fns' });
    expect(api.store.size).toBe(1);
    await expect(sync.ensure({ dryRun: false, namespace: 'other' })).rejects.toMatchObject({
      code: 'SECRET_UNAVAILABLE',
    });
  });
});

describe('PullSecretSync metrics', () => {
  it('counts each sync by namespace and result, and records the time of the last success', async () => {
    const api = new FakeSecrets();
    const metrics = createMetrics();
    const { sync } = pullSecretSync(api, configFile(CONFIG), { metrics, attempts: 1 });
    const before = Date.now() / 1000;
    await sync.syncNow();
    await sync.syncNow();
    api.failures.push({
      op: 'read',
      error: new KubeApiError('get: 503', 'ServiceUnavailable', 503, undefined),
    });
    await expect(sync.syncNow()).rejects.toMatchObject({ code: 'KUBE_API' });
    const counts = (await metrics.secretSyncs.get()).values.map((v) => [v.labels.result, v.value]);
    expect(Object.fromEntries(counts)).toEqual({ created: 1, unchanged: 1, failed: 1 });
    const [last] = (await metrics.secretLastSuccess.get()).values;
    expect(last?.labels).toEqual({ namespace: 'fns' });
    expect(last?.value).toBeGreaterThanOrEqual(before);
  });
});

describe('PullSecretSync.ensure() on admission', () => {
  async function synced(): Promise<{ api: FakeSecrets; sync: PullSecretSync }> {
    const api = new FakeSecrets();
    const sync = syncWith(api, configFile(CONFIG));
    await sync.syncNow();
    api.calls = [];
    return { api, sync };
  }

  it('confirms an in-sync Secret with one read and writes nothing', async () => {
    const { api, sync } = await synced();
    await sync.ensure({ dryRun: false, namespace: 'fns' });
    expect(api.calls).toEqual(['read']);
  });

  it('recreates a Secret deleted since the last sync before the pod is admitted', async () => {
    const { api, sync } = await synced();
    api.store.delete('fns/auth-secret');
    await sync.ensure({ dryRun: false, namespace: 'fns' });
    expect(api.store.get('fns/auth-secret')!.data!['.dockerconfigjson']).toBe(b64(CONFIG));
    expect(api.calls).toEqual(['read', 'read', 'create']);
  });

  it('repairs a Secret edited since the last sync', async () => {
    const { api, sync } = await synced();
    const edited = structuredClone(api.store.get('fns/auth-secret')!);
    edited.data = { '.dockerconfigjson': b64(Buffer.from('{"auths":{}}')) };
    api.put(edited);
    await sync.ensure({ dryRun: false, namespace: 'fns' });
    expect(api.store.get('fns/auth-secret')!.data!['.dockerconfigjson']).toBe(b64(CONFIG));
  });

  it('shares one repair between concurrent reviews of a namespace', async () => {
    const { api, sync } = await synced();
    api.store.delete('fns/auth-secret');
    await Promise.all([1, 2, 3].map(() => sync.ensure({ dryRun: false, namespace: 'fns' })));
    expect(api.calls.filter((c) => c === 'create')).toEqual(['create']);
    expect(api.store.size).toBe(1);
  });

  it('trusts the last sync when the API does not answer the confirming read', async () => {
    const { api, sync } = await synced();
    api.failures.push({
      op: 'read',
      error: new KubeApiError('get: no response ETIMEDOUT', 'ETIMEDOUT', undefined, undefined),
    });
    await sync.ensure({ dryRun: false, namespace: 'fns' });
    expect(api.calls).toEqual(['read']);
  });

  it('fails the review when the Secret is missing and cannot be recreated', async () => {
    const { api, sync } = await synced();
    api.store.delete('fns/auth-secret');
    api.failures.push({
      op: 'create',
      error: new KubeApiError('create: 403 Forbidden', 'Forbidden', 403, undefined),
    });
    await expect(sync.ensure({ dryRun: false, namespace: 'fns' })).rejects.toMatchObject({
      code: 'SECRET_UNAVAILABLE',
      message: 'ensure pull secret fns/auth-secret: create: 403 Forbidden',
    });
  });
});

describe('PullSecretSync readiness', () => {
  it('stays ready through a rotation and a failing sync once the Secret has been synced', async () => {
    const api = new FakeSecrets();
    const file = configFile(CONFIG);
    const sync = syncWith(api, file, { attempts: 1 });
    await sync.syncNow();
    expect(sync.notReadyReason()).toBeUndefined();
    writeFileSync(
      file,
      JSON.stringify({ auths: { 'r.example.com': { username: 'u', password: 'rotated' } } }),
    );
    api.failures.push({
      op: 'read',
      error: new KubeApiError('get: 503', 'ServiceUnavailable', 503, undefined),
    });
    await expect(sync.syncNow()).rejects.toMatchObject({ code: 'KUBE_API' });
    expect(sync.notReadyReason()).toBeUndefined();
    await sync.syncNow();
    expect(
      Buffer.from(api.store.get('fns/auth-secret')!.data!['.dockerconfigjson']!, 'base64').toString(),
    ).toContain('rotated');
  });
});
