import { describe, expect, it } from '@jest/globals';

import { podIdentity } from '../../src/admission/pod-credentials.js';
import { AccessLedger } from '../../src/images/access.js';
import { credentialId, makeCredential } from '../../src/registry/auth/credentials.js';
import { ImageReference } from '../../src/reference/reference.js';
import { PodPullSecrets } from '../../src/sources/pod-pull-secrets.js';
import type { PullSecretApi } from '../../src/sources/pod-pull-secrets.js';
import { parsePullSecret } from '../../src/sources/pull-secret-parse.js';
import type { PullSecretData } from '../../src/sources/pull-secret-parse.js';
import { captureLogger } from '../support/capture-logger.js';

const PASSWORD = 'pod-secret-pa55word';
const ref = (image: string): ImageReference => ImageReference.parse(image);
const ctx = () => ({ signal: new AbortController().signal, deadline: Date.now() + 10_000, what: 't' });
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function dockerSecret(host: string, rv = '1', type = 'kubernetes.io/dockerconfigjson'): PullSecretData {
  const auths = { [host]: { auth: b64(`user:${PASSWORD}`) } };
  const body = type === 'kubernetes.io/dockercfg' ? auths : { auths };
  const key = type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson';
  return { metadata: { resourceVersion: rv }, type, data: { [key]: b64(JSON.stringify(body)) } };
}

/** The API in memory, counting reads. */
class MemoryApi implements PullSecretApi {
  secrets = new Map<string, PullSecretData>();
  accounts = new Map<string, string[]>();
  reads: string[] = [];
  failing = new Set<string>();

  async readSecret(namespace: string, name: string): Promise<PullSecretData | undefined> {
    this.reads.push(`secret ${namespace}/${name}`);
    if (this.failing.has(name)) throw new Error(`get secret ${namespace}/${name}: 403 Forbidden`);
    return this.secrets.get(`${namespace}/${name}`);
  }

  async readServiceAccount(namespace: string, name: string) {
    this.reads.push(`sa ${namespace}/${name}`);
    const list = this.accounts.get(`${namespace}/${name}`);
    return list && { metadata: { resourceVersion: '1' }, imagePullSecrets: list };
  }
}

function setup(ttlMs = 60_000) {
  const api = new MemoryApi();
  const pps = new PodPullSecrets({
    api,
    log: captureLogger().log,
    cacheTtlMs: ttlMs,
    maxCached: 100,
    maxSecretsPerPod: 3,
  });
  return { api, pps };
}

const identity = (extra: Partial<Parameters<PodPullSecrets['keychainFor']>[0]> = {}) => ({
  namespace: 'fn',
  pod: 'p',
  imagePullSecrets: [] as string[],
  serviceAccountName: 'default',
  ...extra,
});

