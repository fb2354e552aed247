import { describe, expect, it } from '@jest/globals';

import { FnPinnerError } from '../../src/errors.js';
import { MetadataCache } from '../../src/images/cache.js';
import { ImageResolver } from '../../src/images/resolver.js';
import { createLogger } from '../../src/logging.js';
import { createMetrics } from '../../src/metrics.js';
import type { CallContext } from '../../src/registry/index.js';
import { REGISTRY_OPTIONS, RESOLVER_OPTIONS } from '../support/limits.js';
import type { ImageReference } from '../../src/reference/reference.js';
import { MediaType, sha256 } from '../../src/registry/index.js';
import type { ManifestResult, RegistryClient } from '../../src/registry/index.js';

/** A fake registry client: the logic under test is caching and flight-sharing, not the protocol. */
class FakeClient {
  calls: string[] = [];
  tags = new Map<string, string>();
  manifests = new Map<string, ManifestResult>();
  blobs = new Map<string, Buffer>();
  gate: Promise<void> = Promise.resolve();

  image(tag: string, entrypoint: string[], cmd: string[] = []): string {
    const config = Buffer.from(
      JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Entrypoint: entrypoint, Cmd: cmd } }),
    );
    const configDigest = sha256(config);
    this.blobs.set(configDigest, config);
    const body = { mediaType: MediaType.ociManifest, config: { digest: configDigest } };
    const digest = sha256(Buffer.from(JSON.stringify(body)));
    this.manifests.set(digest, {
      digest,
      mediaType: MediaType.ociManifest,
      manifest: { kind: 'image', mediaType: MediaType.ociManifest, configDigest },
    });
    this.tags.set(tag, digest);
    return digest;
  }

  contexts: CallContext[] = [];

  async headManifest(_ref: ImageReference, id: string, ctx: CallContext): Promise<{ digest: string }> {
    this.calls.push(`HEAD ${id}`);
    this.contexts.push(ctx);
    await this.gate;
    return { digest: this.lookup(id).digest };
  }

  async getManifest(_ref: ImageReference, id: string): Promise<ManifestResult> {
    this.calls.push(`GET manifest ${id}`);
    await this.gate;
    return this.lookup(id);
  }

  async getBlob(_ref: ImageReference, digest: string): Promise<Buffer> {
    this.calls.push(`GET blob ${digest}`);
    await this.gate;
    return this.blobs.get(digest)!;
  }

  private lookup(id: string): ManifestResult {
    const m = this.manifests.get(this.tags.get(id) ?? id);
    if (!m)
      throw new FnPinnerError('MANIFEST_UNKNOWN', `resolve x: GET manifest ${id}: 404`, { status: 404 });
    return m;
  }
}

function setup(tagTtlMs = 60_000): { fake: FakeClient; resolver: ImageResolver; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const fake = new FakeClient();
  const resolver = new ImageResolver({
    client: fake as unknown as RegistryClient,
    cache: new MetadataCache({ maxImages: 100, maxBytes: 1 << 20, tagTtlMs }, () => clock.now),
    options: { ...RESOLVER_OPTIONS, deadlineMs: 5_000 },
    registryOptions: REGISTRY_OPTIONS,
    tagTtlMs,
    metrics: createMetrics(),
    log: createLogger({ level: 'silent' }),
  });
  return { fake, resolver, clock };
}

