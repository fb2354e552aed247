import { FnPinnerError } from '../../errors.js';
import type { ErrorCode } from '../../errors.js';
import { responseError } from '../errors.js';
import type { HttpRequest, HttpResponse, RoundTripper } from '../transport/types.js';
import { header, redactUrl } from '../transport/types.js';

function refuse(req: HttpRequest, why: string): FnPinnerError {
  return new FnPinnerError('REGISTRY_ERROR', `${req.what}: ${req.method} ${redactUrl(req.url)}: ${why}`);
}

/** Where a Location header points, if it may be followed at all. */
function target(req: HttpRequest, location: string, secure: boolean): URL {
  let next: URL;
  try {
    next = new URL(location, req.url);
  } catch {
    throw refuse(req, 'redirect to an invalid URL');
  }
  if (next.protocol !== 'https:' && (secure || next.protocol !== 'http:')) {
    throw refuse(req, `redirect from https to ${next.protocol.replace(':', '')} refused`);
  }
  return next;
}

/**
 * Follows a blob redirect to object storage or a CDN, at most `maxHops` times. Each hop goes through the
 * transport, so through the access policy; an https registry is never followed onto plain http; the
 * Authorization header stays with the registry's origin and is never sent to another one.
 */
export async function followRedirects(
  transport: RoundTripper,
  first: { req: HttpRequest; res: HttpResponse; origin: string },
  call: { notFound: ErrorCode },
  maxHops: number,
): Promise<HttpResponse> {
  let { req, res } = first;
  const secure = first.origin.startsWith('https:');
  for (let hop = 0; res.status >= 300 && res.status < 400; hop++) {
    const location = header(res, 'location');
    if (!location) break;
    if (hop >= maxHops) throw refuse(req, `more than ${maxHops} redirects`);
    const next = target(req, location, secure);
    const headers = { ...req.headers };
    if (next.origin !== first.origin) delete headers.authorization;
    req = { ...req, kind: 'blob-redirect', url: next.toString(), headers };
    res = await transport.send(req);
  }
  if (res.status < 200 || res.status > 299) throw responseError(req, res, call.notFound);
  return res;
}
