import { request } from 'undici';
import type { Dispatcher } from 'undici';
import { MANIFEST_ACCEPT, buildImage, buildIndex, indexEntry, sha256Digest, toBlob } from './oci.js';
import type { Blob, BuiltImage, ImageFormat, ImageSpec, Platform } from './oci.js';
import type { TestRegistry } from './registry.js';

export { MANIFEST_ACCEPT, MEDIA_TYPES, buildImage, buildIndex, indexEntry, sha256Digest } from './oci.js';
export type { Blob, BuiltImage, BuiltIndex, ImageFormat, ImageSpec, IndexEntry, Platform } from './oci.js';

/**
 * Pushes in-memory images to a test registry through the distribution API, the way a real client does:
 * HEAD each blob, POST an upload then PUT ?digest=, and PUT manifests (children before their index).
 */

export type RegistryTarget = Pick<
  TestRegistry,
  'kind' | 'url' | 'username' | 'password' | 'tokenServer' | 'dispatcher'
>;

export interface PushedImage {
  platform: Platform;
  mediaType: string;
  digest: string;
  size: number;
  manifestBytes: Buffer;
  configDigest: string;
  configBytes: Buffer;
}

export interface PlatformSpec extends Omit<ImageSpec, 'os' | 'arch' | 'format'> {
  os: string;
  arch: string;
}

export interface PushedIndex {
  mediaType: string;
  digest: string;
  manifestBytes: Buffer;
  children: Array<{
    platform: Platform;
    digest: string;
    configDigest: string;
    mediaType: string;
    size: number;
  }>;
}

