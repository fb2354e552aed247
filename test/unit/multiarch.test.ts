import { describe, expect, it } from '@jest/globals';

import type { Resolution } from '../../src/images/resolver.js';
import { PlatformMemo } from '../../src/mutation/multiarch.js';
import { mutatePod } from '../../src/mutation/pod.js';
import { MUTATION_LIMITS } from '../support/limits.js';
import type { MetadataSource } from '../../src/mutation/pod.js';
import type { Platform } from '../../src/reference/platform.js';
import { ImageReference } from '../../src/reference/reference.js';

const DIGEST = `sha256:${'d'.repeat(64)}`;
const PLATFORMS: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];

/** An index whose arm64 image runs something else; `arm` decides how the arm64 resolution behaves. */
function source(arm: 'ok' | 'hang'): MetadataSource & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async resolve(image, opts): Promise<Resolution> {
      const ref = typeof image === 'string' ? ImageReference.parse(image) : image;
      const platform = opts?.platform ?? PLATFORMS[0]!;
      calls.push(platform.architecture);
      if (platform.architecture === 'arm64' && arm === 'hang') await new Promise(() => undefined);
      return {
        cache: 'hit',
        metadata: {
          image: ref.original,
          digest: DIGEST,
          resolved: ref.pin(DIGEST),
          mediaType: 'application/vnd.oci.image.index.v1+json',
          platform,
          manifestDigest: DIGEST,
          entrypoint: [`/fn-${platform.architecture}`],
          cmd: [],
          platforms: PLATFORMS,
        },
      };
    },
  };
}

const pod = { spec: { containers: [{ name: 'fn', image: 'r.io/fn:v1' }] } };
const opts = { commandPrefix: [], defaultPlatform: PLATFORMS[0]!, limits: MUTATION_LIMITS };

describe('the multi-arch check', () => {
  it('only warns, within its own budget, when another platform does not answer', async () => {
    const result = await mutatePod(pod, source('hang'), opts);
    expect(result.pod.spec?.containers?.[0]?.command).toEqual(['/fn-amd64']);
    expect(result.warnings).toEqual([
      'container "fn": the other platforms of r.io/fn:v1 were not compared within 1000 ms',
    ]);
  });

  it('remembers a comparison per index digest, so warm reviews do not resolve every platform again', async () => {
    const memo = new PlatformMemo();
    const first = source('ok');
    const one = await mutatePod(pod, first, opts, memo);
    expect(one.warnings[0]).toContain('disagree on the command');
    const second = source('ok');
    const two = await mutatePod(pod, second, opts, memo);
    expect(two.warnings).toEqual(one.warnings);
    expect(second.calls).toEqual(['amd64']);
  });
});
