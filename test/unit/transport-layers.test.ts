import { describe, expect, it } from '@jest/globals';

import { FnPinnerError } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';
import { followRedirects } from '../../src/registry/auth/redirects.js';
import { RetryTransport } from '../../src/registry/transport/retry.js';
import { TrustFallback } from '../../src/registry/transport/trust.js';
import type { HttpRequest, HttpResponse, RoundTripper, Trust } from '../../src/registry/transport/types.js';

/**
 * Single layers of the transport stack over a scripted layer below (the protocol itself is tested against
 * real registries and TLS servers in test/integration).
 */

const silent = createLogger({ level: 'silent' });

function request(url: string): HttpRequest {
  return {
    kind: 'blob',
    method: 'GET',
    url,
    headers: { authorization: 'Bearer secret' },
    signal: new AbortController().signal,
    deadline: Date.now() + 5_000,
    maxBytes: 1024,
    what: 'resolve x',
  };
}

function certError(): FnPinnerError {
  const cause = Object.assign(new Error('unable to verify'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  return new FnPinnerError('TLS', 'resolve x: GET https://r/v2/: certificate verification failed', { cause });
}

/** A host whose certificate only one trust store accepts; which one can change over time. */
class Host implements RoundTripper {
  trusted: Trust = 'default';
  tried: Trust[] = [];
  async send(req: HttpRequest): Promise<HttpResponse> {
    this.tried.push(req.trust ?? 'default');
    if (req.trust !== this.trusted) throw certError();
    return { status: 200, headers: {}, body: Buffer.alloc(0) };
  }
}

describe('the TLS trust fallback', () => {
  it('tries the custom CA first, falls back to the default store on a certificate error, and remembers it', async () => {
    const host = new Host();
    const t = new TrustFallback(host, { hasCustomCa: true, rememberMs: 60_000 }, silent);
    await t.send(request('https://r/v2/'));
    await t.send(request('https://r/v2/'));
    expect(host.tried).toEqual(['custom', 'default', 'default']);
  });

  it('does not pin a host to the default store after one fallback: a certificate the custom CA signs is followed', async () => {
    const host = new Host();
    const t = new TrustFallback(host, { hasCustomCa: true, rememberMs: 60_000 }, silent);
    await t.send(request('https://r/v2/'));
    host.trusted = 'custom';
    host.tried = [];
    await expect(t.send(request('https://r/v2/'))).resolves.toMatchObject({ status: 200 });
    expect(host.tried).toEqual(['default', 'custom']);
    host.tried = [];
    await t.send(request('https://r/v2/'));
    expect(host.tried).toEqual(['custom']);
  });

  it('forgets the fallback after rememberMs: the custom CA goes first again', async () => {
    const host = new Host();
    const t = new TrustFallback(host, { hasCustomCa: true, rememberMs: 20 }, silent);
    await t.send(request('https://r/v2/'));
    await new Promise((r) => setTimeout(r, 40));
    host.tried = [];
    await t.send(request('https://r/v2/'));
    expect(host.tried[0]).toBe('custom');
  });

  it('names both failures when neither store trusts the host', async () => {
    const host = new Host();
    host.trusted = 'custom';
    const failing: RoundTripper = { send: () => Promise.reject(certError()) };
    const t = new TrustFallback(failing, { hasCustomCa: true, rememberMs: 60_000 }, silent);
    await expect(t.send(request('https://r/v2/'))).rejects.toThrow(
      /failed with the custom CA \(.*\) and with the default trust store \(.*\)/,
    );
  });
});

describe('retries', () => {
  it('names the request once when a retry would pass the deadline', async () => {
    const timedOut = new FnPinnerError(
      'TIMEOUT',
      'resolve x: GET https://r/v2/x/manifests/v1: no response within 5000 ms',
      {
        temporary: true,
      },
    );
    const below: RoundTripper = {
      send: async () => {
        throw timedOut;
      },
    };
    const retry = new RetryTransport(below, { maxAttempts: 3, retryBaseDelayMs: 100 }, silent);
    const req = { ...request('https://r/v2/x/manifests/v1'), deadline: Date.now() + 50 };
    const err = (await retry.send(req).catch((e: unknown) => e)) as FnPinnerError;
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toMatch(
      /^resolve x: GET https:\/\/r\/v2\/x\/manifests\/v1: no response within 5000 ms; retrying after \d+ ms would pass the deadline$/,
    );
  });
});

describe('blob redirects', () => {
  const redirect = (location: string): HttpResponse => ({
    status: 307,
    headers: { location },
    body: Buffer.alloc(0),
  });

  it('never follows an https registry onto plain http', async () => {
    const below: RoundTripper = { send: () => Promise.reject(new Error('must not be called')) };
    const first = {
      req: request('https://r/v2/a/blobs/x'),
      res: redirect('http://storage/x'),
      origin: 'https://r',
    };
    await expect(followRedirects(below, first, { notFound: 'BLOB_UNKNOWN' }, 3)).rejects.toThrow(
      'redirect from https to http refused',
    );
  });

  it('sends no Authorization to another origin, and keeps it for the registry itself', async () => {
    const seen: Array<[string, string | undefined]> = [];
    const below: RoundTripper = {
      send: (req) => {
        seen.push([req.url, req.headers.authorization]);
        return Promise.resolve(
          req.url.includes('storage')
            ? { status: 200, headers: {}, body: Buffer.from('ok') }
            : redirect('https://storage.example/x'),
        );
      },
    };
    const first = {
      req: request('https://r/v2/a/blobs/x'),
      res: redirect('/v2/a/blobs/y'),
      origin: 'https://r',
    };
    await followRedirects(below, first, { notFound: 'BLOB_UNKNOWN' }, 3);
    expect(seen).toEqual([
      ['https://r/v2/a/blobs/y', 'Bearer secret'],
      ['https://storage.example/x', undefined],
    ]);
  });
});
