import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { MEDIA_TYPES, sha256Digest } from './oci.js';
import { closeServer } from './ports.js';

/**
 * A registry that may lie, for tests, benchmarks, soak and fuzz runs: a real HTTP server (node:http) that
 * speaks enough of the distribution API to resolve images from content held in memory, and that can be
 * told to misbehave. It counts TCP connections at the listener, so "denied" can be proven as zero.
 *
 *   - content: images (any config, e.g. an 8 MiB Cmd), indexes with thousands of platforms, raw manifests;
 *   - auth: a Bearer challenge whose realm points anywhere, and a token endpoint on itself (`/token`)
 *     serving tokens of any size and lifetime;
 *   - faults: `intercept` sees every request first and may hang it, reset it, or answer anything
 *     (huge error bodies, redirects, wrong digests).
 */

export interface HostileRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export type HostileAction =
  'hang' | 'reset' | { status: number; headers?: Record<string, string>; body?: string | Buffer };

export type Intercept = (req: HostileRequest) => HostileAction | undefined;

export interface HostileImageSpec {
  entrypoint?: string[];
  cmd?: string[];
  os?: string;
  architecture?: string;
  /** Extra top-level config fields (history, labels...): how a large config blob is built. */
  extra?: Record<string, unknown>;
}

export interface HostileImage {
  digest: string;
  configDigest: string;
  manifest: Buffer;
}

export interface TokenSpec {
  /** Length of the token string. Default 32. */
  size?: number;
  /** `expires_in` in seconds; undefined leaves it out. */
  expiresIn?: number;
}

export interface HostileRegistry {
  /** http://HOST:PORT */
  url: string;
  /** HOST:PORT */
  host: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Every HTTP request received, in order. */
  readonly requests: HostileRequest[];
  addImage(repo: string, tag: string, spec?: HostileImageSpec): HostileImage;
  /** An OCI index of `platforms` distinct images (linux/amd64, linux/arm64, then linux/archN). */
  addIndex(repo: string, tag: string, platforms: number): { digest: string; children: HostileImage[] };
  putManifest(repo: string, ref: string, body: Buffer, mediaType: string): string;
  putBlob(bytes: Buffer): string;
  /** Answer 401 with this challenge (e.g. `Bearer realm="http://169.254.169.254/"`) to unauthenticated requests. */
  challenge: string | undefined;
  /** What GET /token answers. */
  token: TokenSpec;
  intercept: Intercept | undefined;
  /** Forgets recorded requests and connection counts (content and settings stay). */
  reset(): void;
  stop(): Promise<void>;
}

interface State {
  manifests: Map<string, { body: Buffer; mediaType: string }>;
  blobs: Map<string, Buffer>;
  requests: HostileRequest[];
  connections: number;
  sockets: Set<Socket>;
}

export async function startHostileRegistry(
  opts: { host?: string; port?: number } = {},
): Promise<HostileRegistry> {
  const state: State = {
    manifests: new Map(),
    blobs: new Map(),
    requests: [],
    connections: 0,
    sockets: new Set(),
  };
  const reg = {} as HostileRegistry;
  const server = createServer((req, res) => handle(reg, state, req, res));
  server.on('connection', (socket: Socket) => {
    state.connections++;
    state.sockets.add(socket);
    socket.once('close', () => state.sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve);
  });
  const { port, address } = server.address() as AddressInfo;
  const hostPart = address.includes(':') ? `[${address}]` : address;
  const putBlob = (bytes: Buffer): string => {
    const digest = sha256Digest(bytes);
    state.blobs.set(digest, bytes);
    return digest;
  };
  const putManifest = (repo: string, ref: string, body: Buffer, mediaType: string): string => {
    const digest = sha256Digest(body);
    state.manifests.set(`${repo}@${digest}`, { body, mediaType });
    if (ref !== digest) state.manifests.set(`${repo}:${ref}`, { body, mediaType });
    return digest;
  };
  const addImage = (repo: string, tag: string, spec: HostileImageSpec = {}): HostileImage =>
    buildImage(spec, { putBlob, put: (body) => putManifest(repo, tag, body, MEDIA_TYPES.ociManifest) });
  Object.assign(reg, {
    url: `http://${hostPart}:${port}`,
    host: `${hostPart}:${port}`,
    requests: state.requests,
    addImage,
    addIndex: (repo: string, tag: string, platforms: number) =>
      addIndex({ repo, tag, platforms }, { putBlob, putManifest }),
    putManifest,
    putBlob,
    challenge: undefined,
    token: {},
    intercept: undefined,
    reset: (): void => {
      state.requests.splice(0);
      state.connections = 0;
    },
    stop: async () => {
      for (const s of state.sockets) s.destroy();
      await closeServer(server);
    },
  });
  // A getter, not a copied value (Object.assign would read it once).
  Object.defineProperty(reg, 'connections', { get: () => state.connections, enumerable: true });
  return reg;
}

