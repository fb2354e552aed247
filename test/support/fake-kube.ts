import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { stringify } from 'yaml';

import { closeServer } from './ports.js';

/**
 * Just enough of the Kubernetes API for `serve --enable-private-registries`: the pull-secret sync reads,
 * creates and replaces one Secret per function namespace (at start, then every --secret-resync), and
 * nothing else. Plain HTTP on 127.0.0.1 (the kubeconfig says insecure-skip-tls-verify, which is what lets
 * client-node use http://). Secrets live in a Map; `requests` counts what arrived.
 */
export interface FakeKube {
  kubeconfigPath: string;
  requests: Array<{ method: string; path: string; status: number }>;
  stop(): Promise<void>;
}

const SECRET = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/?]+))?(?:\?.*)?$/;

function send(res: ServerResponse, status: number, body: unknown): number {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
  return status;
}

function notFound(kind: string, name: string): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    reason: 'NotFound',
    code: 404,
    message: `${kind} "${name}" not found`,
  };
}

export async function startFakeKube(): Promise<FakeKube> {
  const secrets = new Map<string, Record<string, any>>();
  const requests: FakeKube['requests'] = [];
  let version = 1;
  const handle = (req: IncomingMessage, res: ServerResponse, body: string): number => {
    const m = SECRET.exec(req.url ?? '');
    if (!m) return send(res, 404, notFound('path', req.url ?? ''));
    const [, namespace, name] = m as unknown as [string, string, string | undefined];
    const key = `${namespace}/${name ?? ''}`;
    if (req.method === 'GET' && name) {
      const found = secrets.get(key);
      return found ? send(res, 200, found) : send(res, 404, notFound('secrets', name));
    }
    if ((req.method === 'POST' && !name) || (req.method === 'PUT' && name)) {
      const secret = JSON.parse(body);
      const stored = {
        apiVersion: 'v1',
        kind: 'Secret',
        ...secret,
        metadata: { ...secret.metadata, namespace, resourceVersion: String(++version) },
      };
      secrets.set(`${namespace}/${String(secret.metadata.name)}`, stored);
      return send(res, req.method === 'POST' ? 201 : 200, stored);
    }
    return send(res, 405, { kind: 'Status', code: 405, message: `${req.method} ${req.url}` });
  };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const status = handle(req, res, body);
      requests.push({ method: req.method ?? '', path: req.url ?? '', status });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-bench-kube-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfigPath,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'fake', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
      ],
      users: [{ name: 'bench', user: { token: 'bench' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'bench', namespace: 'default' } }],
      'current-context': 'fake',
    }),
  );
  return {
    kubeconfigPath,
    requests,
    stop: async () => {
      await closeServer(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
