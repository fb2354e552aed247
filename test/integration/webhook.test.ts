import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';

import { request } from 'undici';

import { applyPatch } from '../../src/admission/patch.js';
import { writeDockerConfig } from '../support/cli.js';
import { FakeSecrets, FakeWebhookConfigs } from '../support/fake-secrets.js';
import { imagePusher } from '../support/images.js';
import type { PushedImage, PushedIndex } from '../support/images.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';
import { startTestWebhook } from '../support/webhook.js';
import type { TestWebhook } from '../support/webhook.js';

/** `fn-pinner serve` over HTTPS with its own generated CA, against real registries. */
let catalog: TestRegistry; // plays the default (public catalog) registry
let privateReg: TestRegistry; // a custom registry behind htpasswd
let webhook: TestWebhook;
let fn: PushedImage;
let multi: PushedIndex;
let privateFn: PushedImage;
const secrets = new FakeSecrets();

beforeAll(async () => {
  [catalog, privateReg] = await Promise.all([startRegistry('plain'), startRegistry('basic')]);
  fn = await imagePusher(catalog).pushImage('catalog/set-namespace', 'v0.4', {
    entrypoint: ['/usr/local/bin/function'],
  });
  multi = await imagePusher(catalog).pushIndex('catalog/multi', 'v1', [
    { os: 'linux', arch: 'amd64', entrypoint: ['/fn-amd64'] },
    { os: 'linux', arch: 'arm64', entrypoint: ['/fn-arm64'] },
  ]);
  privateFn = await imagePusher(privateReg).pushImage('team/fn', 'v1', {
    entrypoint: ['/team'],
    cmd: ['--go'],
  });
  webhook = await startTestWebhook(
    {
      insecureRegistry: [catalog.host, privateReg.host],
      defaultRegistry: [`${catalog.host}/catalog/`],
      enablePrivateRegistries: 'true',
      registryAuthSecretPath: writeDockerConfig({
        [privateReg.host]: [privateReg.username, privateReg.password],
      }),
      commandPrefix: '["/wrapper-server-tools/wrapper-server","--port","9446","--"]',
    },
    // The Secret's life in a real API server is the e2e suite's business; here it is kept in memory.
    { apis: { secrets, webhooks: new FakeWebhookConfigs() } },
  );
});

afterAll(async () => {
  await webhook.stop();
  await Promise.all([catalog.stop(), privateReg.stop()]);
});

function review(pod: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, any> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'porch-fn-system',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:porch-system:porch-fn-runner' },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
      ...extra,
    },
  };
}

function functionPod(
  containers: Array<Record<string, unknown>>,
  spec: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'set-namespace-', namespace: 'porch-fn-system', creationTimestamp: null },
    spec: { containers, imagePullSecrets: [{ name: 'existing' }], ...spec },
  };
}

async function admit(pod: Record<string, unknown>): Promise<{ response: any; pod: any }> {
  const r = await webhook.post(review(pod));
  expect(r.status).toBe(200);
  const { response } = r.body;
  const ops = response.patch ? JSON.parse(Buffer.from(response.patch, 'base64').toString()) : [];
  return { response, pod: applyPatch(pod, ops) };
}

