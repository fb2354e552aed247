import { Agent as HttpAgent, createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer } from './ports.js';

/**
 * A reverse proxy on 127.0.0.1 in front of a plain-HTTP registry, for counting requests and injecting
 * faults. Each request is shown to a handler that lets it through, answers it, hangs it, resets the
 * connection, or lets it through with a rewritten body (headers such as Docker-Content-Digest kept).
 */

export interface ProxyRequestInfo {
  method: string;
  /** Path and query, as received. */
  path: string;
  headers: IncomingHttpHeaders;
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
}

export type ProxyAction =
  | 'pass'
  /** Never answer (the connection stays open until the client gives up or the proxy stops). */
  | 'hang'
  /** Destroy the client connection without an answer. */
  | 'reset'
  | { status: number; headers?: Record<string, string>; body?: string | Buffer }
  | { rewriteBody: (body: Buffer, response: UpstreamResponse) => Buffer };

export type ProxyHandler = (req: ProxyRequestInfo) => ProxyAction | Promise<ProxyAction>;

export interface TestProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  /** Every request received, in order, whatever the handler did with it. */
  readonly requests: ProxyRequestInfo[];
  /** Replaces the handler; no argument means pass everything. */
  setHandler(handler?: ProxyHandler): void;
  /** Forgets recorded requests (the handler stays). */
  reset(): void;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

export async function startProxy(targetUrl: string, handler?: ProxyHandler): Promise<TestProxy> {
  const target = new URL(targetUrl);
  if (target.protocol !== 'http:')
    throw new Error(`startProxy: only http targets are supported, got ${targetUrl}`);
  const requests: ProxyRequestInfo[] = [];
  const agent = new HttpAgent({ keepAlive: true });
  let current: ProxyHandler = handler ?? (() => 'pass');
  let origin = '';

  const server = createServer((req, res) => {
    const info: ProxyRequestInfo = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
    };
    requests.push(info);
    const ctx: ForwardContext = { target, origin, agent };
    Promise.resolve(current(info))
      .then((action) => act(action, req, res, ctx))
      .catch((err: unknown) => fail(res, err));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;

  return {
    url: origin,
    host: `127.0.0.1:${port}`,
    requests,
    setHandler: (h) => {
      current = h ?? (() => 'pass');
    },
    reset: () => void requests.splice(0),
    stop: async () => {
      await closeServer(server);
      agent.destroy();
    },
  };
}

interface ForwardContext {
  target: URL;
  /** The proxy's own origin, substituted for the target's in Location headers. */
  origin: string;
  agent: HttpAgent;
}

function act(action: ProxyAction, req: IncomingMessage, res: ServerResponse, ctx: ForwardContext): void {
  if (action === 'pass') return forward(req, res, ctx);
  if (action === 'hang') return void req.resume();
  if (action === 'reset') return void req.socket.destroy();
  if ('rewriteBody' in action) return forward(req, res, ctx, action.rewriteBody);
  req.resume();
  const body = action.body ?? '';
  res.writeHead(action.status, { 'content-length': Buffer.byteLength(body), ...action.headers });
  res.end(body);
}

function forward(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ForwardContext,
  rewrite?: (body: Buffer, response: UpstreamResponse) => Buffer,
): void {
  const upstream = httpRequest(
    {
      host: ctx.target.hostname,
      port: ctx.target.port,
      method: req.method,
      path: req.url,
      headers: { ...endToEnd(req.headers), host: ctx.target.host },
      agent: ctx.agent,
    },
    (up) => {
      const status = up.statusCode ?? 502;
      const headers = rewriteLocation(endToEnd(up.headers), ctx);
      if (!rewrite) {
        res.writeHead(status, headers);
        up.pipe(res);
        return;
      }
      collect(up)
        .then((body) => {
          const changed = rewrite(body, { status, headers: up.headers });
          res.writeHead(status, { ...headers, 'content-length': changed.length });
          res.end(changed);
        })
        .catch((err: unknown) => fail(res, err));
    },
  );
  upstream.on('error', (err) => fail(res, err));
  req.pipe(upstream);
}

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/** The registry builds absolute upload URLs from its own address; send clients back through the proxy. */
function rewriteLocation(headers: OutgoingHttpHeaders, ctx: ForwardContext): OutgoingHttpHeaders {
  const location = headers.location;
  if (typeof location === 'string' && location.startsWith(ctx.target.origin)) {
    headers.location = ctx.origin + location.slice(ctx.target.origin.length);
  }
  return headers;
}

async function collect(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function fail(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const message = `proxy error: ${err instanceof Error ? err.message : String(err)}`;
  res.writeHead(502, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(message) });
  res.end(message);
}
