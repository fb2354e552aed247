import { LRUCache } from 'lru-cache';

import { FnPinnerError } from '../../errors.js';
import type { ErrorCode } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { RegistryOptions } from '../options.js';
import type { ImageReference } from '../../reference/reference.js';
import { responseError } from '../errors.js';
import type { RegistryTransport } from '../transport/index.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import type { CallContext } from './context.js';
import type { Credential, Keychain } from './credentials.js';
import { describeAttempts } from './describe.js';
import type { AuthScheme } from './ping.js';
import { Pinger, challengeOf } from './ping.js';
import { followRedirects } from './redirects.js';
import { TokenSource } from './token.js';

/** One distribution API call, relative to the registry. */
export interface RegistryCall {
  kind: string;
  method: 'GET' | 'HEAD';
  path: string;
  accept?: string;
  maxBytes: number;
  notFound: ErrorCode;
  followRedirects?: boolean;
}

export interface AuthenticatorDeps {
  transport: RegistryTransport;
  keychain: Keychain;
  options: RegistryOptions;
  log: Logger;
  /** Told which credential (undefined: anonymous) the registry accepted for a repository: the access ledger. */
  onAccepted?: (ref: ImageReference, credential: Credential | undefined) => void;
}

const MAX_PREFERRED = 10_000;

function scopeOf(ref: ImageReference): string {
  return `repository:${ref.repository}:pull`;
}

/**
 * The auth layer (registry/README.md): ping /v2/ once per registry → 401 challenge → Basic, or a Bearer
 * token for repository:NAME:pull from a trusted realm → the request with that Authorization; a 401 later
 * refreshes the token once. Every matching credential is tried in turn until one is accepted, and the
 * accepted one is tried first next time. Credentials never leave the registry's origin: redirects to
 * another origin go without them.
 */
export class Authenticator {
  private readonly pinger: Pinger;
  private readonly tokens: TokenSource;
  /** The credential last accepted per repository, tried first next time. */
  private readonly preferred = new LRUCache<string, string>({ max: MAX_PREFERRED });

  constructor(private readonly deps: AuthenticatorDeps) {
    this.pinger = new Pinger(deps.transport, deps.options);
    this.tokens = new TokenSource(deps.transport, deps.options, deps.log);
  }

  /** Sends the call with the first credential the registry accepts; a 2xx response, or a typed error. */
  async send(ref: ImageReference, call: RegistryCall, ctx: CallContext): Promise<HttpResponse> {
    const { creds, consulted } = await this.credentials(ref, ctx);
    const rejected: string[] = [];
    for (const [i, cred] of creds.entries()) {
      try {
        const res = await this.withCredential(ref, cred, call, ctx);
        if (cred) this.preferred.set(ref.name, cred.source);
        this.deps.onAccepted?.(ref, cred);
        return res;
      } catch (err) {
        const last = i === creds.length - 1;
        if (!authFailure(err) || last) throw describeAttempts(err, { rejected, cred, consulted });
        rejected.push(cred?.source ?? 'anonymous');
        this.deps.log.info(
          { image: ctx.what, credential: cred?.source },
          'credential rejected; trying the next match',
        );
      }
    }
    throw new FnPinnerError('INTERNAL', `${ctx.what}: no credential to try`);
  }

  private async credentials(
    ref: ImageReference,
    ctx: CallContext,
  ): Promise<{ creds: (Credential | undefined)[]; consulted: string[] }> {
    const { credentials, consulted } = await this.deps.keychain.lookup(ref, ctx);
    if (credentials.length === 0) return { creds: [undefined], consulted };
    const first = this.preferred.get(ref.name);
    if (!first) return { creds: credentials, consulted };
    const creds = [...credentials].sort((a, b) => Number(b.source === first) - Number(a.source === first));
    return { creds, consulted };
  }

  private async withCredential(
    ref: ImageReference,
    cred: Credential | undefined,
    call: RegistryCall,
    ctx: CallContext,
  ): Promise<HttpResponse> {
    const origin = this.deps.transport.origin(ref.apiHost);
    const scheme = await this.pinger.scheme(origin, ctx);
    let req = await this.request(ref, { scheme, cred, origin }, call, ctx);
    let res = await this.deps.transport.send(req);
    if (res.status === 401 && (scheme.type === 'bearer' || challengeOf(res)?.type !== scheme.type)) {
      [req, res] = await this.refreshOnce(ref, { scheme, cred, origin, res }, call, ctx);
    }
    if (res.status >= 300 && res.status < 400 && call.followRedirects) {
      return followRedirects(this.deps.transport, { req, res, origin }, call, this.deps.options.maxRedirects);
    }
    if (res.status < 200 || res.status > 299) throw responseError(req, res, call.notFound);
    return res;
  }

  /** The token expired or was revoked, or the registry changed how it wants auth: refresh once. */
  private async refreshOnce(
    ref: ImageReference,
    was: { scheme: AuthScheme; cred: Credential | undefined; origin: string; res: HttpResponse },
    call: RegistryCall,
    ctx: CallContext,
  ): Promise<[HttpRequest, HttpResponse]> {
    const { cred, origin } = was;
    const fresh = challengeOf(was.res) ?? was.scheme;
    this.pinger.remember(origin, fresh);
    if (fresh.type === 'bearer')
      this.tokens.invalidate({ challenge: fresh, origin, scope: scopeOf(ref), cred });
    const req = await this.request(ref, { scheme: fresh, cred, origin }, call, ctx);
    return [req, await this.deps.transport.send(req)];
  }

  private async request(
    ref: ImageReference,
    auth: { scheme: AuthScheme; cred: Credential | undefined; origin: string },
    call: RegistryCall,
    ctx: CallContext,
  ): Promise<HttpRequest> {
    const headers: Record<string, string> = call.accept ? { accept: call.accept } : {};
    const authorization = await this.authorization(ref, auth, ctx);
    if (authorization) headers.authorization = authorization;
    return {
      kind: call.kind,
      method: call.method,
      url: `${auth.origin}${call.path}`,
      headers,
      signal: ctx.signal,
      deadline: ctx.deadline,
      maxBytes: call.maxBytes,
      what: ctx.what,
      budget: ctx.budget,
    };
  }

  private async authorization(
    ref: ImageReference,
    { scheme, cred, origin }: { scheme: AuthScheme; cred: Credential | undefined; origin: string },
    ctx: CallContext,
  ): Promise<string | undefined> {
    if (scheme.type === 'bearer') {
      return `Bearer ${await this.tokens.token({ challenge: scheme, origin, scope: scopeOf(ref), cred }, ctx)}`;
    }
    if (scheme.type === 'basic' && cred?.username !== undefined && cred.password !== undefined) {
      return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    return undefined;
  }
}

function authFailure(err: unknown): boolean {
  return err instanceof FnPinnerError && (err.code === 'UNAUTHORIZED' || err.code === 'DENIED');
}
