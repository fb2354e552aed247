import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as nodeTls from 'node:tls';
import { promisify } from 'node:util';

import { createResolverStack } from '../../src/app/resolver-stack.js';
import type { ResolverStack } from '../../src/app/resolver-stack.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { createMetrics } from '../../src/metrics.js';
import { generateCa } from '../../src/tls/certs.js';
import { writeDockerConfig } from '../support/cli.js';
import { imagePusher } from '../support/images.js';
import type { PushedImage } from '../support/images.js';
import { startProxy } from '../support/proxy.js';
import type { TestProxy } from '../support/proxy.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';
import type { TokenScope } from '../support/token-server.js';

let basic: TestRegistry;
let token: TestRegistry;
let plain: TestRegistry;
let tls: TestRegistry;
let proxy: TestProxy;
const hasDefaultCaList = typeof (nodeTls as { getCACertificates?: unknown }).getCACertificates === 'function';
let onPlain: PushedImage;
/** Lets a test make the token server hand out tokens that lack the pull scope, this many times. */
let scopelessTokens = 0;
const stacks: ResolverStack[] = [];

function stack(opts: Record<string, string | string[]>): ResolverStack {
  const config = loadConfig(
    'resolve',
    { logLevel: 'silent', ...opts },
    { HOME: mkdtempSync(join(tmpdir(), 'h-')) },
  );
  const s = createResolverStack(config, createLogger({ level: 'silent' }), createMetrics());
  stacks.push(s);
  return s;
}

beforeAll(async () => {
  [basic, plain, tls] = await Promise.all([
    startRegistry('basic'),
    startRegistry('plain'),
    startRegistry('tls'),
  ]);
  token = await startRegistry('token', {
    token: {
      grant: (user: string | null, scope: TokenScope) =>
        user && scopelessTokens-- <= 0 ? scope.actions : [],
    },
  });
  for (const reg of [basic, token, tls]) {
    await imagePusher(reg).pushImage('fn/app', 'v1', { entrypoint: ['/app'] });
    await imagePusher(reg).pushImage('fn/app', 'v2', { entrypoint: ['/app2'] });
  }
  onPlain = await imagePusher(plain).pushImage('fn/app', 'v1', { entrypoint: ['/app'] });
  proxy = await startProxy(plain.url);
});

afterAll(async () => {
  await Promise.all(stacks.map((s) => s.close()));
  await proxy.stop();
  await Promise.all([basic, plain, token, tls].map((r) => r.stop()));
});

