import { FnPinnerError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { RegistryOptions } from '../options.js';
import { SingleFlight } from '../../util/singleflight.js';
import type { HttpRequest, HttpResponse } from '../transport.js';
import type { Credential } from './credentials.js';

/** What the registry's Bearer challenge told us. */
export interface BearerChallenge {
  realm: string;
  service: string | undefined;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** The token spec's default when expires_in is absent: https://distribution.github.io/distribution/spec/auth/token/ */
const DEFAULT_EXPIRES_IN_S = 60;
/** Refresh this long before expiry so a token never lapses mid-resolution. */
const EXPIRY_MARGIN_MS = 10_000;

export type Send = (req: Omit<HttpRequest, 'trust'>, deadline: number) => Promise<HttpResponse>;

export interface TokenRequestContext {
  signal: AbortSignal;
  /** The resolution's deadline: token retries never go past it. */
  deadline: number;
  what: string;
}

/**
 * The Bearer token flow: GET (or POST for identity tokens) the realm with service and
 * scope=repository:NAME:pull, anonymous or with the credential; tokens cached until they expire.
 */
export class TokenSource {
  private readonly cache = new Map<string, CachedToken>();
  private readonly flights = new SingleFlight<string, string>();

  constructor(
    private readonly send: Send,
    private readonly options: RegistryOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async token(
    challenge: BearerChallenge,
    scope: string,
    cred: Credential | undefined,
    ctx: TokenRequestContext,
  ): Promise<string> {
    if (cred?.registryToken) return cred.registryToken;
    const key = [challenge.realm, challenge.service ?? '', scope, cred?.source ?? 'anonymous'].join('|');
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt > this.now()) return hit.token;
    return this.flights.run(key, () => this.fetch(key, { challenge, scope, cred }, ctx));
  }

  /** One entry per realm × scope × credential would otherwise pile up for the life of the process. */
  private prune(): void {
    const now = this.now();
    for (const [key, entry] of this.cache) if (entry.expiresAt <= now) this.cache.delete(key);
  }

  /** Forget a token the registry rejected, so the next call fetches a fresh one. */
  invalidate(challenge: BearerChallenge, scope: string, cred: Credential | undefined): void {
    this.cache.delete(
      [challenge.realm, challenge.service ?? '', scope, cred?.source ?? 'anonymous'].join('|'),
    );
  }

  private async fetch(
    key: string,
    { challenge, scope, cred }: { challenge: BearerChallenge; scope: string; cred: Credential | undefined },
    ctx: TokenRequestContext,
  ): Promise<string> {
    const what = `${ctx.what}: fetch token for ${scope}${cred ? ` with ${cred.source}` : ' anonymously'}`;
    const res = await this.send(
      {
        ...tokenRequest(challenge, scope, cred),
        signal: ctx.signal,
        what,
        maxBytes: this.options.maxTokenBodyBytes,
      },
      ctx.deadline,
    );
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
    const { token, expiresInS } = parseTokenResponse(res.body, what);
    this.prune();
    this.cache.set(key, { token, expiresAt: this.now() + Math.max(0, expiresInS * 1000 - EXPIRY_MARGIN_MS) });
    this.log.debug({ realm: challenge.realm, scope, expiresInS }, 'registry token issued');
    return token;
  }
}

function tokenRequest(
  challenge: BearerChallenge,
  scope: string,
  cred: Credential | undefined,
): Pick<HttpRequest, 'method' | 'url' | 'headers' | 'body'> {
  const params = new URLSearchParams();
  if (challenge.service) params.set('service', challenge.service);
  params.set('scope', scope);
  if (cred?.identityToken) {
    // OAuth2 refresh-token grant: how Docker uses identity tokens (docker login with an IdP).
    params.set('grant_type', 'refresh_token');
    params.set('refresh_token', cred.identityToken);
    params.set('client_id', 'fn-pinner');
    return {
      method: 'POST',
      url: challenge.realm,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: params.toString(),
    };
  }
  const headers: Record<string, string> = {};
  if (cred?.username !== undefined && cred.password !== undefined) {
    params.set('account', cred.username);
    headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
  }
  const sep = challenge.realm.includes('?') ? '&' : '?';
  return { method: 'GET', url: `${challenge.realm}${sep}${params.toString()}`, headers };
}

function parseTokenResponse(body: Buffer, what: string): { token: string; expiresInS: number } {
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
  const expiresInS =
    typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : DEFAULT_EXPIRES_IN_S;
  return { token, expiresInS };
}
