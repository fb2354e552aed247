import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';

import type { RawOptions } from '../../src/config/load.js';
import { runCli, writeDockerConfig } from '../support/cli.js';
import { startHostileRegistry } from '../support/hostile-registry.js';
import type { HostileRegistry } from '../support/hostile-registry.js';
import { settled, startReviewer } from '../support/reviewer.js';
import type { Reviewer } from '../support/reviewer.js';

/**
 * The holes of issue 8, each against a hostile registry (a real HTTP server on 127.0.0.1) and, where a
 * second host is needed, an "internal service" on 127.0.0.2 that counts the connections it gets.
 * The access policy against 169.254.169.254 itself is in access-policy.test.ts (network namespace).
 */

let reg: HostileRegistry;
let internal: HostileRegistry;
let multi: ReturnType<HostileRegistry['addIndex']>;
const reviewers: Reviewer[] = [];

function reviewer(extra: RawOptions = {}, tweak?: Parameters<typeof startReviewer>[1]): Reviewer {
  const r = startReviewer({ insecureRegistry: [reg.host], ...extra }, tweak);
  reviewers.push(r);
  return r;
}

const image = (repo: string): string => `${reg.host}/${repo}:v1`;
const messageOf = (d: { response: { status?: { message?: string } } }): string =>
  d.response.status?.message ?? '';

beforeAll(async () => {
  reg = await startHostileRegistry();
  internal = await startHostileRegistry({ host: '127.0.0.2' });
  reg.addImage('fn/app', 'v1', { entrypoint: ['/app'] });
  multi = reg.addIndex('fn/multi', 'v1', 200);
  reg.addIndex('fn/huge', 'v1', 4_000);
  reg.addImage('fn/bigconfig', 'v1', { entrypoint: ['/app'], extra: { history: ['x'.repeat(2 * 2 ** 20)] } });
  reg.addImage('fn/bigcmd', 'v1', { entrypoint: ['/app'], cmd: ['x'.repeat(100_000)] });
  for (let i = 0; i < 11; i++) reg.addImage(`fn/many${i}`, 'v1', { entrypoint: ['/app'] });
});

beforeEach(() => {
  for (const r of [reg, internal]) {
    r.reset();
    r.intercept = undefined;
    r.challenge = undefined;
    r.token = {};
  }
});

