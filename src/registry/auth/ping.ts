import { LRUCache } from 'lru-cache';

import type { RegistryOptions } from '../options.js';
import { SingleFlight } from '../../util/singleflight.js';
import { responseError } from '../errors.js';
import type { RegistryTransport } from '../transport/index.js';
import type { HttpResponse } from '../transport/types.js';
import { parseWwwAuthenticate } from './challenge.js';
import type { CallContext } from './context.js';

/** What the registry's Bearer challenge told us. */
export interface BearerChallenge {
  realm: string;
  service: string | undefined;
}

export type AuthScheme = { type: 'none' } | { type: 'basic' } | ({ type: 'bearer' } & BearerChallenge);

/** Bearer (with a realm) preferred, else Basic; undefined when the response offers neither. */
export function challengeOf(res: HttpResponse): AuthScheme | undefined {
  const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
  const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
  if (bearer?.params.realm)
    return { type: 'bearer', realm: bearer.params.realm, service: bearer.params.service };
  if (challenges.some((c) => c.scheme === 'basic')) return { type: 'basic' };
  return undefined;
}

/** Registries remembered; pods choose registries, so the memory is bounded. */
const MAX_REGISTRIES = 1_000;

/** `GET /v2/` once per registry (single flight, remembered): how does this registry want to be authenticated? */
export class Pinger {
  private readonly schemes = new LRUCache<string, AuthScheme>({ max: MAX_REGISTRIES });
  private readonly flights = new SingleFlight<string, AuthScheme>();

  constructor(
    private readonly transport: RegistryTransport,
    private readonly options: Pick<RegistryOptions, 'maxErrorBodyBytes'>,
  ) {}

  scheme(origin: string, ctx: CallContext): Promise<AuthScheme> {
    const known = this.schemes.get(origin);
    if (known) return Promise.resolve(known);
    return this.flights.join(origin, () => this.ping(origin, ctx), ctx);
  }

  /** The registry changed its mind (a 401 with another challenge): remember the new one. */
  remember(origin: string, scheme: AuthScheme): void {
    this.schemes.set(origin, scheme);
  }

  private async ping(origin: string, ctx: CallContext): Promise<AuthScheme> {
    const req = {
      kind: 'ping',
      method: 'GET' as const,
      url: `${origin}/v2/`,
      headers: {},
      signal: ctx.signal,
      deadline: ctx.deadline,
      maxBytes: this.options.maxErrorBodyBytes,
      what: ctx.what,
      budget: ctx.budget,
    };
    const res = await this.transport.send(req);
    if (res.status >= 500) throw responseError(req, res, 'REGISTRY_ERROR');
    const scheme: AuthScheme =
      res.status === 401 ? (challengeOf(res) ?? { type: 'basic' }) : { type: 'none' };
    this.schemes.set(origin, scheme);
    return scheme;
  }
}