function buildImage(
  spec: HostileImageSpec,
  store: { putBlob: (b: Buffer) => string; put: (body: Buffer) => string },
): HostileImage {
  const config = Buffer.from(
    JSON.stringify({
      os: spec.os ?? 'linux',
      architecture: spec.architecture ?? 'amd64',
      config: { Entrypoint: spec.entrypoint ?? ['/app'], Cmd: spec.cmd ?? [] },
      rootfs: { type: 'layers', diff_ids: [] },
      ...spec.extra,
    }),
  );
  const configDigest = store.putBlob(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: config.length },
      layers: [],
    }),
  );
  return { digest: store.put(manifest), configDigest, manifest };
}

function platformOf(i: number): { os: string; architecture: string } {
  const known = ['amd64', 'arm64'];
  return { os: 'linux', architecture: known[i] ?? `arch${i}` };
}

function addIndex(
  at: { repo: string; tag: string; platforms: number },
  store: {
    putBlob: (b: Buffer) => string;
    putManifest: (repo: string, ref: string, body: Buffer, mediaType: string) => string;
  },
): { digest: string; children: HostileImage[] } {
  const children = Array.from({ length: at.platforms }, (_, i) => {
    const platform = platformOf(i);
    return buildImage(
      { entrypoint: ['/app', platform.architecture], ...platform },
      {
        putBlob: store.putBlob,
        put: (body) => {
          const digest = sha256Digest(body);
          return store.putManifest(at.repo, digest, body, MEDIA_TYPES.ociManifest);
        },
      },
    );
  });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: children.map((c, i) => ({
        mediaType: MEDIA_TYPES.ociManifest,
        digest: c.digest,
        size: c.manifest.length,
        platform: platformOf(i),
      })),
    }),
  );
  return { digest: store.putManifest(at.repo, at.tag, index, MEDIA_TYPES.ociIndex), children };
}

function send(res: ServerResponse, action: Exclude<HostileAction, 'hang' | 'reset'>, head: boolean): void {
  const body = action.body ?? '';
  res.writeHead(action.status, { 'content-length': Buffer.byteLength(body), ...action.headers });
  res.end(head ? undefined : body);
}

function handle(reg: HostileRegistry, state: State, req: IncomingMessage, res: ServerResponse): void {
  const info: HostileRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
  state.requests.push(info);
  req.resume();
  const action = reg.intercept?.(info) ?? serve(reg, state, info);
  if (action === 'hang') return;
  if (action === 'reset') return void req.socket.destroy();
  send(res, action, info.method === 'HEAD');
}

const NOT_FOUND = { status: 404, body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}' };

function serve(reg: HostileRegistry, state: State, req: HostileRequest): HostileAction {
  const path = req.path.split('?')[0] ?? '/';
  if (path === '/token') return tokenAnswer(reg.token);
  if (reg.challenge && !req.headers.authorization) {
    return { status: 401, headers: { 'www-authenticate': reg.challenge }, body: '{"errors":[]}' };
  }
  if (path === '/v2/') return { status: 200, body: '{}' };
  const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
  if (!m) return NOT_FOUND;
  const [, repo, kind, ref] = m as unknown as [string, string, string, string];
  if (kind === 'blobs') {
    const blob = state.blobs.get(ref);
    return blob ? { status: 200, headers: { 'docker-content-digest': ref }, body: blob } : NOT_FOUND;
  }
  const sep = ref.startsWith('sha256:') ? '@' : ':';
  const manifest = state.manifests.get(`${repo}${sep}${ref}`);
  if (!manifest) return NOT_FOUND;
  return {
    status: 200,
    headers: { 'content-type': manifest.mediaType, 'docker-content-digest': sha256Digest(manifest.body) },
    body: manifest.body,
  };
}

function tokenAnswer(spec: TokenSpec): HostileAction {
  const token = 't'.repeat(spec.size ?? 32);
  const body: Record<string, unknown> = { token };
  if (spec.expiresIn !== undefined) body.expires_in = spec.expiresIn;
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
