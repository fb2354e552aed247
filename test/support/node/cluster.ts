import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Agent, request } from 'undici';
import { parseAllDocuments } from 'yaml';

import type { RawOptions } from '../../../src/config/load.js';
import { generateCa, generateServingCert } from '../../../src/tls/certs.js';
import { servingDnsNames } from '../../../src/tls/serving.js';
import { attachKube } from '../kube.js';
import type { KubeObject } from '../kube.js';
import type { RegistryKind, TestRegistry } from '../registry.js';
import { startTestWebhook } from '../webhook.js';
import type { TestWebhook } from '../webhook.js';
import type { TestNode } from './node.js';

/**
 * The node suite's cluster mode: with FN_PINNER_NODE_CLUSTER naming a JSON file (test/kind/run.sh writes
 * one), test/node/node.test.ts runs its checks against a cluster that already exists (kind) instead of
 * bringing up a node on this machine. The file says how to reach the cluster and the registries its nodes
 * pull from; fn-pinner itself is still deployed by the suite, from manifests/ (through `overlay`).
 */
export const CLUSTER_ENV = 'FN_PINNER_NODE_CLUSTER';

export interface ClusterSpec {
  kubeconfig: string;
  /** Where the cluster (API server, pods) reaches this machine: the suite's own webhook listens there. */
  hostAddress: string;
  /** fn-pinner's image as the nodes already hold it (`kind load docker-image`). */
  image: string;
  /** The kustomization the suite deploys (default test/kind/overlays/base). */
  overlay: string;
  /** Plain HTTP; `host` works from this machine, from the nodes and from pods alike. */
  registry: { host: string; logsCommand: string[] };
  /** TLS + htpasswd; the nodes' containerd trusts `caFile` (certs.d). */
  privateRegistry: {
    host: string;
    caFile: string;
    username: string;
    password: string;
    /** Restarts the registry with only these credentials; called with USER and PASSWORD appended. */
    rotateCommand: string[];
  };
}

const ROOT = join(import.meta.dirname, '..', '..', '..');
const COMMAND_TIMEOUT_MS = 120_000;
const ROTATE_READY_MS = 60_000;

function need<T>(value: T | undefined, what: string, file: string): T {
  if (value === undefined || value === null || value === '') throw new Error(`${file}: ${what} is missing`);
  return value;
}

/** The spec named by FN_PINNER_NODE_CLUSTER, or undefined (then the suite brings up its own node). */
export function clusterSpec(env: NodeJS.ProcessEnv = process.env): ClusterSpec | undefined {
  const file = env[CLUSTER_ENV];
  if (!file) return undefined;
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<ClusterSpec>;
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(dirname(file), p));
  const reg = need(raw.registry, 'registry', file);
  const priv = need(raw.privateRegistry, 'privateRegistry', file);
  return {
    kubeconfig: path(need(raw.kubeconfig, 'kubeconfig', file)),
    hostAddress: need(raw.hostAddress, 'hostAddress', file),
    image: need(raw.image, 'image', file),
    overlay: raw.overlay ? resolve(ROOT, raw.overlay) : join(ROOT, 'test', 'kind', 'overlays', 'base'),
    registry: { host: need(reg.host, 'registry.host', file), logsCommand: reg.logsCommand ?? [] },
    privateRegistry: {
      host: need(priv.host, 'privateRegistry.host', file),
      caFile: path(need(priv.caFile, 'privateRegistry.caFile', file)),
      username: need(priv.username, 'privateRegistry.username', file),
      password: need(priv.password, 'privateRegistry.password', file),
      rotateCommand: need(priv.rotateCommand, 'privateRegistry.rotateCommand', file),
    },
  };
}

function run(argv: string[]): Promise<string> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.resolve('');
  return new Promise((done, fail) =>
    execFile(
      cmd,
      args,
      { maxBuffer: 256 * 1024 * 1024, timeout: COMMAND_TIMEOUT_MS },
      (err, stdout, stderr) =>
        err ? fail(new Error(`${argv.join(' ')}: ${err.message}\n${stderr.slice(-2000)}`)) : done(stdout),
    ),
  );
}

interface RemoteOptions {
  caPem?: string;
  username?: string;
  password?: string;
  logsCommand?: string[];
  rotateCommand?: string[];
}

