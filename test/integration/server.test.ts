import { connect as netConnect } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions, DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { HTTPS_TUNABLES } from '../../src/config/tunables.js';
import { createMetrics } from '../../src/metrics.js';
import { MAX_ADMISSION_BODY_BYTES, createApp } from '../../src/server/app.js';
import { startHttpsServer } from '../../src/server/https.js';
import type { RunningHttpsServer } from '../../src/server/https.js';
import type { AdmissionEndpoint } from '../../src/server/types.js';
import { generateServingCert } from '../../src/tls/certs.js';
import { describeCert } from '../support/certs.js';
import { ensureServingCerts, servingDnsNames } from '../../src/tls/serving.js';
import type { ServingCerts } from '../../src/tls/serving.js';
import { captureLogger } from '../support/capture-logger.js';
import type { LogLine } from '../support/capture-logger.js';

const SERVICE_NAME = 'fn-pinner.porch-fn-system.svc';
const DAY = 86_400_000;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Answers like the real endpoint (an AdmissionReview echoing the uid), throws on `request.uid === "throw"`,
 * answers 400 for a body without `request`, and holds `request.uid === "slow"` until released.
 */
class FakeEndpoint implements AdmissionEndpoint {
  slowStarted = deferred();
  releaseSlow = deferred();

  async review(body: unknown): Promise<{ status: number; body: unknown }> {
    const uid = (body as { request?: { uid?: string } }).request?.uid;
    if (uid === undefined) return { status: 400, body: { error: 'not an AdmissionReview' } };
    if (uid === 'throw') throw new Error('resolver exploded');
    if (uid === 'slow') {
      this.slowStarted.resolve();
      await this.releaseSlow.promise;
    }
    const response = { uid, allowed: true };
    return { status: 200, body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response } };
  }
}

let dir: string;
let certs: ServingCerts;
let caKeyPem: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fn-pinner-server-'));
  const t = performance.now();
  certs = ensureServingCerts({
    dir,
    service: 'fn-pinner',
    namespace: 'porch-fn-system',
    generate: true,
  }).certs;
  // Recorded for the report: a CA and a leaf, two RSA-2048 keys.
  console.info(`ensureServingCerts (new CA + leaf) took ${(performance.now() - t).toFixed(0)} ms`);
  caKeyPem = readFileSync(join(dir, 'ca.key'), 'utf8');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

type CallOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & {
  method?: Dispatcher.HttpMethod;
};

interface Started {
  running: RunningHttpsServer;
  endpoint: FakeEndpoint;
  state: { notReady: string | undefined };
  lines: LogLine[];
  agent: Agent;
  call(path: string, opts?: CallOptions): Promise<Reply>;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

async function start(): Promise<Started> {
  const { log, lines } = captureLogger();
  const endpoint = new FakeEndpoint();
  const state: { notReady: string | undefined } = { notReady: undefined };
  const readiness = { notReadyReason: (): string | undefined => state.notReady };
  const app = createApp({ endpoint, readiness, metrics: createMetrics(), log });
  const running = await startHttpsServer(app, { ...HTTPS_TUNABLES, host: '127.0.0.1', port: 0, certs, log });
  const agent = new Agent({ connect: { ca: certs.caPem } });
  const call = async (path: string, opts: CallOptions = {}): Promise<Reply> => {
    const res = await request(`https://127.0.0.1:${running.port}${path}`, { dispatcher: agent, ...opts });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };
  return { running, endpoint, state, lines, agent, call };
}

function post(
  body: string,
  contentType = 'application/json',
): Omit<Dispatcher.RequestOptions, 'origin' | 'path'> {
  return { method: 'POST', headers: { 'content-type': contentType }, body };
}

function review(uid: string): string {
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid } });
}

function handshake(port: number, opts: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ...opts }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function peer(
  port: number,
  opts: ConnectionOptions,
): Promise<{ cert: DetailedPeerCertificate; protocol: string }> {
  const socket = await handshake(port, opts);
  const result = { cert: socket.getPeerCertificate(true), protocol: socket.getProtocol() ?? '' };
  socket.destroy();
  return result;
}

