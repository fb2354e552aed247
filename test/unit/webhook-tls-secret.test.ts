import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';

import { KubeApiError } from '../../src/kube/client.js';
import type { SecretObject } from '../../src/kube/client.js';
import { NEXT_CA_SINCE_ANNOTATION, WebhookTlsSecret } from '../../src/secrets/webhook-tls.js';
import { bundleCas } from '../../src/tls/ca-bundle.js';
import { generateCa, generateServingCert } from '../../src/tls/certs.js';
import { servingDnsNames } from '../../src/tls/serving.js';
import { planSharedCerts } from '../../src/tls/shared-certs.js';
import type { SharedCertOptions, SharedData } from '../../src/tls/shared-certs.js';
import { captureLogger } from '../support/capture-logger.js';
import { FakeSecrets, FakeWebhookConfigs } from '../support/fake-secrets.js';

const DAY = 86_400_000;
const NS = 'fn-pinner-system';
const NAME = 'fn-pinner-webhook-tls';
const KEY = `${NS}/${NAME}`;
const OPTS: SharedCertOptions = {
  service: 'fn-pinner',
  namespace: NS,
  validityDays: 365,
  renewBeforeDays: 30,
  caValidityDays: 3650,
  caSettleMs: 60_000,
};
const MANAGED = { 'app.kubernetes.io/managed-by': 'fn-pinner' };

const encode = (data: SharedData): Record<string, string> =>
  Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]));
const decode = (s: SecretObject | undefined, key: string): string =>
  Buffer.from(s?.data?.[key] ?? '', 'base64').toString('utf8');
const trim = (pems: string[]): string[] => pems.map((p) => p.trim());

/** What another replica would have written: a fresh CA and leaf. */
function othersData(): SharedData {
  const plan = planSharedCerts({ data: {}, nextCaSince: undefined }, OPTS, new Date());
  if (plan.kind !== 'write') throw new Error('expected a write');
  return plan.data;
}

function stored(data: SharedData, metadata: Record<string, unknown> = {}): SecretObject {
  return {
    metadata: { name: NAME, namespace: NS, labels: MANAGED, ...metadata },
    type: 'kubernetes.io/tls',
    data: encode(data),
  };
}

function setup(clock?: () => Date) {
  const api = new FakeSecrets();
  const webhooks = new FakeWebhookConfigs();
  const { log, lines } = captureLogger();
  const secret = new WebhookTlsSecret({
    ...OPTS,
    api,
    name: NAME,
    publish: (trusted) => webhooks.setCaBundle('fn-pinner', trusted),
    log,
    ...(clock ? { clock } : {}),
  });
  return { api, webhooks, secret, lines };
}

