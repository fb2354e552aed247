import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent, request } from 'undici';
import {
  MEDIA_TYPES,
  authorization,
  fetchToken,
  getBlob,
  getManifest,
  imagePusher,
  sha256Digest,
} from '../support/images.js';
import type { PushedImage, RegistryTarget } from '../support/images.js';
import { startProxy } from '../support/proxy.js';
import type { TestProxy } from '../support/proxy.js';
import { startRegistry } from '../support/registry.js';
import type { RegistryKind, TestRegistry } from '../support/registry.js';

const KINDS: RegistryKind[] = ['plain', 'basic', 'tls', 'token', 'tls-basic'];
const registries = new Map<RegistryKind, TestRegistry>();

function reg(kind: RegistryKind): TestRegistry {
  const r = registries.get(kind);
  if (!r) throw new Error(`registry ${kind} did not start`);
  return r;
}

interface ImageConfigJson {
  architecture: string;
  variant?: string;
  config: Record<string, unknown>;
}

async function configOf(r: RegistryTarget, repo: string, configDigest: string): Promise<ImageConfigJson> {
  const blob = await getBlob(r, repo, configDigest);
  expect(blob.status).toBe(200);
  expect(sha256Digest(blob.bytes)).toBe(configDigest);
  return JSON.parse(blob.bytes.toString('utf8'));
}

async function expectReadBack(
  r: RegistryTarget,
  repo: string,
  ref: string,
  pushed: PushedImage,
): Promise<void> {
  const got = await getManifest(r, repo, ref);
  expect(got.status).toBe(200);
  expect(got.digest).toBe(pushed.digest);
  expect(sha256Digest(got.bytes)).toBe(pushed.digest);
  expect(got.contentType).toBe(pushed.mediaType);
  expect(got.bytes.equals(pushed.manifestBytes)).toBe(true);
}

beforeAll(async () => {
  const started = await Promise.all(KINDS.map((kind) => startRegistry(kind)));
  for (const r of started) registries.set(r.kind, r);
});

afterAll(async () => {
  await Promise.all([...registries.values()].map((r) => r.stop()));
});

describe.each(KINDS)('%s registry', (kind) => {
  it('pushes and reads back an OCI image and a Docker schema2 image', async () => {
    const r = reg(kind);
    const pusher = imagePusher(r);
    const oci = await pusher.pushImage('fn/oci', 'v1', { entrypoint: ['/bin/fn', '--serve'], cmd: ['x'] });
    expect(oci.mediaType).toBe(MEDIA_TYPES.ociManifest);
    await expectReadBack(r, 'fn/oci', 'v1', oci);
    const ociConfig = await configOf(r, 'fn/oci', oci.configDigest);
    expect(ociConfig.config).toMatchObject({ Entrypoint: ['/bin/fn', '--serve'], Cmd: ['x'] });

    const docker = await pusher.pushImage('fn/docker', 'v1', { format: 'docker', cmd: ['/only-cmd'] });
    expect(docker.mediaType).toBe(MEDIA_TYPES.dockerManifest);
    await expectReadBack(r, 'fn/docker', 'v1', docker);
    await expectReadBack(r, 'fn/docker', docker.digest, docker);
    const dockerConfig = await configOf(r, 'fn/docker', docker.configDigest);
    expect(dockerConfig.config.Cmd).toEqual(['/only-cmd']);
    expect(dockerConfig.config).not.toHaveProperty('Entrypoint');
  });

  it('pushes and reads back an OCI index and a Docker manifest list', async () => {
    const r = reg(kind);
    const pusher = imagePusher(r);
    const platforms = [
      { os: 'linux', arch: 'amd64', entrypoint: ['/amd64'] },
      { os: 'linux', arch: 'arm', variant: 'v7', entrypoint: ['/armv7'] },
    ];
    for (const format of ['oci', 'docker'] as const) {
      const index = await pusher.pushIndex('fn/multi', format, platforms, { format });
      const got = await getManifest(r, 'fn/multi', format);
      expect(got.status).toBe(200);
      expect(got.digest).toBe(index.digest);
      expect(sha256Digest(got.bytes)).toBe(index.digest);
      expect(got.contentType).toBe(format === 'oci' ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.dockerList);
      const listed = JSON.parse(got.bytes.toString('utf8')).manifests;
      expect(listed.map((m: { platform: unknown }) => m.platform)).toEqual([
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ]);
      const arm = index.children[1]!;
      const child = await getManifest(r, 'fn/multi', arm.digest);
      expect(child.contentType).toBe(format === 'oci' ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest);
      const config = await configOf(r, 'fn/multi', arm.configDigest);
      expect(config).toMatchObject({
        architecture: 'arm',
        variant: 'v7',
        config: { Entrypoint: ['/armv7'] },
      });
      expect(config.config).not.toHaveProperty('Cmd');
    }
  });

  it('answers HEAD with the digest, and 404 for an unknown tag', async () => {
    const r = reg(kind);
    const pushed = await imagePusher(r).pushImage('fn/head', 'v1');
    const head = await getManifest(r, 'fn/head', 'v1', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.digest).toBe(pushed.digest);
    expect((await getManifest(r, 'fn/head', 'nope')).status).toBe(404);
  });
});

