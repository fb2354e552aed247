import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

import { generateCa } from '../../src/tls/certs.js';
import { runCli, writeDockerConfig } from '../support/cli.js';
import { imagePusher } from '../support/images.js';
import type { PushedImage } from '../support/images.js';
import { closeServer } from '../support/ports.js';
import { startProxy } from '../support/proxy.js';
import type { TestProxy } from '../support/proxy.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';

/** Every failure `resolve` must report as one clear line naming the image and the reason. */
let plain: TestRegistry;
let basic: TestRegistry;
let tls: TestRegistry;
let token: TestRegistry;
let proxy: TestProxy;
let image: PushedImage;

beforeAll(async () => {
  [plain, basic, tls, token] = await Promise.all([
    startRegistry('plain'),
    startRegistry('basic'),
    startRegistry('tls'),
    startRegistry('token'),
  ]);
  image = await imagePusher(plain).pushImage('fn/app', 'v1', { entrypoint: ['/app'] });
  await imagePusher(basic).pushImage('fn/app', 'v1', { entrypoint: ['/app'] });
  await imagePusher(tls).pushImage('fn/app', 'v1', { entrypoint: ['/app'] });
  await imagePusher(token).pushImage('fn/app', 'v1', { entrypoint: ['/app'] });
  proxy = await startProxy(plain.url);
});

afterAll(async () => {
  await proxy.stop();
  await Promise.all([plain, basic, tls, token].map((r) => r.stop()));
});

function expectOneLine(
  r: { code: number; stdout: string; stderr: string },
  image: string,
  reason: string,
): void {
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(`resolve ${image} failed: ${reason}`);
}