describe('ImageResolver caching', () => {
  it('serves a second resolution from the cache without registry calls', async () => {
    const { fake, resolver } = setup();
    const digest = fake.image('v1', ['/fn'], ['run']);
    const first = await resolver.resolve('r.io/a:v1');
    expect(first.cache).toBe('miss');
    expect(first.metadata).toMatchObject({
      digest,
      resolved: `r.io/a:v1@${digest}`,
      entrypoint: ['/fn'],
      cmd: ['run'],
    });
    fake.calls = [];
    const second = await resolver.resolve('r.io/a:v1');
    expect(second.cache).toBe('hit');
    expect(fake.calls).toEqual([]);
  });

  it('revalidates a tag with one HEAD after the TTL and keeps the cached metadata when it has not moved', async () => {
    const { fake, resolver, clock } = setup(60_000);
    fake.image('v1', ['/fn']);
    await resolver.resolve('r.io/a:v1');
    fake.calls = [];
    clock.now += 59_999;
    expect((await resolver.resolve('r.io/a:v1')).cache).toBe('hit');
    clock.now += 2;
    expect((await resolver.resolve('r.io/a:v1')).cache).toBe('revalidated');
    expect(fake.calls).toEqual(['HEAD v1']);
  });

  it('picks up a re-pushed tag after the TTL', async () => {
    const { fake, resolver, clock } = setup(1_000);
    const old = fake.image('v1', ['/old']);
    expect((await resolver.resolve('r.io/a:v1')).metadata.digest).toBe(old);
    const moved = fake.image('v1', ['/new']);
    expect((await resolver.resolve('r.io/a:v1')).metadata.digest).toBe(old);
    clock.now += 1_000;
    const after = await resolver.resolve('r.io/a:v1');
    expect(after.metadata).toMatchObject({ digest: moved, entrypoint: ['/new'] });
    expect(after.cache).toBe('miss');
  });

  it("never expires tags with a TTL of 0 (the design's behaviour)", async () => {
    const { fake, resolver, clock } = setup(0);
    const old = fake.image('v1', ['/old']);
    await resolver.resolve('r.io/a:v1');
    fake.image('v1', ['/new']);
    clock.now += 365 * 24 * 3600_000;
    expect((await resolver.resolve('r.io/a:v1')).metadata.digest).toBe(old);
  });

  it('resolves digest references from the digest tier without touching tags', async () => {
    const { fake, resolver } = setup();
    const digest = fake.image('v1', ['/fn']);
    const r = await resolver.resolve(`r.io/a@${digest}`);
    expect(r.metadata.resolved).toBe(`r.io/a@${digest}`);
    expect(fake.calls).toEqual([`GET manifest ${digest}`, expect.stringMatching(/^GET blob sha256:/)]);
  });

  it('serves the cached digest as stale, with a warning, when revalidation hits a temporary failure', async () => {
    const { fake, resolver, clock } = setup(1_000);
    const digest = fake.image('v1', ['/fn']);
    await resolver.resolve('r.io/a:v1');
    clock.now += 1_000;
    const head = fake.headManifest.bind(fake);
    fake.headManifest = async () => {
      throw new FnPinnerError('UNAVAILABLE', 'resolve x: HEAD: 503', { temporary: true, status: 503 });
    };
    const stale = await resolver.resolve('r.io/a:v1');
    expect(stale).toMatchObject({ metadata: { digest }, cache: 'stale' });
    expect(stale.warning).toBe(
      'image r.io/a:v1: pinned to the digest cached before; the tag could not be rechecked: UNAVAILABLE (resolve x: HEAD: 503)',
    );
    fake.headManifest = head;
    fake.calls = [];
    // Backing off: no recheck for revalidateBackoffMs, the digest is served (still marked stale).
    clock.now += RESOLVER_OPTIONS.revalidateBackoffMs - 1;
    expect((await resolver.resolve('r.io/a:v1')).cache).toBe('stale');
    expect(fake.calls).toEqual([]);
    clock.now += 1;
    expect((await resolver.resolve('r.io/a:v1')).cache).toBe('revalidated');
    expect(fake.calls).toEqual(['HEAD v1']);
  });

  it('gives the revalidation of a stale tag its own short budget, inside the resolution deadline', async () => {
    const { fake, resolver, clock } = setup(1_000);
    fake.image('v1', ['/fn']);
    await resolver.resolve('r.io/a:v1');
    clock.now += 1_000;
    const before = Date.now();
    await resolver.resolve('r.io/a:v1');
    const ctx = fake.contexts[0]!;
    // Set between `before` and now: at most the budget from whenever that was.
    expect(ctx.deadline).toBeLessThanOrEqual(Date.now() + RESOLVER_OPTIONS.revalidateBudgetMs);
    expect(ctx.deadline).toBeLessThan(before + RESOLVER_OPTIONS.deadlineMs);
    expect(ctx.budget).toBeDefined();
  });

  it('fails revalidation that finds the tag gone', async () => {
    const { fake, resolver, clock } = setup(1_000);
    fake.image('v1', ['/fn']);
    await resolver.resolve('r.io/a:v1');
    clock.now += 1_000;
    fake.tags.delete('v1');
    fake.manifests.clear();
    await expect(resolver.resolve('r.io/a:v1')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
  });

  it('does not cache failures', async () => {
    const { fake, resolver } = setup();
    await expect(resolver.resolve('r.io/a:v1')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    fake.image('v1', ['/fn']);
    await expect(resolver.resolve('r.io/a:v1')).resolves.toMatchObject({ cache: 'miss' });
  });
});

describe('ImageResolver single flight', () => {
  it('makes one registry resolution for N concurrent misses of the same image', async () => {
    const { fake, resolver } = setup();
    fake.image('v1', ['/fn']);
    let open!: () => void;
    fake.gate = new Promise((r) => (open = r));
    const all = Array.from({ length: 50 }, () => resolver.resolve('r.io/a:v1'));
    open();
    const results = await Promise.all(all);
    expect(new Set(results.map((r) => r.metadata.digest)).size).toBe(1);
    expect(fake.calls).toEqual(['GET manifest v1', expect.stringMatching(/^GET blob/)]);
  });

  it('resolves distinct images concurrently', async () => {
    const { fake, resolver } = setup();
    fake.image('v1', ['/one']);
    fake.image('v2', ['/two']);
    let open!: () => void;
    fake.gate = new Promise((r) => (open = r));
    const both = Promise.all([resolver.resolve('r.io/a:v1'), resolver.resolve('r.io/a:v2')]);
    await new Promise((r) => setImmediate(r));
    // Both manifest requests are in flight before either answers.
    expect(fake.calls).toEqual(['GET manifest v1', 'GET manifest v2']);
    open();
    const [one, two] = await both;
    expect(one.metadata.entrypoint).toEqual(['/one']);
    expect(two.metadata.entrypoint).toEqual(['/two']);
  });

  it("shares a flight across spellings but reports each caller's own reference", async () => {
    const { fake, resolver } = setup();
    const digest = fake.image('latest', ['/fn']);
    let open!: () => void;
    fake.gate = new Promise((r) => (open = r));
    const a = resolver.resolve('docker.io/library/nginx');
    const b = resolver.resolve('nginx:latest');
    open();
    expect((await a).metadata.resolved).toBe(`docker.io/library/nginx@${digest}`);
    expect((await b).metadata.resolved).toBe(`nginx:latest@${digest}`);
    expect(fake.calls.filter((c) => c.startsWith('GET manifest'))).toHaveLength(1);
  });

  it('lets every joined caller see the same failure, and retries afresh afterwards', async () => {
    const { fake, resolver } = setup();
    const results = await Promise.allSettled([resolver.resolve('r.io/a:v9'), resolver.resolve('r.io/a:v9')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(fake.calls).toEqual(['GET manifest v9']);
  });

  it("does not hand a joined caller the failure of the first caller's deadline: it tries itself", async () => {
    const { fake, resolver } = setup();
    fake.image('v1', ['/fn']);
    let open!: () => void;
    fake.gate = new Promise((r) => (open = r));
    const get = fake.getManifest.bind(fake);
    let first = true;
    fake.getManifest = async (ref, id) => {
      if (!first) return get(ref, id);
      first = false;
      fake.calls.push(`GET manifest ${id}`);
      await fake.gate;
      throw new FnPinnerError('TIMEOUT', 'resolve r.io/a:v1: GET m: deadline exceeded');
    };
    const leader = resolver.resolve('r.io/a:v1');
    const joiner = resolver.resolve('r.io/a:v1');
    open();
    await expect(leader).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(joiner).resolves.toMatchObject({ metadata: { entrypoint: ['/fn'] } });
  });
});
