import { describe, expect, it } from '@jest/globals';

import { FnPinnerError } from '../../src/errors.js';
import { MetadataCache } from '../../src/images/cache.js';
import { recordOriginals } from '../../src/mutation/annotations.js';
import type { ContainerChange } from '../../src/mutation/pod.js';
import { ORIGINAL_IMAGES_ANNOTATION } from '../../src/mutation/types.js';
import { ImageReference } from '../../src/reference/reference.js';
import { SingleFlight } from '../../src/util/singleflight.js';
import { boundLine, quote } from '../../src/util/text.js';

describe('the original-images annotation', () => {
  const change = { name: 'fn', original: 'r.io/fn:v1' } as ContainerChange;

  it.each([['null'], ['[1,2]'], ['5'], ['"text"'], ['{"fn": 7}'], ['not json']])(
    'replaces someone else’s %s instead of failing the pod',
    (value) => {
      const pod = { metadata: { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: value } } };
      recordOriginals(pod, [change]);
      expect(JSON.parse(pod.metadata.annotations[ORIGINAL_IMAGES_ANNOTATION])).toEqual({ fn: 'r.io/fn:v1' });
    },
  );

  it('keeps entries written by an earlier pass', () => {
    const pod = {
      metadata: { annotations: { [ORIGINAL_IMAGES_ANNOTATION]: '{"fn":"r.io/fn:v0","x":"y"}' } },
    };
    recordOriginals(pod, [change]);
    expect(JSON.parse(pod.metadata.annotations[ORIGINAL_IMAGES_ANNOTATION])).toEqual({
      fn: 'r.io/fn:v0',
      x: 'y',
    });
  });
});

describe('the metadata cache', () => {
  const digest = (i: number): string => `sha256:${i.toString(16).padStart(64, '0')}`;

  it('stays within its byte bound whatever is put in it, evicting the least recently used', () => {
    const cache = new MetadataCache({ maxImages: 10_000, maxBytes: 64 * 1024, tagTtlMs: 60_000 });
    for (let i = 0; i < 2_000; i++) {
      const ref = ImageReference.parse(`r.io/img${i}:v1`);
      cache.setTag(ref, digest(i));
      cache.setConfig(ref, digest(i), { entrypoint: ['/app'.repeat(50)], cmd: [], platform: undefined });
    }
    const sizes = cache.sizes();
    expect(sizes.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(sizes.tag + sizes.config).toBeLessThan(4_000);
    expect(cache.tag(ImageReference.parse('r.io/img1999:v1'))?.digest).toBe(digest(1999));
    expect(cache.tag(ImageReference.parse('r.io/img0:v1'))).toBeUndefined();
  });

  it('keys by reference and digest: a digest cached for one repository is not served for another', () => {
    const cache = new MetadataCache({ maxImages: 10, maxBytes: 1 << 20, tagTtlMs: 60_000 });
    const config = { entrypoint: ['/a'], cmd: [], platform: undefined };
    cache.setConfig(ImageReference.parse('r.io/a:v1'), digest(1), config);
    expect(cache.config(ImageReference.parse('r.io/a:v2'), digest(1))).toBe(config);
    expect(cache.config(ImageReference.parse('r.io/b:v1'), digest(1))).toBeUndefined();
  });
});

describe('single flight', () => {
  it("lets a joined caller stop waiting at its own deadline, not the first caller's", async () => {
    const flights = new SingleFlight<string, string>();
    let release!: (v: string) => void;
    const first = flights.run('k', () => new Promise<string>((r) => (release = r)));
    const controller = new AbortController();
    const joined = flights.join('k', () => Promise.resolve('own'), {
      signal: controller.signal,
      what: 'resolve x',
    });
    controller.abort();
    await expect(joined).rejects.toThrow('resolve x: deadline exceeded waiting for a shared registry call');
    release('shared');
    await expect(first).resolves.toBe('shared');
  });

  it('does the work itself when the flight failed for reasons of its leader (deadline, budget)', async () => {
    const flights = new SingleFlight<string, string>();
    let fail!: () => void;
    const first = flights.run(
      'k',
      () => new Promise<string>((_, reject) => (fail = () => reject(new FnPinnerError('TIMEOUT', 'late')))),
    );
    const joined = flights.join('k', () => Promise.resolve('own'), {
      signal: new AbortController().signal,
      what: 'x',
    });
    fail();
    await expect(first).rejects.toThrow('late');
    await expect(joined).resolves.toBe('own');
  });
});

describe('echoed text', () => {
  it('quotes at most the given length and says how long the original was', () => {
    expect(quote('abc')).toBe('"abc"');
    expect(quote('x'.repeat(1_000), 10)).toBe('"xxxxxxxxxx"… (1000 characters)');
  });

  it('keeps a line under 2 KiB in UTF-8 bytes, multi-byte characters included', () => {
    expect(Buffer.byteLength(boundLine('é'.repeat(10_000)))).toBeLessThan(2048);
    expect(boundLine('short')).toBe('short');
  });
});
