import { createHash } from 'node:crypto';

import { FnPinnerError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { RegistryOptions } from './options.js';
import type { ImageReference } from '../reference/reference.js';
import { SingleFlight } from '../util/singleflight.js';
import { parseWwwAuthenticate } from './auth/challenge.js';
import type { Credential, Keychain } from './auth/credentials.js';
import type { BearerChallenge } from './auth/token.js';
import { TokenSource } from './auth/token.js';
import { Connection } from './connection.js';
import type { RequestSpec } from './connection.js';
import { responseError } from './errors.js';
import { MANIFEST_ACCEPT, parseManifest } from './manifest.js';
import type { Manifest } from './manifest.js';
import type { HttpResponse, Transport } from './transport.js';
import { header } from './transport.js';

/** What one resolution passes down: its deadline, and the image it is for (every error message names it). */
export interface CallContext {
  signal: AbortSignal;
  deadline: number;
  what: string;
}

type AuthScheme = { type: 'none' } | { type: 'basic' } | ({ type: 'bearer' } & BearerChallenge);

export interface ManifestResult {
  digest: string;
  mediaType: string;
  manifest: Manifest;
}

interface Call {
  kind: string;
  method: 'GET' | 'HEAD';
  path: string;
  accept?: string;
  maxBytes: number;
  notFound: ErrorCode;
  followRedirects?: boolean;
}

const MAX_REDIRECTS = 5;

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface RegistryClientDeps {
  transport: Transport;
  keychain: Keychain;
  options: RegistryOptions;
  metrics: Metrics;
  log: Logger;
}

/**
 * The distribution API, as far as resolving images needs it. The handshake (registry/README.md):
 * ping /v2/ once per registry → 401 challenge → Basic, or a Bearer token for repository:NAME:pull →
 * requests with that Authorization; a 401 later refreshes the token once. Every matching credential is
 * tried in turn until one is accepted.
 */
export class RegistryClient {
  private readonly conn: Connection;
  private readonly tokens: TokenSource;
  private readonly schemes = new Map<string, AuthScheme>();
  private readonly pings = new SingleFlight<string, AuthScheme>();
  /** The credential last accepted per repository, tried first next time. */
  private readonly preferred = new Map<string, string>();

  constructor(private readonly deps: RegistryClientDeps) {
    this.conn = new Connection(deps.transport, deps.options, deps.metrics, deps.log);
    this.tokens = new TokenSource(
      (req, deadline) => this.conn.send({ ...req, kind: 'token' }, deadline),
      deps.options,
      deps.log,
    );
  }

  /**
   * The digest a tag (or digest) points to, without downloading the manifest: HEAD, then GET when the
   * registry sends no Docker-Content-Digest (the manifest fetched then comes back too, so it is not lost).
   */
  async headManifest(
    ref: ImageReference,
    identifier: string,
    ctx: CallContext,
  ): Promise<{ digest: string; fetched?: ManifestResult }> {
    const call: Call = {
      kind: 'manifest',
      method: 'HEAD',
      path: `/v2/${ref.repository}/manifests/${identifier}`,
      accept: MANIFEST_ACCEPT,
      maxBytes: 0,
      notFound: 'MANIFEST_UNKNOWN',
    };
    const res = await this.authorized(ref, call, ctx);
    const digest = header(res, 'docker-content-digest');
    if (digest && /^sha256:[a-f0-9]{64}$/.test(digest)) return { digest };
    const fetched = await this.getManifest(ref, identifier, ctx);
    return { digest: fetched.digest, fetched };
  }

  /** GETs a manifest or index and verifies its sha256 against the digest asked for or announced. */
  async getManifest(ref: ImageReference, identifier: string, ctx: CallContext): Promise<ManifestResult> {
    const call: Call = {
      kind: 'manifest',
      method: 'GET',
      path: `/v2/${ref.repository}/manifests/${identifier}`,
      accept: MANIFEST_ACCEPT,
      maxBytes: this.deps.options.maxManifestBytes,
      notFound: 'MANIFEST_UNKNOWN',
    };
    const res = await this.authorized(ref, call, ctx);
    const digest = sha256(res.body);
    const expected = identifier.startsWith('sha256:') ? identifier : header(res, 'docker-content-digest');
    if (expected && expected !== digest) {
      throw new FnPinnerError(
        'DIGEST_MISMATCH',
        `${ctx.what}: GET manifest ${identifier}: content has digest ${digest}, expected ${expected}`,
      );
    }
    const contentType = header(res, 'content-type') ?? '';
    const manifest = parseManifest(res.body, contentType, `${ref.name}@${digest}`);
    return { digest, mediaType: manifest.mediaType, manifest };
  }

  /** GETs a blob (following redirects to storage without credentials) and verifies its sha256. */
  async getBlob(ref: ImageReference, digest: string, maxBytes: number, ctx: CallContext): Promise<Buffer> {
    const call: Call = {
      kind: 'blob',
      method: 'GET',
      path: `/v2/${ref.repository}/blobs/${digest}`,
      maxBytes,
      notFound: 'BLOB_UNKNOWN',
      followRedirects: true,
    };
    const res = await this.authorized(ref, call, ctx);
    const actual = sha256(res.body);
    if (actual !== digest) {
      throw new FnPinnerError(
        'DIGEST_MISMATCH',
        `${ctx.what}: GET blob ${digest}: content has digest ${actual}`,
      );
    }
    return res.body;
  }

  private credentials(ref: ImageReference): (Credential | undefined)[] {
    const creds = this.deps.keychain.resolve(ref);
    if (creds.length === 0) return [undefined];
    const first = this.preferred.get(ref.name);
    return first ? [...creds].sort((a, b) => Number(b.source === first) - Number(a.source === first)) : creds;
  }

  private async authorized(ref: ImageReference, call: Call, ctx: CallContext): Promise<HttpResponse> {
    const creds = this.credentials(ref);
    const rejected: string[] = [];
    for (const [i, cred] of creds.entries()) {
      try {
        const res = await this.withCredential(ref, cred, call, ctx);
        if (cred) this.preferred.set(ref.name, cred.source);
        return res;
      } catch (err) {
        const authFailure =
          err instanceof FnPinnerError && (err.code === 'UNAUTHORIZED' || err.code === 'DENIED');
        if (!authFailure || i === creds.length - 1) throw withRejected(err, rejected);
        rejected.push(cred?.source ?? 'anonymous');
        this.deps.log.info(
          { image: ctx.what, credential: cred?.source },
          'credential rejected; trying the next match',
        );
      }
    }
    throw new FnPinnerError('INTERNAL', `${ctx.what}: no credential to try`);
  }

  private async withCredential(
    ref: ImageReference,
    cred: Credential | undefined,
    call: Call,
    ctx: CallContext,
  ): Promise<HttpResponse> {
    const scheme = await this.scheme(ref, ctx);
    let [res, headers] = await this.sendAuthorized(ref, { scheme, cred }, call, ctx);
    if (res.status === 401 && (scheme.type === 'bearer' || challengeOf(res)?.type !== scheme.type)) {
      // The token expired or was revoked, or the registry changed how it wants auth: refresh once.
      const fresh = challengeOf(res) ?? scheme;
      this.schemes.set(ref.apiHost, fresh);
      if (fresh.type === 'bearer') this.tokens.invalidate(fresh, scopeOf(ref), cred);
      [res, headers] = await this.sendAuthorized(ref, { scheme: fresh, cred }, call, ctx);
    }
    if (res.status >= 300 && res.status < 400 && call.followRedirects) {
      return this.followRedirects(ref, res, { call, headers }, ctx);
    }
    if (res.status < 200 || res.status > 299)
      throw responseError(this.spec(ref, call, ctx, {}), res, call.notFound);
    return res;
  }

  private async sendAuthorized(
    ref: ImageReference,
    { scheme, cred }: { scheme: AuthScheme; cred: Credential | undefined },
    call: Call,
    ctx: CallContext,
  ): Promise<[HttpResponse, Record<string, string>]> {
    const headers: Record<string, string> = {};
    const authorization = await this.authorization(ref, scheme, cred, ctx);
    if (authorization) headers.authorization = authorization;
    return [await this.conn.send(this.spec(ref, call, ctx, headers), ctx.deadline), headers];
  }

  private spec(
    ref: ImageReference,
    call: Call,
    ctx: CallContext,
    headers: Record<string, string>,
  ): RequestSpec {
    return {
      kind: call.kind,
      method: call.method,
      url: `${this.deps.transport.origin(ref.apiHost)}${call.path}`,
      headers: call.accept ? { ...headers, accept: call.accept } : headers,
      signal: ctx.signal,
      maxBytes: call.maxBytes,
      what: ctx.what,
    };
  }

  private async authorization(
    ref: ImageReference,
    scheme: AuthScheme,
    cred: Credential | undefined,
    ctx: CallContext,
  ): Promise<string | undefined> {
    if (scheme.type === 'bearer') {
      return `Bearer ${await this.tokens.token(scheme, scopeOf(ref), cred, ctx)}`;
    }
    if (scheme.type === 'basic' && cred?.username !== undefined && cred.password !== undefined) {
      return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    return undefined;
  }

  /** Pings /v2/ once per registry (single flight) and remembers the challenge. */
  private async scheme(ref: ImageReference, ctx: CallContext): Promise<AuthScheme> {
    const host = ref.apiHost;
    const known = this.schemes.get(host);
    if (known) return known;
    return this.pings.run(host, async () => {
      const spec: RequestSpec = {
        kind: 'ping',
        method: 'GET',
        url: `${this.deps.transport.origin(host)}/v2/`,
        headers: {},
        signal: ctx.signal,
        maxBytes: this.deps.options.maxErrorBodyBytes,
        what: ctx.what,
      };
      const res = await this.conn.send(spec, ctx.deadline);
      if (res.status >= 500) throw responseError(spec, res, 'REGISTRY_ERROR');
      const scheme = res.status === 401 ? (challengeOf(res) ?? { type: 'basic' }) : { type: 'none' as const };
      this.schemes.set(host, scheme);
      return scheme;
    });
  }

  private async followRedirects(
    ref: ImageReference,
    first: HttpResponse,
    sent: { call: Call; headers: Record<string, string> },
    ctx: CallContext,
  ): Promise<HttpResponse> {
    const { call } = sent;
    const registryOrigin = this.deps.transport.origin(ref.apiHost);
    let res = first;
    let url = `${registryOrigin}${call.path}`;
    for (let hop = 0; hop < MAX_REDIRECTS && res.status >= 300 && res.status < 400; hop++) {
      const location = header(res, 'location');
      if (!location) break;
      url = new URL(location, url).toString();
      // Credentials stay with the registry: object storage and CDNs get no Authorization header.
      const headers = new URL(url).origin === registryOrigin ? sent.headers : {};
      const spec = { ...this.spec(ref, call, ctx, headers), kind: 'blob-redirect', url };
      res = await this.conn.send(spec, ctx.deadline);
    }
    if (res.status < 200 || res.status > 299) {
      throw responseError({ ...this.spec(ref, call, ctx, {}), url }, res, call.notFound);
    }
    return res;
  }
}

function scopeOf(ref: ImageReference): string {
  return `repository:${ref.repository}:pull`;
}

function challengeOf(res: HttpResponse): AuthScheme | undefined {
  const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
  const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
  if (bearer?.params.realm)
    return { type: 'bearer', realm: bearer.params.realm, service: bearer.params.service };
  if (challenges.some((c) => c.scheme === 'basic')) return { type: 'basic' };
  return undefined;
}

function withRejected(err: unknown, rejected: string[]): unknown {
  if (!(err instanceof FnPinnerError) || rejected.length === 0) return err;
  return new FnPinnerError(err.code, `${err.message} (also rejected: ${rejected.join(', ')})`, {
    cause: err,
    status: err.status,
    temporary: err.temporary,
  });
}
