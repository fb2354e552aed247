import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { knownCredential } from './leak-scan.js';
import { closeServer } from './ports.js';

/**
 * Loopback emulators of the two cloud credential protocols fn-pinner's default keychain speaks, written from
 * their public documentation (no cloud is reachable here):
 *   - the GCE/GKE metadata server, as google-auth-library reaches it through GCE_METADATA_HOST;
 *   - ECR's GetAuthorizationToken (AWS JSON 1.1 protocol), as @aws-sdk/client-ecr reaches it through
 *     AWS_ENDPOINT_URL_ECR.
 * Each one remembers what it issued and until when, so a registry's token server can accept exactly the
 * credentials still valid (TokenServerOptions.check).
 */

interface Issued {
  expiresAt: number;
}

export interface EmulatorRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  status: number;
}

interface Listening {
  host: string;
  stop(): Promise<void>;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listening> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { host: `127.0.0.1:${port}`, stop: () => closeServer(server) };
}

function reply(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, headers);
  res.end(body);
}

const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';

export interface MetadataServer {
  /** `127.0.0.1:PORT`, the value for GCE_METADATA_HOST. */
  host: string;
  /** Lifetime of the next tokens, in seconds (expires_in). */
  lifetimeS: number;
  readonly requests: EmulatorRequest[];
  /** Access tokens issued so far, oldest first. */
  readonly tokens: string[];
  /** Whether a token was issued here and has not expired. */
  valid(token: string): boolean;
  stop(): Promise<void>;
}

/**
 * The metadata server's documented contract: every request must carry `Metadata-Flavor: Google` (403
 * otherwise), every answer carries it back, and `…/service-accounts/default/token` returns
 * `{access_token, expires_in, token_type}`. `/computeMetadata/v1/instance` answers the library's probe.
 */
export async function startMetadataServer(opts: { lifetimeS?: number } = {}): Promise<MetadataServer> {
  const issued = new Map<string, Issued>();
  const requests: EmulatorRequest[] = [];
  const tokens: string[] = [];
  const state = { lifetimeS: opts.lifetimeS ?? 3600 };
  const flavor = { 'metadata-flavor': 'Google' };
  const server = await listen((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const entry: EmulatorRequest = { method: req.method ?? '', path, headers: req.headers, status: 200 };
    requests.push(entry);
    const send = (status: number, type: string, body: string): void => {
      entry.status = status;
      reply(res, status, { ...flavor, 'content-type': type }, body);
    };
    if (req.headers['metadata-flavor'] !== 'Google')
      return send(403, 'text/plain', 'Missing Metadata-Flavor');
    if (path === '/computeMetadata/v1/instance' || path === '/computeMetadata/v1/instance/')
      return send(200, 'application/text', 'attributes/\nservice-accounts/\n');
    if (path !== TOKEN_PATH) return send(404, 'text/plain', 'not found');
    const token = `ya29.emulated-${randomBytes(24).toString('hex')}`;
    // In every form it travels in: alone, and as the Basic `oauth2accesstoken:<token>` fn-pinner sends.
    knownCredential('oauth2accesstoken', token, 'metadata access token');
    issued.set(token, { expiresAt: Date.now() + state.lifetimeS * 1000 });
    tokens.push(token);
    send(
      200,
      'application/json',
      JSON.stringify({ access_token: token, expires_in: state.lifetimeS, token_type: 'Bearer' }),
    );
  });
  return {
    host: server.host,
    get lifetimeS() {
      return state.lifetimeS;
    },
    set lifetimeS(v: number) {
      state.lifetimeS = v;
    },
    requests,
    tokens,
    valid: (token) => (issued.get(token)?.expiresAt ?? 0) > Date.now(),
    stop: server.stop,
  };
}

export interface EcrCall {
  target: string | undefined;
  /** From the SigV4 Authorization header's credential scope. */
  accessKeyId: string | undefined;
  region: string | undefined;
  service: string | undefined;
  status: number;
}

export interface EcrEndpoint {
  /** `http://127.0.0.1:PORT`, the value for AWS_ENDPOINT_URL_ECR. */
  url: string;
  lifetimeS: number;
  readonly calls: EcrCall[];
  /** Passwords issued (the part after `AWS:`), oldest first. */
  readonly passwords: string[];
  valid(password: string): boolean;
  stop(): Promise<void>;
}

const TARGET = 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken';
const SIGV4 = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/;

/**
 * GetAuthorizationToken over the AWS JSON 1.1 protocol: `POST /`, `X-Amz-Target:
 * AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken`, a SigV4-signed request; the answer holds
 * `authorizationData[0].authorizationToken` = base64 `AWS:<password>` and `expiresAt` in epoch seconds.
 * An unsigned request gets the service's `MissingAuthenticationTokenException`.
 */
export async function startEcrEndpoint(opts: { lifetimeS?: number } = {}): Promise<EcrEndpoint> {
  const issued = new Map<string, Issued>();
  const calls: EcrCall[] = [];
  const passwords: string[] = [];
  const state = { lifetimeS: opts.lifetimeS ?? 12 * 3600 };
  const server = await listen((req, res) => {
    req.resume();
    const signed = SIGV4.exec(String(req.headers.authorization ?? ''));
    const target = req.headers['x-amz-target'] as string | undefined;
    const call: EcrCall = {
      target,
      accessKeyId: signed?.[1],
      region: signed?.[2],
      service: signed?.[3],
      status: 200,
    };
    calls.push(call);
    const send = (status: number, body: unknown): void => {
      call.status = status;
      reply(res, status, { 'content-type': 'application/x-amz-json-1.1' }, JSON.stringify(body));
    };
    if (req.method !== 'POST' || target !== TARGET) return send(400, { __type: 'UnknownOperationException' });
    if (!signed) return send(403, { __type: 'MissingAuthenticationTokenException', message: 'unsigned' });
    const password = `ecr-emulated-${randomBytes(24).toString('hex')}`;
    knownCredential('AWS', password, 'ECR authorization token');
    const expiresAt = Date.now() + state.lifetimeS * 1000;
    issued.set(password, { expiresAt });
    passwords.push(password);
    const token = Buffer.from(`AWS:${password}`).toString('base64');
    send(200, {
      authorizationData: [
        {
          authorizationToken: token,
          expiresAt: expiresAt / 1000,
          proxyEndpoint: `https://123456789012.dkr.ecr.${call.region}.amazonaws.com`,
        },
      ],
    });
  });
  return {
    url: `http://${server.host}`,
    get lifetimeS() {
      return state.lifetimeS;
    },
    set lifetimeS(v: number) {
      state.lifetimeS = v;
    },
    calls,
    passwords,
    valid: (password) => (issued.get(password)?.expiresAt ?? 0) > Date.now(),
    stop: server.stop,
  };
}