export interface ImagePusher {
  pushImage(repo: string, tag: string, spec?: ImageSpec): Promise<PushedImage>;
  pushIndex(
    repo: string,
    tag: string,
    platforms: PlatformSpec[],
    opts?: { format?: ImageFormat },
  ): Promise<PushedIndex>;
  /** Uploads raw bytes as a blob (skipped when present); returns its descriptor. */
  pushBlob(repo: string, bytes: Buffer): Promise<Blob>;
  /** PUTs raw manifest bytes under a tag or digest; returns the digest after checking the registry agrees. */
  pushManifest(repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<string>;
  deleteManifest(repo: string, digest: string): Promise<void>;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  bytes: Buffer;
}

export interface FetchedManifest extends HttpResult {
  /** Docker-Content-Digest header. */
  digest: string | undefined;
  contentType: string | undefined;
}

export interface FetchOptions {
  /** Default MANIFEST_ACCEPT. */
  accept?: string;
  method?: 'GET' | 'HEAD';
  /** undefined: the registry's own credentials (pull); null: anonymous; a string: this Authorization header. */
  authorization?: string | null;
}

export function imagePusher(registry: RegistryTarget): ImagePusher {
  const push = (repo: string): Promise<Session> => session(registry, repo, ['pull', 'push']);
  return {
    pushImage: async (repo, tag, spec = {}) => pushBuilt(await push(repo), repo, tag, buildImage(spec)),
    pushIndex: async (repo, tag, platforms, opts = {}) => {
      const s = await push(repo);
      const children: PushedImage[] = [];
      for (const p of platforms) {
        const built = buildImage({ ...p, format: opts.format ?? 'oci' });
        children.push(await pushBuilt(s, repo, built.digest, built));
      }
      const index = buildIndex(children.map(indexEntry), opts.format ?? 'oci');
      await putManifest(s, repo, tag, index.manifestBytes, index.mediaType);
      return { ...index, children: children.map(childSummary) };
    },
    pushBlob: async (repo, bytes) => {
      const blob = toBlob(bytes);
      await putBlob(await push(repo), repo, blob);
      return blob;
    },
    pushManifest: async (repo, ref, bytes, mediaType) =>
      putManifest(await push(repo), repo, ref, bytes, mediaType),
    deleteManifest: async (repo, digest) => {
      const res = await send(await push(repo), 'DELETE', `/v2/${repo}/manifests/${digest}`);
      expectStatus(res, [202], `DELETE manifest ${repo}@${digest}`);
    },
  };
}

/** The Authorization header a client with the registry's credentials would send for `repo`. */
export async function authorization(
  registry: RegistryTarget,
  repo: string,
  actions: string[] = ['pull'],
): Promise<string | undefined> {
  if (registry.kind === 'basic' || registry.kind === 'tls-basic') {
    return `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
  }
  if (registry.kind !== 'token') return undefined;
  const token = await fetchToken(registry, `repository:${repo}:${actions.join(',')}`);
  return `Bearer ${token}`;
}

/** Asks the token server for a token; without credentials when `anonymous`. */
export async function fetchToken(
  registry: RegistryTarget,
  scope: string,
  anonymous = false,
): Promise<string> {
  const server = registry.tokenServer;
  if (!server) throw new Error(`registry ${registry.url} has no token server`);
  const url = new URL(server.realm);
  url.searchParams.set('service', server.service);
  url.searchParams.set('scope', scope);
  const basic = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
  const res = await request(url, { headers: anonymous ? {} : { authorization: `Basic ${basic}` } });
  const body = (await res.body.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (res.statusCode !== 200 || !token) throw new Error(`token request ${url.href}: HTTP ${res.statusCode}`);
  return token;
}

export async function getManifest(
  registry: RegistryTarget,
  repo: string,
  ref: string,
  opts: FetchOptions = {},
): Promise<FetchedManifest> {
  const s = await readSession(registry, repo, opts.authorization);
  const res = await send(s, opts.method ?? 'GET', `/v2/${repo}/manifests/${ref}`, {
    accept: opts.accept ?? MANIFEST_ACCEPT,
  });
  return { ...res, digest: res.headers['docker-content-digest'], contentType: res.headers['content-type'] };
}

export async function getBlob(
  registry: RegistryTarget,
  repo: string,
  digest: string,
  opts: Pick<FetchOptions, 'authorization'> = {},
): Promise<HttpResult> {
  return send(await readSession(registry, repo, opts.authorization), 'GET', `/v2/${repo}/blobs/${digest}`);
}

interface Session {
  url: string;
  dispatcher: Dispatcher;
  authorization: string | undefined;
}

async function session(registry: RegistryTarget, repo: string, actions: string[]): Promise<Session> {
  return {
    url: registry.url,
    dispatcher: registry.dispatcher,
    authorization: await authorization(registry, repo, actions),
  };
}

async function readSession(
  registry: RegistryTarget,
  repo: string,
  auth: string | null | undefined,
): Promise<Session> {
  if (auth === undefined) return session(registry, repo, ['pull']);
  return { url: registry.url, dispatcher: registry.dispatcher, authorization: auth ?? undefined };
}

async function pushBuilt(s: Session, repo: string, ref: string, image: BuiltImage): Promise<PushedImage> {
  await putBlob(s, repo, image.layer);
  await putBlob(s, repo, image.config);
  await putManifest(s, repo, ref, image.manifestBytes, image.mediaType);
  return {
    platform: image.platform,
    mediaType: image.mediaType,
    digest: image.digest,
    size: image.manifestBytes.length,
    manifestBytes: image.manifestBytes,
    configDigest: image.config.digest,
    configBytes: image.config.bytes,
  };
}

function childSummary(p: PushedImage): PushedIndex['children'][number] {
  return {
    platform: p.platform,
    digest: p.digest,
    configDigest: p.configDigest,
    mediaType: p.mediaType,
    size: p.size,
  };
}

async function putBlob(s: Session, repo: string, blob: Blob): Promise<void> {
  const head = await send(s, 'HEAD', `/v2/${repo}/blobs/${blob.digest}`);
  if (head.status === 200) return;
  const post = await send(s, 'POST', `/v2/${repo}/blobs/uploads/`);
  expectStatus(post, [202], `POST upload ${repo}`);
  // Monolithic POST ?digest= with a body is not completed by distribution 2.8: always POST, then PUT.
  const location = new URL(post.headers.location ?? '', s.url);
  location.searchParams.set('digest', blob.digest);
  const put = await send(s, 'PUT', location.href, { 'content-type': 'application/octet-stream' }, blob.bytes);
  expectStatus(put, [201], `PUT blob ${repo}@${blob.digest}`);
}

async function putManifest(
  s: Session,
  repo: string,
  ref: string,
  bytes: Buffer,
  mediaType: string,
): Promise<string> {
  const res = await send(s, 'PUT', `/v2/${repo}/manifests/${ref}`, { 'content-type': mediaType }, bytes);
  expectStatus(res, [201], `PUT manifest ${repo}:${ref}`);
  const expected = sha256Digest(bytes);
  const actual = res.headers['docker-content-digest'];
  if (actual !== expected) {
    throw new Error(`PUT manifest ${repo}:${ref}: registry says ${actual}, bytes hash to ${expected}`);
  }
  return expected;
}

async function send(
  s: Session,
  method: Dispatcher.HttpMethod,
  pathOrUrl: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<HttpResult> {
  const all = s.authorization ? { ...headers, authorization: s.authorization } : headers;
  const res = await request(new URL(pathOrUrl, s.url), {
    method,
    headers: all,
    body,
    dispatcher: s.dispatcher,
  });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: flatHeaders(res.headers), bytes };
}

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function expectStatus(res: HttpResult, ok: number[], what: string): void {
  if (!ok.includes(res.status)) {
    throw new Error(`${what}: HTTP ${res.status} ${res.bytes.toString('utf8').slice(0, 500)}`);
  }
}