afterEach(async () => {
  await Promise.all(reviewers.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await Promise.all([reg.stop(), internal.stop()]);
});

describe('token realms', () => {
  it('refuses a realm on another host: no connection to it, no credentials sent, and the message names the realm and the flag', async () => {
    reg.challenge = `Bearer realm="${internal.url}/token",service="registry"`;
    internal.intercept = () => ({ status: 200, body: '{"token":"internal-secret"}' });
    const auth = writeDockerConfig({ [reg.host]: ['user', 'registry-password'] });
    const r = reviewer({ enablePrivateRegistries: 'true', registryAuthSecretPath: auth });
    const d = await r.review([image('fn/app')]);
    expect(d.response.allowed).toBe(false);
    expect(messageOf(d)).toContain('token realm not trusted');
    expect(messageOf(d)).toContain(`token realm "${internal.url}/token" of registry ${reg.host}`);
    expect(messageOf(d)).toContain(`--token-realm-allow ${internal.host}`);
    expect(internal.connections).toBe(0);
  });

  it('fetches a realm listed in --token-realm-allow, and sends its token to the registry', async () => {
    reg.challenge = `Bearer realm="${internal.url}/token",service="registry"`;
    internal.intercept = () => ({ status: 200, body: '{"token":"realm-token"}' });
    const r = reviewer({ tokenRealmAllow: [internal.host] });
    const d = await r.review([image('fn/app')]);
    expect(d.response.allowed).toBe(true);
    expect(internal.requests.map((q) => q.path.split('?')[0])).toEqual(['/token']);
    expect(reg.requests.some((q) => q.headers.authorization === 'Bearer realm-token')).toBe(true);
  });

  it('trusts a realm on the registry host (another port is fine: a token service beside the registry)', async () => {
    const tokens = await startHostileRegistry();
    try {
      reg.challenge = `Bearer realm="${tokens.url}/token",service="registry"`;
      const d = await reviewer().review([image('fn/app')]);
      expect(d.response.allowed).toBe(true);
      expect(tokens.requests).toHaveLength(1);
    } finally {
      await tokens.stop();
    }
  });

  it('refuses a token larger than the limit, and one whose body is larger still without reading it all', async () => {
    reg.challenge = `Bearer realm="${reg.url}/token"`;
    reg.token = { size: 20_000 };
    const big = await reviewer().review([image('fn/app')]);
    expect(messageOf(big)).toContain('token of 20000 bytes exceeds 16384');
    reg.token = { size: 1_000_000, expiresIn: 1e9 };
    const huge = await reviewer().review([image('fn/app')]);
    expect(messageOf(huge)).toMatch(/response too large: .*Content-Length \d+ exceeds 65536 bytes/);
  });
});

describe('the access policy on loopback addresses', () => {
  it('denies a --registry-deny host:port before connecting, naming the host and the flag', async () => {
    const d = await reviewer({ registryDeny: [reg.host] }).review([image('fn/app')]);
    expect(messageOf(d)).toContain('registry not allowed');
    expect(messageOf(d)).toContain(`connecting to ${reg.host} denied by --registry-deny ${reg.host}`);
    expect(reg.connections).toBe(0);
  });

  it('contacts only --registry-allow hosts when any is given', async () => {
    const d = await reviewer({ registryAllow: ['registry.example.com'] }).review([image('fn/app')]);
    expect(messageOf(d)).toContain('not allowed: 127.0.0.1 is not in --registry-allow');
    expect(reg.connections).toBe(0);
  });

  it('does not follow a blob redirect to a denied host', async () => {
    reg.intercept = (q) =>
      q.path.includes('/blobs/') ? { status: 307, headers: { location: `${internal.url}/blob` } } : undefined;
    const d = await reviewer({ registryDeny: ['127.0.0.2'] }).review([image('fn/app')]);
    expect(messageOf(d)).toContain(`connecting to ${internal.host} denied by --registry-deny 127.0.0.2`);
    expect(internal.connections).toBe(0);
  });

  it('does not fetch a token realm the policy denies, even one the realm allow-list trusts', async () => {
    reg.challenge = `Bearer realm="${internal.url}/token"`;
    const d = await reviewer({ tokenRealmAllow: [internal.host], registryDeny: ['127.0.0.2'] }).review([
      image('fn/app'),
    ]);
    expect(messageOf(d)).toContain('denied by --registry-deny 127.0.0.2');
    expect(internal.connections).toBe(0);
  });

  it('stops following a blob redirect after 3 hops', async () => {
    let hops = 0;
    reg.intercept = (q) =>
      q.path.includes('/blobs/') || q.path.startsWith('/hop')
        ? { status: 302, headers: { location: `${reg.url}/hop${++hops}` } }
        : undefined;
    const d = await reviewer().review([image('fn/app')]);
    expect(messageOf(d)).toContain('more than 3 redirects');
    expect(hops).toBe(4);
  });
});

describe('bounded work', () => {
  it('costs a review of a 200-platform index at most 20 registry requests, and the next review none for the check', async () => {
    const r = reviewer();
    const first = await r.review([image('fn/multi')]);
    expect(first.response.allowed).toBe(true);
    expect(first.response.warnings?.join('\n')).toMatch(/disagree on the command|were not compared/);
    expect(await settled(() => reg.requests.length)).toBeLessThanOrEqual(20);
    reg.reset();
    const second = await r.review([image('fn/multi')]);
    expect(second.response.allowed).toBe(true);
    expect(await settled(() => reg.requests.length)).toBe(0);
  });

  it('remembers a failed platform comparison per index digest instead of repeating it every review', async () => {
    const r = reviewer();
    const others = new Set(multi.children.slice(1).map((c) => c.digest));
    // The pod's own platform resolves; every other platform's manifest fails.
    reg.intercept = (q) =>
      others.has(q.path.split('/manifests/')[1] ?? '') ? { status: 500, body: 'down' } : undefined;
    const first = await r.review([image('fn/multi')]);
    expect(first.response.allowed).toBe(true);
    expect(first.response.warnings?.join('\n')).toMatch(/could not compare the platforms|were not compared/);
    await settled(() => reg.requests.length);
    reg.reset();
    const second = await r.review([image('fn/multi')]);
    expect(second.response.allowed).toBe(true);
    expect(await settled(() => reg.requests.length)).toBe(0);
  });

  it('fails an index with more entries than the limit at once, with a named error', async () => {
    const d = await reviewer().review([image('fn/huge')]);
    expect(messageOf(d)).toContain('image index too large');
    expect(messageOf(d)).toContain('the index lists 4000 manifests, more than 256');
    expect(await settled(() => reg.requests.length)).toBeLessThanOrEqual(2);
  });

  it('refuses a config blob over the limit from its Content-Length', async () => {
    const d = await reviewer().review([image('fn/bigconfig')]);
    expect(messageOf(d)).toMatch(/response too large: .*Content-Length \d+ exceeds 1048576 bytes/);
  });

  it('refuses an Entrypoint and Cmd larger than the limit (they would be cached and put into the pod)', async () => {
    const d = await reviewer().review([image('fn/bigcmd')]);
    expect(messageOf(d)).toContain('image command too large');
  });

  it('refuses a pod with more distinct images than the limit before any registry request', async () => {
    const d = await reviewer().review(Array.from({ length: 11 }, (_, i) => image(`fn/many${i}`)));
    expect(messageOf(d)).toContain(
      'too many images: mutate pod: 11 distinct images to resolve, more than 10',
    );
    expect(reg.requests).toHaveLength(0);
  });

  it('keeps at most maxConcurrentRequests registry requests in flight across reviews', async () => {
    reg.intercept = (q) => (q.path.includes('/manifests/') ? 'hang' : undefined);
    const r = reviewer({ resolveTimeout: '4', reviewTimeout: '5' }, (c) => {
      (c.registry as { maxConcurrentRequests?: number }).maxConcurrentRequests = 2;
    });
    const reviews = Array.from({ length: 6 }, (_, i) => r.review([image(`fn/many${i}`)]));
    await settled(() => reg.requests.length, 300, 1_500);
    expect(reg.requests.filter((q) => q.path.includes('/manifests/')).length).toBe(2);
    await Promise.all(reviews);
  });
});

describe('an outage with a stale tag', () => {
  it('costs one review at most the revalidation budget, then nothing; serves the stale digest with a warning, counted as stale', async () => {
    const r = reviewer({ tagTtl: '0.2' });
    const warm = await r.review([image('fn/app')]);
    expect(warm.response.allowed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 250));
    reg.intercept = () => 'hang';
    const started = Date.now();
    const during = await r.review([image('fn/app')]);
    // Before: the full 8 s resolution deadline on every review.
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(during.response.allowed).toBe(true);
    expect(during.response.patch).toBe(warm.response.patch);
    expect(during.response.warnings?.[0]).toContain('could not be rechecked: TIMEOUT');
    reg.reset();
    const next = await r.review([image('fn/app')]);
    expect(next.response.warnings?.[0]).toContain('could not be rechecked');
    expect(reg.requests).toHaveLength(0);
    const metrics = await r.metrics.registry.metrics();
    expect(metrics).toMatch(/fn_pinner_resolution_duration_seconds_count\{cache="stale"\} 2/);
    expect(metrics).toMatch(/fn_pinner_cache_lookups_total\{tier="tag",result="stale"\} 2/);
  });
});