describe('deterministic images', () => {
  it('gives the same digest for the same spec and a different one otherwise', async () => {
    const pusher = imagePusher(reg('plain'));
    const a = await pusher.pushImage('fn/det', 'a', { entrypoint: ['/x'] });
    const b = await pusher.pushImage('fn/det', 'b', { entrypoint: ['/x'] });
    const c = await pusher.pushImage('fn/det', 'c', { entrypoint: ['/y'] });
    expect(b.digest).toBe(a.digest);
    expect(c.digest).not.toBe(a.digest);
    await pusher.deleteManifest('fn/det', c.digest);
    expect((await getManifest(reg('plain'), 'fn/det', c.digest)).status).toBe(404);
  });
});

describe('basic auth', () => {
  it('rejects no and wrong credentials with a Basic challenge', async () => {
    const r = reg('basic');
    await imagePusher(r).pushImage('fn/basic', 'v1');
    const anonymous = await getManifest(r, 'fn/basic', 'v1', { authorization: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Basic realm="test-realm"');
    const wrong = `Basic ${Buffer.from('testuser:wrong').toString('base64')}`;
    expect((await getManifest(r, 'fn/basic', 'v1', { authorization: wrong })).status).toBe(401);
  });
});

describe('token auth', () => {
  it('challenges anonymous pulls with Bearer and the scope', async () => {
    const r = reg('token');
    await imagePusher(r).pushImage('fn/tok', 'v1');
    const anonymous = await getManifest(r, 'fn/tok', 'v1', { authorization: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe(
      `Bearer realm="${r.tokenServer!.realm}",service="test-registry",scope="repository:fn/tok:pull"`,
    );
  });

  it('gives anonymous users a token without access, and users one that works', async () => {
    const r = reg('token');
    await imagePusher(r).pushImage('fn/tok2', 'v1');
    r.tokenServer!.reset();
    const anonymousToken = await fetchToken(r, 'repository:fn/tok2:pull', true);
    const denied = await getManifest(r, 'fn/tok2', 'v1', { authorization: `Bearer ${anonymousToken}` });
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toContain('error="insufficient_scope"');
    const ok = await getManifest(r, 'fn/tok2', 'v1', { authorization: await authorization(r, 'fn/tok2') });
    expect(ok.status).toBe(200);
    expect(r.tokenServer!.requests).toBe(2);
    expect(r.tokenServer!.log).toEqual([
      { method: 'GET', scope: 'repository:fn/tok2:pull', user: null, service: 'test-registry', status: 200 },
      {
        method: 'GET',
        scope: 'repository:fn/tok2:pull',
        user: 'testuser',
        service: 'test-registry',
        status: 200,
      },
    ]);
  });

  it('rejects a wrong password, expired tokens, and accepts POST form requests', async () => {
    const r = reg('token');
    const server = r.tokenServer!;
    await expect(fetchToken({ ...r, password: 'wrong' }, 'repository:fn/tok:pull')).rejects.toThrow(
      /HTTP 401/,
    );
    const expired = server.issue({
      user: 'testuser',
      access: [{ type: 'repository', name: 'fn/tok', actions: ['pull'] }],
      expiresIn: -60,
    });
    const res = await getManifest(r, 'fn/tok', 'v1', { authorization: `Bearer ${expired}` });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');

    const form = new URLSearchParams({
      grant_type: 'password',
      username: 'testuser',
      password: r.password,
      service: 'test-registry',
      scope: 'repository:fn/tok:pull',
    });
    const post = await request(server.realm, { method: 'POST', body: form.toString() });
    const body = (await post.body.json()) as { access_token: string };
    const viaPost = await getManifest(r, 'fn/tok', 'v1', { authorization: `Bearer ${body.access_token}` });
    expect(viaPost.status).toBe(200);
  });
});

describe('TLS', () => {
  it('serves a certificate for 127.0.0.1 and localhost signed by caPem only', async () => {
    const r = reg('tls');
    expect(r.url.startsWith('https://127.0.0.1:')).toBe(true);
    expect(readFileSync(join(r.caDir!, 'ca.crt'), 'utf8')).toBe(r.caPem);
    const viaName = new Agent({ connect: { ca: r.caPem!, servername: 'localhost' } });
    const untrusting = new Agent();
    try {
      const res = await request(`${r.url}/v2/`, { dispatcher: viaName });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
      await expect(request(`${r.url}/v2/`, { dispatcher: untrusting })).rejects.toThrow(
        /self[- ]signed|unable to (get|verify)|UNABLE_TO/i,
      );
    } finally {
      await Promise.all([viaName.close(), untrusting.close()]);
    }
  });

  it('shares the CA between TLS registries unless freshCa is set', async () => {
    expect(reg('tls-basic').caPem).toBe(reg('tls').caPem);
    const other = await startRegistry('tls', { freshCa: true });
    try {
      expect(other.caPem).not.toBe(reg('tls').caPem);
      await expect(request(`${other.url}/v2/`, { dispatcher: reg('tls').dispatcher })).rejects.toThrow(
        /self[- ]signed|unable to (get|verify)|UNABLE_TO/i,
      );
    } finally {
      await other.stop();
    }
  });
});

describe('proxy', () => {
  let proxy: TestProxy;
  let basicProxy: TestProxy;

  beforeAll(async () => {
    proxy = await startProxy(reg('plain').url);
    basicProxy = await startProxy(reg('basic').url);
  });

  afterAll(async () => {
    await Promise.all([proxy.stop(), basicProxy.stop()]);
  });

  it('forwards requests and headers, counts them, and rewrites upload Locations', async () => {
    const through: RegistryTarget = { ...reg('plain'), url: proxy.url };
    proxy.reset();
    const pushed = await imagePusher(through).pushImage('fn/proxied', 'v1', { entrypoint: ['/p'] });
    const uploads = proxy.requests.filter((q) => q.method === 'PUT' && q.path.includes('/blobs/uploads/'));
    expect(uploads).toHaveLength(2);
    proxy.reset();
    const got = await getManifest(through, 'fn/proxied', 'v1');
    expect(got.digest).toBe(pushed.digest);
    expect(proxy.requests).toHaveLength(1);
    expect(proxy.requests[0]).toMatchObject({ method: 'GET', path: '/v2/fn/proxied/manifests/v1' });
    expect(proxy.requests[0]!.headers.accept).toContain(MEDIA_TYPES.ociIndex);

    const basicThrough: RegistryTarget = { ...reg('basic'), url: basicProxy.url };
    await imagePusher(basicThrough).pushImage('fn/proxied', 'v1');
    expect((await getManifest(basicThrough, 'fn/proxied', 'v1')).status).toBe(200);
    expect(basicProxy.requests.at(-1)!.headers.authorization).toMatch(/^Basic /);
  });

  it('answers directly, e.g. 429 with Retry-After', async () => {
    proxy.setHandler((q) =>
      q.path.includes('/manifests/') ? { status: 429, headers: { 'retry-after': '1' } } : 'pass',
    );
    try {
      const through: RegistryTarget = { ...reg('plain'), url: proxy.url };
      const res = await getManifest(through, 'fn/proxied', 'v1');
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe('1');
    } finally {
      proxy.setHandler();
    }
  });

  it('rewrites bodies but keeps headers, so the digest no longer matches', async () => {
    const reformat = (body: Buffer): Buffer =>
      Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8')), null, 2));
    proxy.setHandler(() => ({ rewriteBody: reformat }));
    try {
      const through: RegistryTarget = { ...reg('plain'), url: proxy.url };
      const pushedDigest = (await getManifest(reg('plain'), 'fn/proxied', 'v1')).digest;
      const res = await getManifest(through, 'fn/proxied', 'v1');
      expect(res.status).toBe(200);
      expect(res.digest).toBe(pushedDigest);
      expect(sha256Digest(res.bytes)).not.toBe(pushedDigest);
    } finally {
      proxy.setHandler();
    }
  });

  it('hangs and resets connections', async () => {
    proxy.setHandler(() => 'hang');
    const agent = new Agent();
    try {
      await expect(
        request(`${proxy.url}/v2/`, { dispatcher: agent, headersTimeout: 200 }),
      ).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
      proxy.setHandler(() => 'reset');
      await expect(request(`${proxy.url}/v2/`, { dispatcher: agent })).rejects.toThrow(
        /other side closed|socket/i,
      );
    } finally {
      proxy.setHandler();
      await agent.close();
    }
  });
});

describe('lifecycle', () => {
  it('stop() kills the registry and removes its directory', async () => {
    const r = await startRegistry('plain');
    expect(existsSync(join(r.dir, 'config.yml'))).toBe(true);
    await r.stop();
    expect(existsSync(r.dir)).toBe(false);
    await expect(request(`${r.url}/v2/`)).rejects.toThrow();
  });
});