describe('WebhookTlsSecret', () => {
  it('creates the Secret (kubernetes.io/tls, labelled, CA key beside it) and serves what it holds', async () => {
    const { api, secret, lines } = setup();
    const plan = await secret.sync();
    expect(api.calls).toEqual(['read', 'create', 'read']);
    const s = api.store.get(KEY)!;
    expect(s.type).toBe('kubernetes.io/tls');
    expect(s.metadata.labels).toEqual(MANAGED);
    expect(Object.keys(s.data!).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(plan.certs).toEqual({
      caPem: decode(s, 'ca.crt'),
      certPem: decode(s, 'tls.crt'),
      keyPem: decode(s, 'tls.key'),
    });
    expect(lines.find((l) => l.msg === 'webhook TLS Secret written')).toMatchObject({
      secret: KEY,
      created: true,
    });
    // A second replica (or the next poll) only reads.
    api.calls = [];
    expect((await secret.sync()).certs).toEqual(plan.certs);
    expect(api.calls).toEqual(['read']);
  });

  it('loses a create race with AlreadyExists and serves the winner’s Secret: one CA for both', async () => {
    const { api, secret, lines } = setup();
    const winner = othersData();
    api.before.push({ op: 'create', run: () => api.put(stored(winner)) });
    const plan = await secret.sync();
    expect(api.calls).toEqual(['read', 'create', 'read']);
    expect(plan.certs.caPem).toBe(winner['ca.crt']);
    expect(plan.certs.certPem).toBe(winner['tls.crt']);
    expect(api.store.size).toBe(1);
    expect(lines.find((l) => l.msg.includes('lost a race'))).toMatchObject({ reason: 'AlreadyExists' });
  });

  it('re-reads after a Conflict and serves what the other replica wrote instead of overwriting it', async () => {
    const { api, secret } = setup();
    // A leaf inside its renewal window: both replicas want to renew it.
    const data = othersData();
    const ca = { certPem: data['ca.crt']!, keyPem: data['ca.key']! };
    const old = generateServingCert({
      ca,
      dnsNames: servingDnsNames(OPTS.service, NS),
      ipAddresses: ['127.0.0.1'],
      now: new Date(Date.now() - 340 * DAY),
    });
    api.put(stored({ ...data, 'tls.crt': old.certPem, 'tls.key': old.keyPem }));
    const theirs = generateServingCert({
      ca,
      dnsNames: servingDnsNames(OPTS.service, NS),
      ipAddresses: ['127.0.0.1'],
    });
    api.before.push({
      op: 'replace',
      run: () => api.put(stored({ ...data, 'tls.crt': theirs.certPem, 'tls.key': theirs.keyPem })),
    });
    const plan = await secret.sync();
    expect(api.calls).toEqual(['read', 'replace', 'read']);
    expect(plan.certs.certPem).toBe(theirs.certPem);
    expect(plan.certs.caPem).toBe(data['ca.crt']);
  });

  it('gives up with a Conflict when other writers keep winning, rather than looping', async () => {
    const { api, secret } = setup();
    api.failures.push(
      ...Array.from({ length: 5 }, () => ({
        op: 'create',
        error: new KubeApiError('create: 409 AlreadyExists', 'AlreadyExists', 409, undefined),
      })),
    );
    await expect(secret.sync()).rejects.toMatchObject({ code: 'KUBE_API', reason: 'Conflict' });
    expect(api.calls.filter((c) => c === 'create')).toHaveLength(5);
  });

  it('neither uses nor changes a Secret of that name that fn-pinner did not create', async () => {
    const { api, secret } = setup();
    api.put({ ...stored(othersData()), metadata: { name: NAME, namespace: NS } });
    await expect(secret.sync()).rejects.toThrow(
      `load serving certificate from Secret ${KEY}: it exists, but fn-pinner did not create it`,
    );
    expect(api.calls).toEqual(['read']);
  });

  it('throws what the API throws (a 403), so the caller can report it and retry', async () => {
    const { api, secret } = setup();
    api.failures.push({
      op: 'read',
      error: new KubeApiError('get secret: 403 Forbidden', 'Forbidden', 403, undefined),
    });
    await expect(secret.sync()).rejects.toMatchObject({ status: 403 });
  });

  it('rotates the CA in two steps: the next CA reaches the caBundle before it signs anything', async () => {
    let now = new Date();
    const { api, webhooks, secret, lines } = setup(() => now);
    // 3300 days into a 3650-day CA.
    const oldCa = generateCa({ validityDays: 3650, now: new Date(now.getTime() - 3300 * DAY) });
    const oldLeaf = generateServingCert({
      ca: oldCa,
      dnsNames: servingDnsNames(OPTS.service, NS),
      ipAddresses: ['127.0.0.1'],
    });
    const data = {
      'ca.crt': oldCa.certPem,
      'ca.key': oldCa.keyPem,
      'tls.crt': oldLeaf.certPem,
      'tls.key': oldLeaf.keyPem,
    };
    api.put(stored(data, { labels: { ...MANAGED, team: 'platform' }, annotations: { owner: 'ops' } }));

    // Step 1: the next CA is added (dated) and served beside the current one; nothing else changes.
    const first = await secret.sync();
    const afterStep1 = api.store.get(KEY)!;
    const nextCa = decode(afterStep1, 'next-ca.crt');
    expect(nextCa).toContain('BEGIN CERTIFICATE');
    expect(afterStep1.metadata.annotations).toEqual({
      owner: 'ops',
      [NEXT_CA_SINCE_ANNOTATION]: now.toISOString(),
    });
    expect(afterStep1.metadata.labels).toEqual({ ...MANAGED, team: 'platform' });
    expect(first.certs.certPem).toBe(oldLeaf.certPem);
    expect(trim(bundleCas(first.trusted))).toEqual(trim([oldCa.certPem, nextCa]));
    expect(webhooks.published).toEqual([]); // publishing what is served is the caller's job

    // Settled, but the caBundle does not hold the next CA yet: it is published now, and nothing is
    // promoted in the same call (the API servers may not have seen it yet).
    now = new Date(now.getTime() + OPTS.caSettleMs);
    const waiting = await secret.sync();
    expect(waiting.certs.certPem).toBe(oldLeaf.certPem);
    expect(trim(webhooks.cas())).toEqual(trim([oldCa.certPem, nextCa]));
    expect(api.store.get(KEY)!.metadata.resourceVersion).toBe(afterStep1.metadata.resourceVersion);

    // Step 2: the caBundle already held it, so the next CA signs a new leaf.
    let bundleAtWrite: string[] = [];
    api.before.push({ op: 'replace', run: () => (bundleAtWrite = webhooks.cas()) });
    const promoted = await secret.sync();
    expect(trim(bundleAtWrite)).toEqual(trim([oldCa.certPem, nextCa]));
    const leaf = new X509Certificate(promoted.certs.certPem);
    expect(leaf.checkIssued(new X509Certificate(nextCa))).toBe(true);
    const s = api.store.get(KEY)!;
    expect(s.data?.['next-ca.crt']).toBeUndefined();
    expect(s.metadata.annotations).toEqual({ owner: 'ops' });
    expect(trim(bundleCas(promoted.trusted))).toEqual(trim([nextCa, oldCa.certPem]));
    expect(lines.filter((l) => l.msg === 'webhook TLS Secret written').map((l) => l.why)).toEqual([
      expect.stringMatching(/^the CA expires at .*: adding the next CA$/),
      'the next CA has been in the caBundle long enough: it signs from now on',
    ]);
  });
});