describe('HTTPS webhook server', () => {
  let s: Started;

  beforeAll(async () => {
    s = await start();
  });

  afterAll(async () => {
    await s.agent.close();
    await s.running.close(1_000);
  });

  describe('TLS', () => {
    it('serves a chain that verifies against ca.crt for the in-cluster service name', async () => {
      const { cert, protocol } = await peer(s.running.port, { ca: certs.caPem, servername: SERVICE_NAME });
      expect(protocol).toBe('TLSv1.3');
      expect(cert.subject.CN).toBe(SERVICE_NAME);
      const sans = (cert.subjectaltname ?? '').split(', ');
      expect(sans).toEqual(
        expect.arrayContaining([`DNS:${SERVICE_NAME}`, 'DNS:localhost', 'IP Address:127.0.0.1']),
      );
      const days = (new Date(cert.valid_to).getTime() - Date.now()) / DAY;
      expect(days).toBeGreaterThan(364);
      expect(days).toBeLessThanOrEqual(365);
    });

    it('verifies for localhost and 127.0.0.1 too, and for nothing else', async () => {
      await expect(peer(s.running.port, { ca: certs.caPem, servername: 'localhost' })).resolves.toBeDefined();
      await expect(peer(s.running.port, { ca: certs.caPem })).resolves.toBeDefined();
      await expect(
        peer(s.running.port, { ca: certs.caPem, servername: 'evil.example' }),
      ).rejects.toMatchObject({
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      });
      await expect(peer(s.running.port, { servername: SERVICE_NAME })).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
    });

    it('speaks TLS 1.2 but nothing older', async () => {
      const tls12 = await peer(s.running.port, { ca: certs.caPem, maxVersion: 'TLSv1.2' });
      expect(tls12.protocol).toBe('TLSv1.2');
      await expect(
        peer(s.running.port, {
          ca: certs.caPem,
          minVersion: 'TLSv1',
          maxVersion: 'TLSv1.1',
          ciphers: 'DEFAULT:@SECLEVEL=0',
        }),
      ).rejects.toThrow();
    });

    it('uses the controller-runtime timeouts', () => {
      expect(s.running.server.keepAliveTimeout).toBe(90_000);
      expect(s.running.server.headersTimeout).toBe(32_000);
      expect(s.running.server.requestTimeout).toBe(34_000);
    });
  });

  describe('probes and metrics', () => {
    it('GET /healthz is ok', async () => {
      await expect(s.call('/healthz')).resolves.toMatchObject({ status: 200, text: 'ok' });
    });

    it('GET /readyz reports the reason while not ready', async () => {
      await expect(s.call('/readyz')).resolves.toMatchObject({ status: 200, text: 'ok' });
      s.state.notReady = 'pull secret not synchronized yet';
      await expect(s.call('/readyz')).resolves.toMatchObject({
        status: 503,
        text: 'pull secret not synchronized yet',
      });
      s.state.notReady = undefined;
      await expect(s.call('/readyz')).resolves.toMatchObject({ status: 200 });
    });

    it('GET /metrics is Prometheus text with HTTP and admission metrics', async () => {
      await s.call('/mutate', post(review('m-1')));
      await s.call('/nope');
      const res = await s.call('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(res.text).toMatch(/^fn_pinner_http_requests_total\{route="\/healthz",status="200"\} \d+$/m);
      expect(res.text).toMatch(/^fn_pinner_http_requests_total\{route="other",status="404"\} 1$/m);
      expect(res.text).toMatch(/^fn_pinner_admission_duration_seconds_count\{status="200"\} [1-9]\d*$/m);
      expect(res.text).toMatch(/^fn_pinner_http_requests_total\{route="\/mutate",status="200"\} [1-9]\d*$/m);
    });
  });

  describe('POST /mutate', () => {
    it('answers with what the endpoint returns', async () => {
      const res = await s.call('/mutate?timeout=10s', post(review('uid-1')));
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(res.text)).toMatchObject({
        kind: 'AdmissionReview',
        response: { uid: 'uid-1', allowed: true },
      });
      const bad = await s.call('/mutate', post('{"kind":"Pod"}'));
      expect(bad.status).toBe(400);
    });

    it('415s anything but JSON', async () => {
      const res = await s.call('/mutate', post(review('x'), 'text/plain'));
      expect(res.status).toBe(415);
      expect(JSON.parse(res.text)).toEqual({
        error: { code: 'BAD_REQUEST', message: 'expected application/json, got Content-Type "text/plain"' },
      });
      const none = await s.call('/mutate', { method: 'POST', body: review('x') });
      expect(none.status).toBe(415);
      const charset = await s.call('/mutate', post(review('x'), 'application/json; charset=utf-8'));
      expect(charset.status).toBe(200);
    });

    it('413s a body over the 7 MiB limit, declared or chunked', async () => {
      const big = Buffer.alloc(MAX_ADMISSION_BODY_BYTES + 1, 0x20);
      const declared = await s.call('/mutate', post(big.toString()));
      expect(declared.status).toBe(413);
      expect(JSON.parse(declared.text).error).toEqual({
        code: 'TOO_LARGE',
        message: 'the request body (7340033 bytes) exceeds the 7340032-byte (7.0 MiB) limit',
      });
      expect(declared.headers.connection).toBe('close');

      // No Content-Length: the limit has to be enforced while reading.
      const chunks = Readable.from(Array.from({ length: 8 }, () => Buffer.alloc(1024 * 1024, 0x20)));
      const chunked = await s.call('/mutate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: chunks,
      });
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.text).error.message).toBe(
        'the request body exceeds the 7340032-byte (7.0 MiB) limit',
      );

      const justUnder = `{"request":{"uid":"big"},"pad":"${' '.repeat(MAX_ADMISSION_BODY_BYTES - 40)}"}`;
      await expect(s.call('/mutate', post(justUnder))).resolves.toMatchObject({ status: 200 });
    });

    it('400s malformed JSON, naming the problem, and an empty body', async () => {
      const res = await s.call('/mutate', post('{"request": {"uid": '));
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).error.message).toMatch(/^malformed JSON: .*JSON/);
      const scalar = await s.call('/mutate', post('"just a string"'));
      expect(scalar.status).toBe(400);
      const empty = await s.call('/mutate', post(''));
      expect(empty.status).toBe(400);
      expect(JSON.parse(empty.text).error.message).toBe('empty request body; expected an AdmissionReview');
    });

    it('500s (and logs) when the endpoint throws, and keeps serving', async () => {
      const res = await s.call('/mutate', post(review('throw')));
      expect(res.status).toBe(500);
      expect(JSON.parse(res.text)).toEqual({
        error: { code: 'INTERNAL', message: 'admission review failed: resolver exploded' },
      });
      expect(s.lines.some((l) => l.level === 'error' && l.err?.message === 'resolver exploded')).toBe(true);
      await expect(s.call('/healthz')).resolves.toMatchObject({ status: 200 });
    });

    it('405s other methods and 404s unknown paths, in JSON', async () => {
      const get = await s.call('/mutate');
      expect(get.status).toBe(405);
      expect(get.headers.allow).toBe('POST');
      const missing = await s.call('/validate', post('{}'));
      expect(missing.status).toBe(404);
      expect(JSON.parse(missing.text).error.message).toBe('no route for POST /validate');
    });
  });

  describe('certificate rotation', () => {
    it('serves a new certificate to new connections without a restart', async () => {
      const before = await peer(s.running.port, { ca: certs.caPem, servername: SERVICE_NAME });
      const leaf = generateServingCert({
        ca: { certPem: certs.caPem, keyPem: caKeyPem },
        dnsNames: servingDnsNames('fn-pinner', 'porch-fn-system'),
        ipAddresses: ['127.0.0.1'],
        validityDays: 30,
      });
      s.running.updateCerts(leaf);
      const after = await peer(s.running.port, { ca: certs.caPem, servername: SERVICE_NAME });
      expect(before.cert.serialNumber).toBe(describeCert(certs.certPem).serialNumber);
      expect(after.cert.serialNumber).toBe(describeCert(leaf.certPem).serialNumber);
      expect(after.cert.serialNumber).not.toBe(before.cert.serialNumber);
      await expect(s.call('/healthz')).resolves.toMatchObject({ status: 200 });
    });

    it('rejects a broken pair and keeps serving the current one', async () => {
      expect(() => s.running.updateCerts({ certPem: certs.certPem, keyPem: 'garbage' })).toThrow(
        /update serving certificate/,
      );
      await expect(peer(s.running.port, { ca: certs.caPem })).resolves.toBeDefined();
    });
  });
});