/** A registry someone else runs, behind the TestRegistry interface the suite uses. */
export function remoteRegistry(kind: RegistryKind, host: string, opts: RemoteOptions = {}): TestRegistry {
  const url = `${opts.caPem ? 'https' : 'http'}://${host}`;
  const dispatcher = new Agent(opts.caPem ? { connect: { ca: opts.caPem } } : {});
  const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-remote-registry-'));
  const registry: TestRegistry = {
    kind,
    host,
    url,
    ...(opts.caPem ? { caPem: opts.caPem } : {}),
    username: opts.username ?? '',
    password: opts.password ?? '',
    dispatcher,
    dir,
    // Synchronous, as the suite reads a registry's log right after the pods it counts.
    logs: () =>
      opts.logsCommand?.length
        ? execFileSync(opts.logsCommand[0]!, opts.logsCommand.slice(1), {
            encoding: 'utf8',
            maxBuffer: 256 * 1024 * 1024,
            timeout: COMMAND_TIMEOUT_MS,
          })
        : '',
    rotateCredentials: async (username, password) => {
      if (!opts.rotateCommand?.length) throw new Error(`${host}: no rotateCommand in the cluster spec`);
      await run([...opts.rotateCommand, username, password]);
      await waitForCredentials(url, dispatcher, `${username}:${password}`);
      registry.username = username;
      registry.password = password;
    },
    stop: async () => {
      await dispatcher.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return registry;
}

async function waitForCredentials(url: string, dispatcher: Agent, userPass: string): Promise<void> {
  const deadline = Date.now() + ROTATE_READY_MS;
  const authorization = `Basic ${Buffer.from(userPass).toString('base64')}`;
  for (;;) {
    const status = await request(`${url}/v2/`, { dispatcher, headers: { authorization } })
      .then(async (res) => (await res.body.dump(), res.statusCode))
      .catch(() => 0);
    if (status === 200) return;
    if (Date.now() > deadline)
      throw new Error(`${url}: the rotated credentials not accepted in ${ROTATE_READY_MS} ms`);
    await sleep(250);
  }
}

/** The cluster as a TestNode: its nodes were set up by whoever made the spec (trust() has nothing to do). */
export function attachCluster(spec: ClusterSpec): TestNode {
  const started = performance.now();
  const kube = attachKube(spec.kubeconfig);
  const registry = remoteRegistry('plain', spec.registry.host, { logsCommand: spec.registry.logsCommand });
  return {
    kube,
    registry,
    recovered: [],
    timings: { startMs: performance.now() - started },
    trust: () => undefined,
    stop: async () => {
      await registry.stop();
      await kube.stop();
    },
  };
}

export function privateRegistryOf(spec: ClusterSpec): TestRegistry {
  const p = spec.privateRegistry;
  return remoteRegistry('tls-basic', p.host, {
    caPem: readFileSync(p.caFile, 'utf8'),
    username: p.username,
    password: p.password,
    rotateCommand: p.rotateCommand,
  });
}

/**
 * `kubectl kustomize` of the spec's overlay (the cluster's own kubectl, a current kustomize), then this
 * run's image and registries on the Deployment, as the node overlay does with kustomize v2.
 */
export async function renderClusterManifests(
  spec: ClusterSpec,
  env: { insecureRegistries: string[]; defaultRegistries: string[] },
): Promise<KubeObject[]> {
  const kubectl = process.env.KUBECTL ?? 'kubectl';
  const objects = parseAllDocuments(await run([kubectl, 'kustomize', spec.overlay]))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'fn-pinner') as any;
  if (!deployment) throw new Error(`${spec.overlay}: no Deployment fn-pinner`);
  const container = deployment.spec.template.spec.containers[0];
  container.image = spec.image;
  container.env = [
    ...(container.env ?? []),
    { name: 'FN_PINNER_INSECURE_REGISTRIES', value: env.insecureRegistries.join(',') },
    { name: 'FN_PINNER_DEFAULT_REGISTRIES', value: env.defaultRegistries.join(',') },
  ];
  return objects;
}

/** fn-pinner's replicas in the rendered objects (the suite's pull counts allow one tag read per replica). */
export function replicasOf(objects: KubeObject[]): number {
  const deployment = objects.find((o) => o.kind === 'Deployment') as any;
  return Number(deployment?.spec?.replicas ?? 1);
}

/**
 * The suite's in-process webhook, reachable from the cluster: it listens on `hostAddress` with a serving
 * certificate that names that address (written before start, so `serve` loads it rather than making one).
 */
export async function startHostWebhook(spec: ClusterSpec, opts: RawOptions): Promise<TestWebhook> {
  const certDir = mkdtempSync(join(tmpdir(), 'fn-pinner-host-webhook-'));
  const ca = generateCa({ commonName: 'fn-pinner node suite (cluster mode)' });
  const serving = generateServingCert({
    ca,
    dnsNames: servingDnsNames('fn-pinner', 'fn-pinner-system'),
    ipAddresses: ['127.0.0.1', spec.hostAddress],
  });
  writeFileSync(join(certDir, 'ca.crt'), ca.certPem);
  writeFileSync(join(certDir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  writeFileSync(join(certDir, 'tls.crt'), serving.certPem);
  writeFileSync(join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  const webhook = await startTestWebhook({ ...opts, host: spec.hostAddress, certDir });
  return {
    ...webhook,
    url: `https://${spec.hostAddress}:${webhook.port}`,
    stop: async () => {
      await webhook.stop();
      rmSync(certDir, { recursive: true, force: true });
    },
  };
}
