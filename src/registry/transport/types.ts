import type { RequestBudget } from '../../util/budget.js';

/** Which trust store a connection uses: the system roots plus the custom CA, or Node's default store alone. */
export type Trust = 'custom' | 'default';

export interface HttpRequest {
  /** What the request is for, as a metrics label: ping, token, manifest, blob, blob-redirect. */
  kind: string;
  method: 'GET' | 'HEAD' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** Aborts at the caller's deadline. */
  signal: AbortSignal;
  /** The same deadline as a timestamp: retries never wait past it. */
  deadline: number;
  /** Cap on a successful response's body; error bodies get a smaller cap of their own. */
  maxBytes: number;
  /** Names the image and operation in error messages. */
  what: string;
  /** The review's request budget, spent once per attempt. */
  budget?: RequestBudget;
  /** Set by the trust layer for the layer below. */
  trust?: Trust;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One layer of the stack (go-containerregistry's http.RoundTripper): each wraps the one below. */
export interface RoundTripper {
  send(req: HttpRequest): Promise<HttpResponse>;
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Drops query strings: redirect targets often carry signed URLs or tokens. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : `${url.slice(0, q)}?…`;
}

/** The port a URL connects to, defaults included. */
export function portOf(url: URL): string {
  return url.port || (url.protocol === 'http:' ? '80' : '443');
}
