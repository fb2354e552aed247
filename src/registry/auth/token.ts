import { LRUCache } from 'lru-cache';

import { FnPinnerError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { RegistryOptions } from '../options.js';
import { SingleFlight } from '../../util/singleflight.js';
import type { RegistryTransport } from '../transport/index.js';
import type { HttpRequest } from '../transport/types.js';
import type { CallContext } from './context.js';
import { credentialId, type Credential } from './credentials.js';
import type { BearerChallenge } from './ping.js';
import { checkRealm } from './realm.js';

/** The token spec's default when expires_in is absent: https://distribution.github.io/distribution/spec/auth/token/ */
const DEFAULT_EXPIRES_IN_S = 60;
/** Refresh this long before expiry so a token never lapses mid-resolution. */
const EXPIRY_MARGIN_MS = 10_000;

export type TokenOptions = Pick<
  RegistryOptions,
  'maxTokenBodyBytes' | 'maxTokenBytes' | 'maxTokenLifetimeMs' | 'maxTokens' | 'tokenRealmAllow'
>;

export interface TokenRequest {
  challenge: BearerChallenge;
  /** The registry's origin: the realm must be trusted for it. */
  origin: string;
  scope: string;
  cred: Credential | undefined;
}

function keyOf(t: TokenRequest): string {
  // By the secret, not its source's name: a rotated Secret (or a fresh cloud token) under the same name gets
  // a token of its own, and two pods' Secrets never share a token unless they hold the same secret.
  const who = t.cred ? credentialId(t.cred) : 'anonymous';
  return [t.challenge.realm, t.challenge.service ?? '', t.scope, who].join('|');
}

/**
 * The Bearer token flow: GET (or POST for identity tokens) the realm with service and
 * scope=repository:NAME:pull, anonymous or with the credential, only after the realm passed checkRealm.
 * Tokens are kept in an LRU bounded in entries and bytes, each for its lifetime capped at maxTokenLifetimeMs.
 */
export class TokenSource {
  private readonly cache: LRUCache<string, string>;
  private readonly flights = new SingleFlight<string, string>();

  constructor(
    private readonly transport: RegistryTransport,
    private readonly options: TokenOptions,
    private readonly log: Logger,
  ) {
    this.cache = new LRUCache<string, string>({
      max: options.maxTokens,
      maxSize: options.maxTokens * 2048,
      sizeCalculation: (token) => Math.max(1, token.length),
    });
  }

  async token(t: TokenRequest, ctx: CallContext): Promise<string> {
    if (t.cred?.registryToken) return t.cred.registryToken;
    const key = keyOf(t);
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    return this.flights.join(key, () => this.fetch(key, t, ctx), ctx);
  }

  /** Forget a token the registry rejected, so the next call fetches a fresh one. */
  invalidate(t: TokenRequest): void {
    this.cache.delete(keyOf(t));
  }

  get size(): number {
    return this.cache.size;
  }

  private async fetch(key: string, t: TokenRequest, ctx: CallContext): Promise<string> {
    const what = `${ctx.what}: fetch token for ${t.scope}${t.cred ? ` with ${t.cred.source}` : ' anonymously'}`;
    const realm = checkRealm(t.challenge.realm, t.origin, this.options.tokenRealmAllow, what);
    const res = await this.transport.send({
      ...tokenRequest(realm, t),
      kind: 'token',
      signal: ctx.signal,
      deadline: ctx.deadline,
      what,
      maxBytes: this.options.maxTokenBodyBytes,
      budget: ctx.budget,
    });
    if (res.status === 401 || res.status === 403) {
      throw new FnPinnerError(
        'UNAUTHORIZED',
        `${what}: token service refused the credentials (${res.status})`,
        { status: res.status },
      );
    }
    if (res.status < 200 || res.status > 299) {
      throw new FnPinnerError('REGISTRY_ERROR', `${what}: token service answered ${res.status}`, {
        status: res.status,
        temporary: res.status >= 500 || res.status === 429,
      });
    }
    const { token, expiresInS } = parseTokenResponse(res.body, what, this.options.maxTokenBytes);
    const lifetimeMs = Math.min(expiresInS * 1000, this.options.maxTokenLifetimeMs) - EXPIRY_MARGIN_MS;
    if (lifetimeMs > 0) this.cache.set(key, token, { ttl: lifetimeMs });
    this.log.debug({ realm: realm.origin, scope: t.scope, expiresInS }, 'registry token issued');
    return token;
  }
}

function tokenRequest(realm: URL, t: TokenRequest): Pick<HttpRequest, 'method' | 'url' | 'headers' | 'body'> {
  const params = new URLSearchParams();
  if (t.challenge.service) params.set('service', t.challenge.service);
  params.set('scope', t.scope);
  const cred = t.cred;
  if (cred?.identityToken) {
    // OAuth2 refresh-token grant: how Docker uses identity tokens (docker login with an IdP).
    params.set('grant_type', 'refresh_token');
    params.set('refresh_token', cred.identityToken);
    params.set('client_id', 'fn-pinner');
    return {
      method: 'POST',
      url: realm.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: params.toString(),
    };
  }
  const headers: Record<string, string> = {};
  if (cred?.username !== undefined && cred.password !== undefined) {
    params.set('account', cred.username);
    headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
  }
  const url = new URL(realm);
  for (const [k, v] of params) url.searchParams.append(k, v);
  return { method: 'GET', url: url.toString(), headers };
}

function parseTokenResponse(
  body: Buffer,
  what: string,
  maxTokenBytes: number,
): { token: string; expiresInS: number } {
  let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    json = JSON.parse(body.toString('utf8')) as typeof json;
  } catch (err) {
    throw new FnPinnerError('REGISTRY_ERROR', `${what}: token response is not JSON`, { cause: err });
  }
  const token = typeof json.token === 'string' ? json.token : json.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new FnPinnerError('REGISTRY_ERROR', `${what}: token response has no token`);
  }
  if (token.length > maxTokenBytes) {
    throw new FnPinnerError('TOO_LARGE', `${what}: token of ${token.length} bytes exceeds ${maxTokenBytes}`);
  }
  const expiresInS =
    typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : DEFAULT_EXPIRES_IN_S;
  return { token, expiresInS };
}
