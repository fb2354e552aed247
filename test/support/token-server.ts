import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateCa } from '../../src/tls/certs.js';
import { knownCredential, knownToken } from './leak-scan.js';
import { closeServer } from './ports.js';

/**
 * Docker registry v2 token server (the "realm" of a Bearer challenge), in process, on 127.0.0.1.
 * The distribution registry accepts its RS256 JWTs because the `x5c` header carries the signing
 * certificate, which the registry config lists in auth.token.rootcertbundle.
 */

export interface TokenScope {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenServerOptions {
  /** Default { testuser: 'testpass-<random hex>' }. */
  users?: Record<string, string>;
  /** Must equal the registry's auth.token.issuer. Default 'test-issuer'. */
  issuer?: string;
  /** The registry's auth.token.service (the token's `aud` is whatever the client asks for). */
  service?: string;
  /** Token lifetime in seconds. Default 300. */
  expiresIn?: number;
  /** Which JSON fields carry the token; real servers differ. Default both. */
  responseFields?: 'both' | 'token' | 'access_token';
  /** Actions granted for one requested scope. Default: anonymous gets nothing, users get all they ask. */
  grant?: (user: string | null, scope: TokenScope) => string[];
  /**
   * Checks a Basic user and password that `users` does not list: how a registry that trusts another token
   * issuer (a cloud's metadata server, ECR) is emulated. True accepts, false rejects.
   */
  check?: (user: string, password: string) => boolean;
}

export interface TokenRequestLog {
  method: string;
  /** Requested scopes, space-separated (empty when none). */
  scope: string;
  user: string | null;
  service: string | null;
  status: number;
}

export interface TokenServer {
  /** Full realm URL, e.g. http://127.0.0.1:PORT/token. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** Signing certificate; the registry needs it as rootcertbundle. */
  readonly certPem: string;
  /** Writable so a test can make later tokens short-lived. */
  expiresIn: number;
  readonly requests: number;
  readonly log: TokenRequestLog[];
  /** Signs a token without an HTTP round trip (for tests that need a specific or odd token). */
  issue(claims: {
    user?: string | null;
    access?: TokenScope[];
    service?: string;
    expiresIn?: number;
  }): string;
  reset(): void;
  stop(): Promise<void>;
}

interface Signer {
  key: KeyObject;
  certDerB64: string;
}

export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const ca = generateCa({ commonName: 'fn-pinner test token signer' });
  const signer: Signer = {
    key: createPrivateKey(ca.keyPem),
    certDerB64: ca.certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''),
  };
  const log: TokenRequestLog[] = [];
  const state = {
    users: opts.users ?? { testuser: `testpass-${randomUUID().slice(0, 12)}` },
    issuer: opts.issuer ?? 'test-issuer',
    expiresIn: opts.expiresIn ?? 300,
    fields: opts.responseFields ?? 'both',
    grant: opts.grant ?? defaultGrant,
    check: opts.check,
  };
  for (const [user, password] of Object.entries(state.users))
    knownCredential(user, password, 'token server user');
  const issue: TokenServer['issue'] = (c) =>
    signJwtKnown(signer, {
      iss: state.issuer,
      sub: c.user ?? '',
      aud: c.service ?? opts.service ?? 'test-registry',
      access: c.access ?? [],
      ttl: c.expiresIn ?? state.expiresIn,
    });

  const server = createServer((req, res) => {
    handle(req, res, { state, issue, log }).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: String(err) }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    realm: `http://127.0.0.1:${port}/token`,
    service: opts.service ?? 'test-registry',
    issuer: state.issuer,
    certPem: ca.certPem,
    get expiresIn() {
      return state.expiresIn;
    },
    set expiresIn(v: number) {
      state.expiresIn = v;
    },
    get requests() {
      return log.length;
    },
    log,
    issue,
    reset: () => void log.splice(0),
    stop: () => closeServer(server),
  };
}

interface HandlerContext {
  state: {
    users: Record<string, string>;
    expiresIn: number;
    fields: 'both' | 'token' | 'access_token';
    grant: (user: string | null, scope: TokenScope) => string[];
    check: ((user: string, password: string) => boolean) | undefined;
  };
  issue: TokenServer['issue'];
  log: TokenRequestLog[];
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: HandlerContext): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const params = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
  const creds = credentials(req, params);
  const scopes = params
    .getAll('scope')
    .flatMap((s) => s.split(' '))
    .filter(Boolean);
  const entry: TokenRequestLog = {
    method: req.method ?? 'GET',
    scope: scopes.join(' '),
    user: creds.user,
    service: params.get('service'),
    status: 200,
  };
  ctx.log.push(entry);

  const reply = (status: number, body: unknown): void => {
    entry.status = status;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (url.pathname !== '/token') return reply(404, { details: 'not found' });
  if (req.method === 'POST' && params.get('grant_type') !== 'password') {
    return reply(400, { error: 'unsupported_grant_type' });
  }
  if (creds.user !== null && !accepted(ctx.state, creds.user, creds.password)) {
    return reply(401, { details: 'incorrect username or password' });
  }
  const access = parseScopes(scopes)
    .map((s) => ({ ...s, actions: ctx.state.grant(creds.user, s) }))
    .filter((s) => s.actions.length > 0);
  const token = ctx.issue({ user: creds.user, access, service: entry.service ?? '' });
  reply(200, tokenBody(token, ctx.state.expiresIn, ctx.state.fields));
}

function accepted(state: HandlerContext['state'], user: string, password: string): boolean {
  if (user in state.users) return state.users[user] === password;
  return state.check?.(user, password) ?? false;
}

function tokenBody(token: string, expiresIn: number, fields: string): Record<string, unknown> {
  const body: Record<string, unknown> = { expires_in: expiresIn, issued_at: new Date().toISOString() };
  if (fields !== 'access_token') body.token = token;
  if (fields !== 'token') body.access_token = token;
  return body;
}

function defaultGrant(user: string | null, scope: TokenScope): string[] {
  return user === null ? [] : scope.actions;
}

function credentials(
  req: IncomingMessage,
  params: URLSearchParams,
): { user: string | null; password: string } {
  const auth = req.headers.authorization ?? '';
  if (auth.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { user: params.get('username'), password: params.get('password') ?? '' };
}

/** "repository:team/app:pull,push" -> { type, name, actions }; names never contain ':' but may contain '/'. */
function parseScopes(scopes: string[]): TokenScope[] {
  return scopes.map((s) => {
    const first = s.indexOf(':');
    const last = s.lastIndexOf(':');
    return { type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',') };
  });
}

function signJwt(
  signer: Signer,
  c: { iss: string; sub: string; aud: string; access: TokenScope[]; ttl: number },
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'RS256', x5c: [signer.certDerB64] };
  const claims = {
    iss: c.iss,
    sub: c.sub,
    aud: c.aud,
    exp: now + c.ttl,
    nbf: now - 10,
    iat: now,
    jti: randomUUID(),
    access: c.access,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${sign('sha256', Buffer.from(input), signer.key).toString('base64url')}`;
}

/** Every token handed out is a secret the leak scan looks for. */
function signJwtKnown(signer: Signer, c: Parameters<typeof signJwt>[1]): string {
  return knownToken(signJwt(signer, c), `token-server token for ${c.sub || 'anonymous'}`);
}

function b64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