describe('fn-pinner serve: admission over HTTPS', () => {
  it('pins, sets the command behind the wrapper, and attaches the pull secret for a custom registry', async () => {
    const pod = functionPod([
      { name: 'function', image: `${privateReg.host}/team/fn:v1` },
      { name: 'catalog', image: `${catalog.host}/catalog/set-namespace:v0.4` },
    ]);
    const { response, pod: out } = await admit(pod);
    expect(response.allowed).toBe(true);
    expect(response.patchType).toBe('JSONPatch');
    expect(out.spec.containers).toEqual([
      {
        name: 'function',
        image: `${privateReg.host}/team/fn:v1@${privateFn.digest}`,
        command: ['/wrapper-server-tools/wrapper-server', '--port', '9446', '--', '/team'],
        args: ['--go'],
      },
      {
        name: 'catalog',
        image: `${catalog.host}/catalog/set-namespace:v0.4@${fn.digest}`,
        command: ['/wrapper-server-tools/wrapper-server', '--port', '9446', '--', '/usr/local/bin/function'],
      },
    ]);
    expect(out.spec.imagePullSecrets).toEqual([{ name: 'existing' }, { name: 'auth-secret' }]);
    expect(secrets.store.get('porch-fn-system/auth-secret')?.type).toBe('kubernetes.io/dockerconfigjson');
    expect(JSON.parse(out.metadata.annotations['fn-pinner.io/original-images'])).toEqual({
      function: `${privateReg.host}/team/fn:v1`,
      catalog: `${catalog.host}/catalog/set-namespace:v0.4`,
    });
    expect(JSON.parse(response.auditAnnotations['pinned-images'])).toEqual({
      function: `${privateReg.host}/team/fn:v1@${privateFn.digest}`,
      catalog: `${catalog.host}/catalog/set-namespace:v0.4@${fn.digest}`,
    });
  });

  it('attaches no pull secret when every image comes from a default registry', async () => {
    const { pod: out } = await admit(
      functionPod([{ name: 'function', image: `${catalog.host}/catalog/set-namespace:v0.4` }]),
    );
    expect(out.spec.imagePullSecrets).toEqual([{ name: 'existing' }]);
  });

  it('takes the argv from the nodeSelector platform and pins the index digest', async () => {
    const pod = functionPod([{ name: 'function', image: `${catalog.host}/catalog/multi:v1` }], {
      nodeSelector: { 'kubernetes.io/arch': 'arm64' },
    });
    const { response, pod: out } = await admit(pod);
    expect(response.warnings).toBeUndefined();
    expect(out.spec.containers[0]).toMatchObject({
      image: `${catalog.host}/catalog/multi:v1@${multi.digest}`,
      command: ['/wrapper-server-tools/wrapper-server', '--port', '9446', '--', '/fn-arm64'],
    });
  });

  it('warns, and records it for auditors, when an index disagrees on the argv and the pod does not choose', async () => {
    const { response } = await admit(
      functionPod([{ name: 'function', image: `${catalog.host}/catalog/multi:v1` }]),
    );
    expect(response.warnings).toHaveLength(1);
    expect(response.warnings[0]).toContain('disagree on the command');
    expect(JSON.parse(response.auditAnnotations['platform-disagreement'])).toHaveProperty('function');
  });

  it('returns no patch when a mutated pod comes back (reinvocation)', async () => {
    const { pod: once } = await admit(
      functionPod([{ name: 'function', image: `${privateReg.host}/team/fn:v1` }]),
    );
    const { response } = await admit(once);
    expect(response).toEqual({ uid: expect.any(String), allowed: true });
  });

  it('denies with a message naming the container, the image and the reason', async () => {
    const image = `${catalog.host}/catalog/set-namespace:v9`;
    const r = await webhook.post(review(functionPod([{ name: 'function', image }])));
    expect(r.body.response.allowed).toBe(false);
    expect(r.body.response.status.code).toBe(403);
    expect(r.body.response.status.message).toContain(`container "function"`);
    expect(r.body.response.status.message).toContain(image);
    expect(r.body.response.status.message).toContain('not found');
  });

  it('echoes the uid and answers 400 with an AdmissionReview for malformed input', async () => {
    const bad = review({ kind: 'Pod' });
    bad.request.operation = 'EXPLODE';
    const r = await webhook.post(bad);
    expect(r.status).toBe(400);
    expect(r.body.response.uid).toBe(bad.request.uid);
    expect(r.body.response.status.message).toContain('request.operation');
  });

  it('writes one decision log line per review with the original and pinned images', async () => {
    const before = webhook.logs.length;
    const r = await webhook.post(
      review(functionPod([{ name: 'function', image: `${catalog.host}/catalog/set-namespace:v0.4` }])),
    );
    const line = webhook.logs.slice(before).find((l) => l.msg === 'admission decision');
    expect(line).toMatchObject({
      uid: r.body.response.uid,
      namespace: 'porch-fn-system',
      reason: 'Patched',
      containers: [
        { name: 'function', original: `${catalog.host}/catalog/set-namespace:v0.4`, cache: 'hit' },
      ],
    });
    expect(typeof line!.durationMs).toBe('number');
  });

  it('exposes admission and cache metrics', async () => {
    const res = await request(`${webhook.url}/metrics`, { dispatcher: webhook.dispatcher });
    const text = await res.body.text();
    expect(text).toMatch(/fn_pinner_admission_reviews_total\{reason="Patched"\} \d+/);
    // The denial above (an unknown tag).
    expect(text).toContain('fn_pinner_admission_errors_total{reason="Denied",code="MANIFEST_UNKNOWN"} 1');
    expect(text).toMatch(/fn_pinner_cache_lookups_total\{tier="tag",result="hit"\} \d+/);
    expect(text).toContain('process_resident_memory_bytes');
  });
});

describe('fn-pinner serve: its own certificate', () => {
  it('serves a chain that verifies against the generated ca.crt, with the expected SANs and a year of validity', async () => {
    const ca = readFileSync(join(webhook.certDir, 'ca.crt'), 'utf8');
    const peer = await new Promise<X509Certificate>((resolve, reject) => {
      const socket = connect(
        { host: '127.0.0.1', port: webhook.port, ca, servername: 'fn-pinner.fn-pinner-system.svc' },
        () => {
          const cert = socket.getPeerX509Certificate();
          socket.end();
          if (!socket.authorized || !cert)
            reject(new Error(`not authorized: ${String(socket.authorizationError)}`));
          else resolve(cert);
        },
      );
      socket.on('error', reject);
    });
    expect(peer.checkIssued(new X509Certificate(ca))).toBe(true);
    for (const san of [
      'DNS:fn-pinner.fn-pinner-system.svc',
      'DNS:fn-pinner.fn-pinner-system.svc.cluster.local',
      'DNS:localhost',
      'IP Address:127.0.0.1',
    ]) {
      expect(peer.subjectAltName).toContain(san);
    }
    const days = (Date.parse(peer.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(360);
    expect(days).toBeLessThan(366);
    expect(peer.keyUsage ?? []).toContain('1.3.6.1.5.5.7.3.1'); // serverAuth
  });
});
