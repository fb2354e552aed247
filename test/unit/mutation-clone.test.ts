import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { MUTATION_LIMITS } from '../support/limits.js';

import { mutatePod } from '../../src/mutation/pod.js';
import { RegistryPrefixes } from '../../src/reference/prefixes.js';
import type { Pod } from '../../src/mutation/types.js';
import { FakeMetadataSource } from '../support/fake-resolver.js';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

describe('mutatePod', () => {
  it('never modifies the pod it was given (copy-on-write clone), even with pull secret and annotations', async () => {
    const review = JSON.parse(
      readFileSync(
        new URL('../fixtures/admission/pod-create-private-registry.json', import.meta.url),
        'utf8',
      ),
    );
    const original = review.request.object as Pod;
    const images = [...(original.spec?.initContainers ?? []), ...(original.spec?.containers ?? [])];
    const source = new FakeMetadataSource(
      Object.fromEntries(images.map((c) => [c.image!, { entrypoint: ['/fn'], cmd: ['--x'] }])),
    );
    const snapshot = structuredClone(original);
    deepFreeze(original);
    const result = await mutatePod(original, source, {
      commandPrefix: ['/w'],
      defaultPlatform: { os: 'linux', architecture: 'amd64' },
      limits: MUTATION_LIMITS,
      pullSecret: { name: 'auth-secret', defaultRegistries: RegistryPrefixes.parse(['gcr.io/kpt-fn/']) },
    });
    expect(original).toEqual(snapshot);
    expect(result.changes.length).toBeGreaterThan(0);
    expect(result.pod.spec?.imagePullSecrets?.at(-1)).toEqual({ name: 'auth-secret' });
    expect(result.pod.metadata?.annotations?.['fn-pinner.io/original-images']).toBeDefined();
  });
});