describe('credentials', () => {
  /** The repository-scoped key is more specific, so it is tried first; it is wrong. */
  function staleThenGood(reg: TestRegistry): ResolverStack {
    const cfg = writeDockerConfig({
      [`${reg.host}/fn`]: [reg.username, 'stale'],
      [reg.host]: [reg.username, reg.password],
    });
    return stack({ insecureRegistry: [reg.host], dockerConfig: cfg });
  }

  it('tries every matching credential on a Basic registry until one is accepted, most specific first', async () => {
    const s = staleThenGood(basic);
    const { metadata } = await s.resolver.resolve(`${basic.host}/fn/app:v1`);
    expect(metadata.entrypoint).toEqual(['/app']);
  });

  it('tries every matching credential at a token service, then goes straight to the one accepted', async () => {
    token.tokenServer!.reset();
    const s = staleThenGood(token);
    const { metadata } = await s.resolver.resolve(`${token.host}/fn/app:v1`);
    expect(metadata.entrypoint).toEqual(['/app']);
    expect(token.tokenServer!.log.map((l) => l.status)).toEqual([401, 200]);
    token.tokenServer!.reset();
    await s.resolver.resolve(`${token.host}/fn/app:v2`);
    expect(token.tokenServer!.log).toHaveLength(0);
  });

  it('caches a Bearer token per repository scope while it is valid', async () => {
    token.tokenServer!.reset();
    const cfg = writeDockerConfig({ [token.host]: [token.username, token.password] });
    const s = stack({ insecureRegistry: [token.host], dockerConfig: cfg });
    await s.resolver.resolve(`${token.host}/fn/app:v1`);
    await s.resolver.resolve(`${token.host}/fn/app:v2`);
    expect(token.tokenServer!.log).toHaveLength(1);
    expect(token.tokenServer!.log[0]!.scope).toBe('repository:fn/app:pull');
  });

  it('fetches a new token once the cached one has expired', async () => {
    // Tokens are refreshed 10 s before they expire, so a 5 s token is already stale when it arrives.
    const cfg = writeDockerConfig({ [token.host]: [token.username, token.password] });
    const s = stack({ insecureRegistry: [token.host], dockerConfig: cfg });
    token.tokenServer!.reset();
    token.tokenServer!.expiresIn = 5;
    try {
      await s.resolver.resolve(`${token.host}/fn/app:v1`);
      await s.resolver.resolve(`${token.host}/fn/app:v2`);
    } finally {
      token.tokenServer!.expiresIn = 300;
    }
    // No token stays valid, so each call (manifest, then config blob, per image) fetches its own.
    expect(token.tokenServer!.log.map((l) => l.status)).toEqual([200, 200, 200, 200]);
  });

  it('refreshes the token once when the registry answers 401 to it', async () => {
    const cfg = writeDockerConfig({ [token.host]: [token.username, token.password] });
    const s = stack({ insecureRegistry: [token.host], dockerConfig: cfg });
    token.tokenServer!.reset();
    scopelessTokens = 1;
    await expect(s.resolver.resolve(`${token.host}/fn/app:v1`)).resolves.toMatchObject({
      metadata: { entrypoint: ['/app'] },
    });
    expect(token.tokenServer!.log.map((l) => l.status)).toEqual([200, 200]);
  });

  it('gives up with UNAUTHORIZED when the refreshed token is refused too', async () => {
    const cfg = writeDockerConfig({ [token.host]: [token.username, token.password] });
    const s = stack({ insecureRegistry: [token.host], dockerConfig: cfg });
    token.tokenServer!.reset();
    scopelessTokens = 2;
    await expect(s.resolver.resolve(`${token.host}/fn/app:v1`)).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    expect(token.tokenServer!.log).toHaveLength(2);
    scopelessTokens = 0;
  });

  it('picks up a rewritten Docker config while the process runs (the webhook case)', async () => {
    const cfg = writeDockerConfig({ [basic.host]: [basic.username, 'wrong'] });
    const s = stack({ insecureRegistry: [basic.host], dockerConfig: cfg });
    s.watch();
    await expect(s.resolver.resolve(`${basic.host}/fn/app:v1`)).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    const reloaded = new Promise<void>((resolve) => s.customConfig!.onChange(() => resolve()));
    writeDockerConfig({ [basic.host]: [basic.username, basic.password] }, dirname(cfg));
    await reloaded;
    await expect(s.resolver.resolve(`${basic.host}/fn/app:v1`)).resolves.toMatchObject({
      metadata: { entrypoint: ['/app'] },
    });
  });

  it('sends credentials only to the registry they belong to', async () => {
    proxy.reset();
    const cfg = writeDockerConfig({ [basic.host]: [basic.username, basic.password] });
    const s = stack({ insecureRegistry: [proxy.host, basic.host], dockerConfig: cfg });
    await s.resolver.resolve(`${proxy.host}/fn/app:v1`);
    expect(proxy.requests.length).toBeGreaterThan(0);
    expect(proxy.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
  });
});

describe('single flight against a real registry', () => {
  it('turns 50 concurrent misses of one image into one manifest and one config request', async () => {
    proxy.reset();
    const s = stack({ insecureRegistry: [proxy.host] });
    const results = await Promise.all(
      Array.from({ length: 50 }, () => s.resolver.resolve(`${proxy.host}/fn/app:v1`)),
    );
    expect(new Set(results.map((r) => r.metadata.digest))).toEqual(new Set([onPlain.digest]));
    const count = (re: RegExp): number => proxy.requests.filter((r) => re.test(r.path)).length;
    expect({ ping: count(/^\/v2\/$/), manifests: count(/\/manifests\//), blobs: count(/\/blobs\//) }).toEqual(
      {
        ping: 1,
        manifests: 1,
        blobs: 1,
      },
    );
  });

  it('revalidates a stale tag with exactly one HEAD', async () => {
    const s = stack({ insecureRegistry: [proxy.host], tagTtl: '0.05' });
    await s.resolver.resolve(`${proxy.host}/fn/app:v1`);
    await new Promise((r) => setTimeout(r, 80));
    proxy.reset();
    const again = await s.resolver.resolve(`${proxy.host}/fn/app:v1`);
    expect(again.cache).toBe('revalidated');
    expect(proxy.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`HEAD /v2/fn/app/manifests/v1`]);
  });
});

describe('TLS fallback', () => {
  it('falls back to the default trust store only after a certificate failure, and logs a warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-ca-'));
    const wrongCa = join(dir, 'wrong.crt');
    writeFileSync(wrongCa, generateCa({ commonName: 'unrelated CA' }).certPem);
    // The registry's CA is only in the default store (NODE_EXTRA_CA_CERTS), not in the custom bundle.
    const { stdout, stderr } = await promisify(execFile)(
      join('node_modules', '.bin', 'tsx'),
      [
        join('test', 'support', 'cli-entry.ts'),
        'resolve',
        `${tls.host}/fn/app:v1`,
        '--json',
        '--ca-file',
        wrongCa,
        '--log-level',
        'warn',
      ],
      { env: { PATH: process.env.PATH, HOME: dir, NODE_EXTRA_CA_CERTS: join(tls.caDir!, 'ca.crt') } },
    );
    expect(JSON.parse(stdout)).toMatchObject({ entrypoint: ['/app'] });
    if (hasDefaultCaList) {
      // Node ≥ 22.15 lists the default store (NODE_EXTRA_CA_CERTS included), and the custom bundle is added
      // to it: the first attempt already succeeds and no fallback is needed.
      expect(stderr).toBe('');
      return;
    }
    const warning = JSON.parse(stderr.trim().split('\n')[0]!) as Record<string, unknown>;
    expect(warning).toMatchObject({
      level: 'warn',
      host: tls.host,
      msg: 'registry certificate not trusted with the custom CA; retrying with the default trust store',
    });
  });

  it('trusts the custom CA in addition to the system roots', async () => {
    const s = stack({ caFile: join(tls.caDir!, 'ca.crt') });
    await expect(s.resolver.resolve(`${tls.host}/fn/app:v1`)).resolves.toMatchObject({
      metadata: { entrypoint: ['/app'] },
    });
  });
});