describe('parsePullSecret', () => {
  it('reads both Secret types the kubelet pulls with, marking the credentials as the pod’s own', () => {
    for (const type of ['kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg']) {
      const parsed = parsePullSecret('fn', 'reg', dockerSecret('registry.example', '7', type));
      expect(parsed.resourceVersion).toBe('7');
      expect(parsed.entries).toHaveLength(1);
      expect(parsed.entries[0]!.credential).toMatchObject({
        username: 'user',
        password: PASSWORD,
        podScoped: true,
        // The legacy .dockercfg format has no "auths" level.
        source: expect.stringMatching(/^secret fn\/reg (auths)?\["registry\.example"\]$/),
      });
    }
  });

  it('gives nothing, with a reason that never quotes the content, for what the kubelet would not use', () => {
    expect(parsePullSecret('fn', 'x', undefined).problem).toBe('not found');
    expect(parsePullSecret('fn', 'x', { metadata: {}, type: 'Opaque', data: {} }).problem).toBe(
      'type Opaque ignored',
    );
    expect(parsePullSecret('fn', 'x', { metadata: {}, type: 'kubernetes.io/dockerconfigjson' }).problem).toBe(
      'no .dockerconfigjson key',
    );
    const broken = parsePullSecret('fn', 'x', {
      metadata: {},
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': b64(`{"auths": {"h": {"auth": "${PASSWORD}"`) },
    });
    expect(broken.problem).toMatch(/^unusable \(load Docker config secret fn\/x: /);
    expect(broken.problem).not.toContain(PASSWORD);
  });
});

describe('PodPullSecrets', () => {
  it('reads nothing until a lookup, then the pod’s and its ServiceAccount’s Secrets, once per review', async () => {
    const { api, pps } = setup();
    api.secrets.set('fn/a', dockerSecret('registry.example'));
    api.secrets.set('fn/b', dockerSecret('other.example'));
    api.accounts.set('fn/builder', ['b', 'a']);
    const kc = pps.keychainFor(identity({ imagePullSecrets: ['a'], serviceAccountName: 'builder' }));
    expect(api.reads).toEqual([]);
    const found = await kc.lookup(ref('registry.example/x:1'), ctx());
    await kc.lookup(ref('other.example/x:1'), ctx());
    expect(found.credentials.map((c) => c.source)).toEqual(['secret fn/a auths["registry.example"]']);
    expect(found.consulted).toEqual([
      'pull secret fn/a (pod): 1 match',
      'pull secret fn/b (service account builder): no match',
    ]);
    expect(api.reads.sort()).toEqual(['sa fn/builder', 'secret fn/a', 'secret fn/b']);
  });

  it('reuses reads for a while across reviews, and a re-read at the same resourceVersion keeps the credential', async () => {
    const { api, pps } = setup(1);
    api.secrets.set('fn/a', dockerSecret('registry.example', '5'));
    const first = await pps
      .keychainFor(identity({ imagePullSecrets: ['a'] }))
      .lookup(ref('registry.example/x'), ctx());
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = await pps
      .keychainFor(identity({ imagePullSecrets: ['a'] }))
      .lookup(ref('registry.example/x'), ctx());
    expect(api.reads.filter((r) => r === 'secret fn/a')).toHaveLength(2);
    expect(second.credentials[0]).toBe(first.credentials[0]);

    const cached = setup();
    cached.api.secrets.set('fn/a', dockerSecret('registry.example', '5'));
    for (let i = 0; i < 3; i++)
      await cached.pps
        .keychainFor(identity({ imagePullSecrets: ['a'] }))
        .lookup(ref('registry.example/x'), ctx());
    expect(cached.api.reads.filter((r) => r === 'secret fn/a')).toHaveLength(1);
  });

  it('skips missing, unreadable and surplus Secrets as the kubelet does, naming each', async () => {
    const { api, pps } = setup();
    api.failing.add('locked');
    const kc = pps.keychainFor(identity({ imagePullSecrets: ['gone', 'locked', 'c', 'd'] }));
    const found = await kc.lookup(ref('registry.example/x'), ctx());
    expect(found.credentials).toEqual([]);
    expect(found.consulted).toEqual([
      'pull secrets of pod fn/p: only the first 3 read',
      'pull secret fn/gone (pod): not found',
      'pull secret fn/locked (pod): not readable (get secret fn/locked: 403 Forbidden)',
      'pull secret fn/c (pod): not found',
    ]);
    const none = await pps.keychainFor(identity()).lookup(ref('registry.example/x'), ctx());
    expect(none.consulted).toEqual(['pull secrets of pod fn/p: none']);
  });
});

describe('podIdentity', () => {
  it('takes the namespace, the Secret names and the ServiceAccount as the kubelet would', () => {
    expect(
      podIdentity('fn', {
        metadata: { generateName: 'fn-' },
        spec: { imagePullSecrets: [{ name: 'a' }, {}, { name: '' }], serviceAccount: 'legacy' },
      }),
    ).toEqual({
      namespace: 'fn',
      pod: 'fn-(generated)',
      imagePullSecrets: ['a'],
      serviceAccountName: 'legacy',
    });
    expect(podIdentity('fn', { metadata: { name: 'p' } }).serviceAccountName).toBe('default');
  });
});

describe('AccessLedger', () => {
  const r = ref('registry.example/team/fn:v1');
  const pod = (password: string) =>
    makeCredential({ username: 'u', password, source: `secret x/${password}`, podScoped: true });

  it('knows nothing at first: unknown is never shared', () => {
    const ledger = new AccessLedger(10);
    expect(ledger.isShared(r)).toBe(false);
    expect(ledger.allows(r, [])).toBe(false);
  });

  it('restricts content fetched with a pod credential to that secret, wherever it is mounted', () => {
    const ledger = new AccessLedger(10);
    ledger.record(r, pod('alpha'));
    expect(ledger.isShared(r)).toBe(false);
    expect(ledger.allows(r, [credentialId(pod('alpha'))])).toBe(true);
    expect(ledger.allows(r, [credentialId(pod('beta'))])).toBe(false);
    expect(ledger.allows(ref('registry.example/team/other:v1'), [credentialId(pod('alpha'))])).toBe(false);
  });

  it('opens a repository to every pod once a shared credential (or anonymous) read it', () => {
    const ledger = new AccessLedger(10);
    ledger.record(r, pod('alpha'));
    ledger.record(r, makeCredential({ username: 'u', password: 'mounted', source: 'mounted' }));
    expect(ledger.isShared(r)).toBe(true);
    ledger.record(r, pod('gamma'));
    expect(ledger.isShared(r)).toBe(true);
    const anon = new AccessLedger(10);
    anon.record(r, undefined);
    expect(anon.allows(r, [])).toBe(true);
  });
});