describe('fn-pinner resolve failures', () => {
  it('reports an unknown tag as not found', async () => {
    const ref = `${plain.host}/fn/app:nope`;
    const r = await runCli(['resolve', ref, '--insecure-registry', plain.host]);
    expectOneLine(r, ref, 'not found');
    expect(r.stderr).toContain('404 MANIFEST_UNKNOWN');
  });

  it('reports an unknown repository as not found', async () => {
    const ref = `${plain.host}/fn/missing:v1`;
    const r = await runCli(['resolve', ref, '--insecure-registry', plain.host]);
    expectOneLine(r, ref, 'not found');
  });

  it('reports a bad password on an htpasswd registry as unauthorized', async () => {
    const ref = `${basic.host}/fn/app:v1`;
    const cfg = writeDockerConfig({ [basic.host]: [basic.username, 'wrong'] });
    const r = await runCli(['resolve', ref, '--insecure-registry', basic.host, '--docker-config', cfg]);
    expectOneLine(r, ref, 'unauthorized');
    expect(r.stderr).not.toContain('wrong');
  });

  it('reports a bad password on a token registry as unauthorized, naming the credential source', async () => {
    const ref = `${token.host}/fn/app:v1`;
    const cfg = writeDockerConfig({ [token.host]: [token.username, 'wrong'] });
    const r = await runCli(['resolve', ref, '--insecure-registry', token.host, '--docker-config', cfg]);
    expectOneLine(r, ref, 'unauthorized');
    expect(r.stderr).toContain('token service refused the credentials');
    expect(r.stderr).toContain(cfg);
  });

  it('reports anonymous access to a private token registry as unauthorized', async () => {
    const ref = `${token.host}/fn/app:v1`;
    const r = await runCli(['resolve', ref, '--insecure-registry', token.host]);
    expectOneLine(r, ref, 'unauthorized');
  });

  it('reports a TLS registry whose CA is not trusted as a certificate error', async () => {
    const ref = `${tls.host}/fn/app:v1`;
    const r = await runCli(['resolve', ref]);
    expectOneLine(r, ref, 'certificate error');
    expect(r.stderr).toMatch(
      /certificate verification failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)/,
    );
  });

  it('names both failures when the custom CA is the wrong one and the default store fails too', async () => {
    const ref = `${tls.host}/fn/app:v1`;
    const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-ca-'));
    writeFileSync(join(dir, 'ca.crt'), generateCa({ commonName: 'unrelated CA' }).certPem);
    const r = await runCli(['resolve', ref, '--ca-file', join(dir, 'ca.crt')]);
    expectOneLine(r, ref, 'certificate error');
    expect(r.stderr).toContain('failed with the custom CA (certificate verification failed');
    expect(r.stderr).toContain('and with the default trust store (certificate verification failed');
  });

  it('does not fall back to another trust store for a manifest that is not there', async () => {
    const ref = `${tls.host}/fn/app:nope`;
    const r = await runCli(['resolve', ref, '--ca-file', join(tls.caDir!, 'ca.crt'), '--log-level', 'warn']);
    expectOneLine(r, ref, 'not found');
    expect(r.stderr).not.toContain('default trust store');
  });

  it('refuses to speak plain HTTP to a registry not configured as insecure', async () => {
    const ref = `${plain.host}/fn/app:v1`;
    const r = await runCli(['resolve', ref, '--resolve-timeout', '3']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`https://${plain.host}/v2/`);
  });

  it('reports a bad reference without touching the network', async () => {
    const r = await runCli(['resolve', 'Upper/Case:v1']);
    expectOneLine(r, 'Upper/Case:v1', 'bad image reference');
  });

  it('reports an invalid configuration listing every problem', async () => {
    const r = await runCli([
      'resolve',
      'x',
      '--platform',
      'linux',
      '--tag-ttl',
      '-1',
      '--ca-file',
      '/nonexistent/ca.crt',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('3 problem(s)');
    expect(r.stderr).toContain('--platform (FN_PINNER_PLATFORM)');
    expect(r.stderr).toContain('--tag-ttl (FN_PINNER_TAG_TTL)');
    expect(r.stderr).toContain('--ca-file (FN_PINNER_CA_FILE): cannot read /nonexistent/ca.crt: ENOENT');
  });
});

describe('fn-pinner resolve against a misbehaving registry (through a fault-injecting proxy)', () => {
  const ref = (): string => `${proxy.host}/fn/app:v1`;
  const args = (...extra: string[]): string[] => [
    'resolve',
    ref(),
    '--json',
    '--insecure-registry',
    proxy.host,
    ...extra,
  ];

  it('rejects a manifest whose bytes do not match the digest', async () => {
    proxy.setHandler((req) =>
      req.method === 'GET' && req.path.includes('/manifests/')
        ? {
            rewriteBody: (body) =>
              Buffer.from(body.toString().replace('"schemaVersion":2', '"schemaVersion": 2')),
          }
        : 'pass',
    );
    const r = await runCli(args());
    expectOneLine(r, ref(), 'digest mismatch');
    expect(r.stderr).toContain(`expected ${image.digest}`);
  });

  it('rejects a config blob whose bytes do not match its digest', async () => {
    proxy.setHandler((req) =>
      req.path.includes('/blobs/')
        ? { rewriteBody: (body) => Buffer.from(body.toString().replace('/app', '/evil')) }
        : 'pass',
    );
    const r = await runCli(args());
    expectOneLine(r, ref(), 'digest mismatch');
  });

  it('waits out a 429 with Retry-After inside the deadline, then succeeds', async () => {
    let limited = 0;
    proxy.setHandler((req) => {
      if (req.path.includes('/manifests/') && limited++ === 0) {
        return {
          status: 429,
          headers: { 'retry-after': '1' },
          body: '{"errors":[{"code":"TOOMANYREQUESTS"}]}',
        };
      }
      return 'pass';
    });
    const r = await runCli(args());
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).digest).toBe(image.digest);
    expect(r.ms).toBeGreaterThanOrEqual(1000);
  });

  it('gives up at once on a 429 whose Retry-After is beyond the deadline', async () => {
    proxy.reset();
    proxy.setHandler((req) =>
      req.path.includes('/manifests/')
        ? { status: 429, headers: { 'retry-after': '120' }, body: '' }
        : 'pass',
    );
    const r = await runCli(args('--resolve-timeout', '5'));
    expectOneLine(r, ref(), 'rate limited');
    // One attempt, no waiting: far below the 120 s the registry asked for (bounds generous for busy CI).
    expect(proxy.requests.filter((q) => q.path.includes('/manifests/'))).toHaveLength(1);
    expect(r.ms).toBeLessThan(60_000);
  });

  it('retries a 503 and a connection reset, then succeeds', async () => {
    const failures = ['503', 'reset'];
    proxy.setHandler((req) => {
      if (!req.path.includes('/manifests/')) return 'pass';
      const next = failures.shift();
      if (next === '503') return { status: 503, body: 'busy' };
      if (next === 'reset') return 'reset';
      return 'pass';
    });
    const r = await runCli(args());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('holds the deadline against a registry that hangs', async () => {
    proxy.setHandler((req) => (req.path.includes('/manifests/') ? 'hang' : 'pass'));
    const r = await runCli(args('--resolve-timeout', '1.5'));
    expectOneLine(r, ref(), 'timeout');
    expect(r.ms).toBeGreaterThanOrEqual(1400);
    expect(r.ms).toBeLessThan(15_000);
  });

  it('follows a blob redirect to another origin without sending Authorization there', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const config = image.configBytes;
    const storage: Server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(config);
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    const storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}`;
    try {
      const authed = await startProxy(basic.url, (req) =>
        req.path.includes('/blobs/')
          ? { status: 307, headers: { location: `${storageUrl}/signed?sig=abc` } }
          : 'pass',
      );
      const cfg = writeDockerConfig({ [authed.host]: [basic.username, basic.password] });
      const r = await runCli([
        'resolve',
        `${authed.host}/fn/app:v1`,
        '--json',
        '--insecure-registry',
        authed.host,
        '--docker-config',
        cfg,
      ]);
      await authed.stop();
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout).entrypoint).toEqual(['/app']);
      expect(authed.requests.some((q) => q.headers.authorization?.startsWith('Basic '))).toBe(true);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.authorization).toBeUndefined();
    } finally {
      await closeServer(storage);
    }
  });
});
