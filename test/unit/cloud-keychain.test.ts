import { describe, expect, it } from '@jest/globals';

import { CloudKeychain } from '../../src/registry/auth/cloud-keychain.js';
import type { ProviderAnswer, TokenProvider } from '../../src/registry/auth/cloud-keychain.js';
import { makeCredential } from '../../src/registry/auth/credentials.js';
import { ImageReference } from '../../src/reference/reference.js';
import { isEcrRegistry } from '../../src/sources/cloud/aws.js';
import { isGoogleRegistry } from '../../src/sources/cloud/google.js';
import { captureLogger } from '../support/capture-logger.js';

const ref = (image: string): ImageReference => ImageReference.parse(image);
const ctx = (ms = 10_000) => ({ signal: new AbortController().signal, deadline: Date.now() + ms, what: 't' });

/** A provider whose answers the test hands out one by one, counting the fetches. */
class ScriptedProvider implements TokenProvider {
  readonly name = 'scripted';
  fetches = 0;
  private pending: Array<(a: ProviderAnswer | Error) => void> = [];
  serves = (host: string): boolean => host.endsWith('.example');
  keyOf = (host: string): string => host.split('.')[0] ?? '';

  fetch(): Promise<ProviderAnswer> {
    this.fetches++;
    return new Promise((resolve, reject) =>
      this.pending.push((a) => (a instanceof Error ? reject(a) : resolve(a))),
    );
  }

  answer(a: ProviderAnswer | Error): void {
    const next = this.pending.shift();
    if (!next) throw new Error('no fetch waiting');
    next(a);
  }
}

const token = (password: string, expiresAt: number): ProviderAnswer => ({
  credential: makeCredential({ username: 'u', password, source: `scripted ${password}` }),
  expiresAt,
});

function setup(now: { t: number }, waitMs = 1_000) {
  const provider = new ScriptedProvider();
  const kc = new CloudKeychain([provider], {
    waitMs,
    absentMemoryMs: 60_000,
    failureBackoffMs: 10_000,
    refreshMarginMs: 300_000,
    log: captureLogger().log,
    now: () => now.t,
  });
  return { provider, kc };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CloudKeychain', () => {
  it('asks only the providers serving the host, once for concurrent lookups, and caches the credential', async () => {
    const now = { t: 1_000_000 };
    const { provider, kc } = setup(now);
    expect(await kc.lookup(ref('registry.other/x:1'), ctx())).toEqual({ credentials: [], consulted: [] });
    const a = kc.lookup(ref('eu.example/x:1'), ctx());
    const b = kc.lookup(ref('eu.example/y:1'), ctx());
    await flush();
    provider.answer(token('one', now.t + 3_600_000));
    const [ra, rb] = await Promise.all([a, b]);
    expect(provider.fetches).toBe(1);
    expect(ra.credentials.map((c) => c.password)).toEqual(['one']);
    expect(rb.consulted).toEqual(['scripted one']);
    expect((await kc.lookup(ref('eu.example/z:1'), ctx())).credentials[0]?.password).toBe('one');
    expect(provider.fetches).toBe(1);
  });

  it('refreshes at min(margin, half the lifetime) before expiry, and keeps the old token if the refresh fails', async () => {
    const now = { t: 1_000_000 };
    const { provider, kc } = setup(now);
    const first = kc.lookup(ref('eu.example/x:1'), ctx());
    await flush();
    provider.answer(token('one', now.t + 60_000)); // 60 s: refreshed after 30 s
    await first;
    now.t += 29_000;
    await kc.lookup(ref('eu.example/x:1'), ctx());
    expect(provider.fetches).toBe(1);
    now.t += 2_000;
    const refresh = kc.lookup(ref('eu.example/x:1'), ctx());
    await flush();
    provider.answer(new Error('metadata server said 500'));
    expect((await refresh).credentials[0]?.password).toBe('one');
    // Not asked again at every lookup while it fails: after the failure backoff.
    await kc.lookup(ref('eu.example/x:1'), ctx());
    expect(provider.fetches).toBe(2);
  });

  it('remembers an absent provider for a while, and says so', async () => {
    const now = { t: 1_000_000 };
    const { provider, kc } = setup(now);
    const first = kc.lookup(ref('eu.example/x:1'), ctx());
    await flush();
    provider.answer({ absent: 'no metadata server' });
    expect(await first).toEqual({
      credentials: [],
      consulted: ['scripted: not available (no metadata server)'],
    });
    now.t += 59_000;
    await kc.lookup(ref('eu.example/x:1'), ctx());
    expect(provider.fetches).toBe(1);
    now.t += 2_000;
    const again = kc.lookup(ref('eu.example/x:1'), ctx());
    await flush();
    expect(provider.fetches).toBe(2);
    provider.answer({ absent: 'still none' });
    expect((await again).consulted).toEqual(['scripted: not available (still none)']);
  });

  it('waits at most waitMs for a provider; the late answer fills the cache for the next lookup', async () => {
    const now = { t: 1_000_000 };
    const { provider, kc } = setup(now, 20);
    const slow = await kc.lookup(ref('eu.example/x:1'), ctx());
    expect(slow).toEqual({ credentials: [], consulted: ['scripted: no answer within 20 ms'] });
    provider.answer(token('late', now.t + 3_600_000));
    await flush();
    expect((await kc.lookup(ref('eu.example/x:1'), ctx())).credentials[0]?.password).toBe('late');
    expect(provider.fetches).toBe(1);
  });

  it('keys credentials per provider key (one per ECR region)', async () => {
    const now = { t: 1_000_000 };
    const { provider, kc } = setup(now);
    const eu = kc.lookup(ref('eu.example/x:1'), ctx());
    const us = kc.lookup(ref('us.example/x:1'), ctx());
    await flush();
    provider.answer(token('eu', now.t + 3_600_000));
    provider.answer(token('us', now.t + 3_600_000));
    expect((await eu).credentials[0]?.password).toBe('eu');
    expect((await us).credentials[0]?.password).toBe('us');
  });
});

describe('cloud registry hosts', () => {
  it.each([
    ['gcr.io', true],
    ['eu.gcr.io', true],
    ['europe-west1-docker.pkg.dev', true],
    ['docker.pkg.dev', false],
    ['gcr.io.evil.com', false],
    ['notgcr.io', false],
  ])('Google serves %s: %s', (host, yes) => expect(isGoogleRegistry(host)).toBe(yes));

  it.each([
    ['123456789012.dkr.ecr.us-east-1.amazonaws.com', true],
    ['123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com', true],
    ['123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn', true],
    ['12345.dkr.ecr.us-east-1.amazonaws.com', false],
    ['123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.com', false],
    ['public.ecr.aws', false],
  ])('AWS serves %s: %s', (host, yes) => expect(isEcrRegistry(host)).toBe(yes));
});