describe('echoed text', () => {
  it('keeps a 7 MB registry error body out of the answer: status.message and the log line stay under 2 KiB', async () => {
    const body = JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'x'.repeat(7_000_000) }] });
    reg.intercept = (q) => (q.path.includes('/manifests/') ? { status: 404, body } : undefined);
    const r = reviewer({ failurePolicy: 'Ignore' });
    const d = await r.review([image('fn/app')]);
    for (const line of [...(d.response.warnings ?? []), d.response.auditAnnotations?.error ?? '']) {
      expect(Buffer.byteLength(line)).toBeLessThan(2048);
    }
    expect(d.response.warnings?.[0]).toContain('404 MANIFEST_UNKNOWN: xxx');
    const decision = r.logs.find((l) => l.msg === 'admission decision');
    expect(JSON.stringify(decision).length).toBeLessThan(8_192);
  });

  it('keeps the CLI to one stderr line under 2 KiB', async () => {
    const body = JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'y'.repeat(7_000_000) }] });
    reg.intercept = (q) => (q.path.includes('/manifests/') ? { status: 404, body } : undefined);
    const r = await runCli(['resolve', image('fn/app'), '--insecure-registry', reg.host]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(Buffer.byteLength(r.stderr)).toBeLessThan(2048);
    expect(r.stderr).toContain('not found');
  });

  it('quotes an enormous image reference only in part', async () => {
    const d = await reviewer().review([`${reg.host}/${'a'.repeat(100_000)}:v1`]);
    expect(messageOf(d)).toContain('bad image reference');
    expect(Buffer.byteLength(messageOf(d))).toBeLessThan(2048);
  });
});

describe('metrics', () => {
  it('label registries named in configuration by host, and everything else "other"', async () => {
    const r = reviewer({ registryDeny: ['127.0.0.3'] });
    await r.review([image('fn/app')]);
    for (let port = 1; port <= 5; port++) await r.review([`127.0.0.3:${port}/fn/app:v1`]);
    const text = await r.metrics.registry.metrics();
    const labels = new Set(
      [...text.matchAll(/fn_pinner_registry_requests_total\{registry="([^"]+)"/g)].map((m) => m[1]),
    );
    expect([...labels].sort()).toEqual([reg.host, 'other'].sort());
  });
});