describe('graceful close', () => {
  function refused(port: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const socket = netConnect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
    });
  }

  it('lets an in-flight review finish and deliver its answer while refusing new connections', async () => {
    const s = await start();
    await s.call('/healthz'); // leaves an idle keep-alive connection in the agent's pool
    const slow = s.call('/mutate', post(review('slow')));
    await s.endpoint.slowStarted.promise;

    const started = Date.now();
    let closed = false;
    const closing = s.running.close(10_000).then(() => (closed = true));
    await expect(refused(s.running.port)).resolves.toBe('ECONNREFUSED');
    await new Promise((r) => setTimeout(r, 200));
    expect(closed).toBe(false);

    s.endpoint.releaseSlow.resolve();
    const res = await slow;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).response.uid).toBe('slow');
    expect(res.headers.connection).toBe('close');
    await closing;
    // Idle keep-alive connections were closed, not waited out (keepAliveTimeout is 90 s); generous for busy CI.
    expect(Date.now() - started).toBeLessThan(30_000);
    await s.agent.close();
  });

  it('force-closes what is still open after the grace period', async () => {
    const s = await start();
    const stuck = s.call('/mutate', post(review('slow'))).catch((err: Error) => err);
    await s.endpoint.slowStarted.promise;
    const started = Date.now();
    await s.running.close(300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(15_000);
    await expect(stuck).resolves.toBeInstanceOf(Error);
    expect(
      s.lines.some((l) => l.level === 'warn' && l.msg === 'grace period over; closing connections'),
    ).toBe(true);
    s.endpoint.releaseSlow.resolve();
    await s.agent.close();
  });
});
