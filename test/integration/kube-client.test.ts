import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';

import { KubeApiError, createSecretApi, loadKubeConfig } from '../../src/kube/client.js';
import { generateCa, generateServingCert } from '../../src/tls/certs.js';
import { caBundle } from '../../src/tls/ca-bundle.js';
import { captured, knownSecret } from '../support/leak-scan.js';

/**
 * The Kubernetes client against an API server that never answers: each call fails at its deadline, and
 * its socket is closed then, not left open. (A timer raced against the call used to give up on the call
 * and leave the request running, so every resync against a hung API server added a socket.)
 */
const CALLS = 5;
const TIMEOUT_MS = 300;
let dir: string;

interface Listener {
  server: Server | HttpsServer;
  port: number;
  /** Connections accepted and not yet closed. */
  open: Set<Socket>;
  accepted: number;
}

function track(server: Server | HttpsServer): Listener {
  const l: Listener = { server, port: 0, open: new Set(), accepted: 0 };
  server.on('connection', (socket: Socket) => {
    l.accepted++;
    l.open.add(socket);
    socket.on('close', () => l.open.delete(socket));
  });
  return l;
}

async function listen(l: Listener): Promise<Listener> {
  await new Promise<void>((resolve) => l.server.listen(0, '127.0.0.1', resolve));
  l.port = (l.server.address() as AddressInfo).port;
  return l;
}

function stop(l: Listener): Promise<void> {
  for (const s of l.open) s.destroy();
  return new Promise((resolve) => l.server.close(() => resolve()));
}

function kubeconfig(port: number, caPem: string): string {
  const file = join(dir, `kubeconfig-${port}`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'c',
        cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': caBundle(caPem) },
      },
    ],
    users: [{ name: 'u', user: { token: knownSecret(`blackhole-token-${port}`, 'kubeconfig token') } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  };
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}

/** Polls until `open` is empty; generous, since only a leak would keep a socket for seconds. */
async function allClosed(l: Listener, withinMs = 10_000): Promise<number> {
  const deadline = Date.now() + withinMs;
  while (l.open.size > 0 && Date.now() < deadline) await sleep(20);
  return l.open.size;
}

let ca: ReturnType<typeof generateCa>;
let serving: ReturnType<typeof generateServingCert>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fn-pinner-kube-client-'));
  ca = generateCa({ commonName: 'blackhole CA' });
  serving = generateServingCert({ ca, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.each([
  // Accepts TCP, reads and says nothing: the TLS handshake never ends (a dead proxy, a stuck load balancer).
  // It reads, so that it sees the client close the connection.
  ['a listener that never completes the TLS handshake', () => track(createNetServer((s) => s.resume()))],
  // TLS done, request read, no answer (an API server stuck on etcd).
  [
    'an HTTPS server that reads the request and never answers',
    () => track(createHttpsServer({ key: serving.keyPem, cert: serving.certPem }, () => undefined)),
  ],
])('Kubernetes calls against %s', (_label, make) => {
  let hole: Listener;

  beforeAll(async () => {
    hole = await listen(make());
  });

  afterAll(async () => {
    await stop(hole);
  });

  it('fail at their deadline as a temporary Timeout, and leave no socket open', async () => {
    const api = createSecretApi(
      loadKubeConfig({ kubeconfig: kubeconfig(hole.port, ca.certPem), inCluster: false }),
      {
        timeoutMs: TIMEOUT_MS,
      },
    );
    const results = await Promise.allSettled(
      Array.from({ length: CALLS }, (_, i) => api.read('porch-fn-system', `secret-${i}`)),
    );
    captured('Kubernetes client errors', () =>
      results.map((r) => String((r as PromiseRejectedResult).reason)),
    );
    for (const [i, r] of results.entries()) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as KubeApiError;
      expect(err).toBeInstanceOf(KubeApiError);
      expect(err).toMatchObject({ code: 'KUBE_API', reason: 'Timeout', temporary: true });
      expect(err.message).toMatch(new RegExp(`^get secret porch-fn-system/secret-${i}: `));
    }
    expect(hole.accepted).toBe(CALLS);
    expect(await allClosed(hole)).toBe(0);
  });
});
