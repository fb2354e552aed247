import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';

import { createAdmissionEndpoint } from '../../../src/admission/endpoint.js';
import { createLogger } from '../../../src/logging.js';
import { createMetrics } from '../../../src/metrics.js';
import type { Metrics } from '../../../src/metrics.js';
import { createApp } from '../../../src/server/app.js';
import { anyText, checkProperty, fuzzTimeout } from '../../support/fuzz.js';
import { MUTATION_LIMITS } from '../../support/limits.js';
import { corruptedReview, fuzzSource, wellTypedReview } from '../../support/fuzz-reviews.js';
import { closeServer } from '../../support/ports.js';

/**
 * Raw bytes through the real HTTP layer (src/server/app.ts and the lean /mutate handler) on 127.0.0.1:
 * any method, path, headers and body get a JSON answer with a 2xx or 4xx status, never a 500 and never a
 * hang; garbage on the socket never takes the server down.
 */
const LIMIT = 64 * 1024;
let server: Server;
let base: string;
let port: number;
let metrics: Metrics;
const agent = new Agent({ keepAliveTimeout: 10_000, connections: 4 });

beforeAll(async () => {
  metrics = createMetrics();
  const log = createLogger({ level: 'debug' }, { write: () => undefined });
  const endpoint = createAdmissionEndpoint({
    source: fuzzSource(),
    log,
    options: {
      failurePolicy: 'Fail',
      excludedNamespaces: ['kube-system'],
      reviewDeadlineMs: 5_000,
      mutation: {
        commandPrefix: [],
        defaultPlatform: { os: 'linux', architecture: 'amd64' },
        limits: MUTATION_LIMITS,
      },
    },
  });
  const app = createApp({
    endpoint,
    readiness: { notReadyReason: () => undefined },
    metrics,
    log,
    bodyLimitBytes: LIMIT,
  });
  server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await agent.close();
  await closeServer(server);
});

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value) ?? 'null');

const body: fc.Arbitrary<Buffer> = fc.oneof(
  wellTypedReview.map(json),
  corruptedReview.map(json),
  fc.jsonValue({ maxDepth: 3 }).map(json),
  fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
  anyText(200).map((s) => Buffer.from(s)),
  // Truncated JSON, and a body just over the limit.
  wellTypedReview.chain((r) => fc.nat().map((n) => json(r).subarray(0, n % json(r).length))),
  fc.integer({ min: LIMIT - 8, max: LIMIT + 64 }).map((n) => Buffer.alloc(n, 0x20)),
  fc.constant(Buffer.alloc(0)),
);

const header = (values: string[]): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    fc.constantFrom(...values),
    fc.constant(undefined),
    fc.string({ unit: fc.constantFrom(...'abcjson/;= -+*'), maxLength: 30 }),
  );

const call = fc.record({
  method: fc.oneof(
    { weight: 8, arbitrary: fc.constant<Dispatcher.HttpMethod>('POST') },
    fc.constantFrom<Dispatcher.HttpMethod>('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
  ),
  path: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('/mutate', '/mutate?timeout=10s') },
    fc.constantFrom('/healthz', '/readyz', '/metrics', '/mutate/', '/MUTATE', '/%zz', '//mutate'),
    fc.string({ unit: fc.constantFrom(...'abz/?=&%.-_~'), maxLength: 20 }).map((p) => `/${p}`),
  ),
  contentType: header([
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'text/plain',
  ]),
  encoding: fc.option(fc.constantFrom('gzip', 'identity', 'br, gzip'), { freq: 5 }),
  chunked: fc.boolean(),
  body,
});

type Call = typeof call extends fc.Arbitrary<infer T> ? T : never;

async function send(c: Call): Promise<{ status: number; type: string; text: string }> {
  const headers: Record<string, string> = {};
  if (c.contentType !== undefined) headers['content-type'] = c.contentType;
  if (c.encoding) headers['content-encoding'] = c.encoding;
  const hasBody = c.method !== 'GET' && c.method !== 'OPTIONS';
  // A stream has no known length, so undici sends it chunked.
  const payload = c.chunked ? Readable.from([c.body]) : c.body;
  const res = await request(`${base}${c.path}`, {
    method: c.method,
    headers,
    body: hasBody ? payload : undefined,
    dispatcher: agent,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  return {
    status: res.statusCode,
    type: String(res.headers['content-type'] ?? ''),
    text: await res.body.text(),
  };
}

const ANSWERS = new Set([200, 400, 404, 405, 413, 415]);

describe('HTTP layer under arbitrary requests', () => {
  it(
    'answers every request with a 2xx or 4xx and a parseable body, and well-formed reviews on 200 /mutate',
    async () => {
      await checkProperty(
        'http: arbitrary requests',
        fc.asyncProperty(call, async (c) => {
          const { status, type, text } = await send(c);
          expect(ANSWERS).toContain(status);
          if (type.startsWith('application/json')) {
            const parsed = JSON.parse(text) as Record<string, any>;
            if (status === 200 && c.method === 'POST' && c.path.startsWith('/mutate')) {
              expect(parsed.kind).toBe('AdmissionReview');
              expect(typeof parsed.response.allowed).toBe('boolean');
            } else if (status >= 400 && parsed.kind !== 'AdmissionReview') {
              expect(typeof parsed.error.message).toBe('string');
            }
          } else {
            expect(['/healthz', '/readyz', '/metrics']).toContain(c.path);
          }
        }),
      );
      const { values } = await metrics.httpRequests.get();
      expect(values.filter((v) => String(v.labels.status).startsWith('5'))).toEqual([]);
    },
    fuzzTimeout(10),
  );

  it(
    'survives arbitrary bytes on the socket: an HTTP answer or a closed connection, then still serves',
    async () => {
      const prefix = fc.constantFrom(
        '',
        'POST /mutate HTTP/1.1\r\n',
        'GET / HTTP/1.1\r\nHost: x\r\n',
        'POST /mutate HTTP/1.1\r\nContent-Length: 5\r\n\r\n',
      );
      await checkProperty(
        'http: raw socket bytes',
        fc.asyncProperty(prefix, fc.uint8Array({ maxLength: 300 }), async (head, bytes) => {
          const reply = await rawExchange(Buffer.concat([Buffer.from(head), Buffer.from(bytes)]));
          if (reply.length > 0) expect(reply.toString('latin1')).toMatch(/^HTTP\/1\.1 [1-5]\d\d /);
        }),
      );
      const health = await send({
        method: 'GET',
        path: '/healthz',
        contentType: undefined,
        encoding: null,
        chunked: false,
        body: Buffer.alloc(0),
      });
      expect(health).toMatchObject({ status: 200, text: 'ok' });
    },
    fuzzTimeout(10),
  );
});

/** Writes the bytes, half-closes, and returns whatever came back before the server closed. */
function rawExchange(bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    socket.setTimeout(20_000, () => reject(new Error('the server neither answered nor closed within 20 s')));
  });
}
