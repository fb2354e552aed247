import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';

import { createAdmissionEndpoint } from '../../src/admission/endpoint.js';
import { createLogger } from '../../src/logging.js';
import { RegistryPrefixes } from '../../src/reference/prefixes.js';
import { MUTATION_LIMITS } from '../support/limits.js';
import { FakeMetadataSource } from '../support/fake-resolver.js';

/**
 * The exact wire answer to an AdmissionReview captured from a real kube-apiserver (v1.20.2) creating a
 * Porch-style function pod (scripts/capture-admission-review.ts).
 */
const review = JSON.parse(
  readFileSync(new URL('../fixtures/admission/captured/pod-create-v1.20.json', import.meta.url), 'utf8'),
);
const fn = 'ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1';
const wrapper = 'docker.io/nephio/porch-wrapper-server:latest';
const source = new FakeMetadataSource({
  [fn]: { entrypoint: ['/usr/local/bin/function'] },
  [wrapper]: { entrypoint: ['/usr/local/bin/function'] },
});
const FN_DIGEST = source.digestOf(fn);
const WRAPPER_DIGEST = source.digestOf(wrapper);

describe('a captured AdmissionReview from kube-apiserver v1.20.2', () => {
  it('gets exactly this AdmissionReview back: uid echoed, JSONPatch, audit annotations', async () => {
    const endpoint = createAdmissionEndpoint({
      source,
      log: createLogger({ level: 'silent' }),
      options: {
        failurePolicy: 'Fail',
        excludedNamespaces: ['kube-system'],
        reviewDeadlineMs: 9_000,
        mutation: {
          commandPrefix: ['/wrapper-server-tools/wrapper-server', '--port', '9446', '--'],
          defaultPlatform: { os: 'linux', architecture: 'amd64' },
          limits: MUTATION_LIMITS,
          pullSecret: {
            name: 'auth-secret',
            defaultRegistries: RegistryPrefixes.parse(['ghcr.io/kptdev/krm-functions-catalog/']),
          },
        },
      },
    });
    const answer = await endpoint.review(structuredClone(review));
    expect(answer.status).toBe(200);
    const body = answer.body as { apiVersion: string; kind: string; response: Record<string, any> };
    const { response } = body;
    expect(body.apiVersion).toBe('admission.k8s.io/v1');
    expect(body.kind).toBe('AdmissionReview');
    expect(Object.keys(response).sort()).toEqual([
      'allowed',
      'auditAnnotations',
      'patch',
      'patchType',
      'uid',
    ]);
    expect(response.uid).toBe(review.request.uid);
    expect(response.allowed).toBe(true);
    expect(response.patchType).toBe('JSONPatch');
    expect(JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'))).toEqual([
      {
        op: 'replace',
        path: '/spec/containers/0/image',
        value: `${fn}@${FN_DIGEST}`,
      },
      {
        op: 'add',
        path: '/spec/containers/0/command',
        value: ['/wrapper-server-tools/wrapper-server', '--port', '9446', '--', '/usr/local/bin/function'],
      },
      { op: 'replace', path: '/spec/initContainers/0/image', value: `${wrapper}@${WRAPPER_DIGEST}` },
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'auth-secret' }] },
      {
        op: 'add',
        path: '/metadata/annotations/fn-pinner.io~1original-images',
        value: JSON.stringify({ 'copy-wrapper-server': wrapper, function: fn }),
      },
      { op: 'add', path: '/metadata/labels/fn-pinner.io~1pinned', value: 'true' },
    ]);
    expect(response.auditAnnotations).toEqual({
      'original-images': JSON.stringify({ 'copy-wrapper-server': wrapper, function: fn }),
      'pinned-images': JSON.stringify({
        'copy-wrapper-server': `${wrapper}@${WRAPPER_DIGEST}`,
        function: `${fn}@${FN_DIGEST}`,
      }),
    });
  });
});
