import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { parseAllDocuments, stringify } from 'yaml';

import { describeStatus } from '../kube.js';
import type { KubeJson, KubeObject, TestKube } from '../kube.js';
import type { TestRegistry } from '../registry.js';
import { podLog } from './pods.js';

/**
 * fn-pinner as deployed: the image built from the repository's Dockerfile (scripts/build-image.sh, cached),
 * pushed to the node's registry, and the objects of manifests/ rendered through the suite's kustomize
 * overlay (test/node/overlay) plus one for this run's ports and image.
 */

const ROOT = join(import.meta.dirname, '..', '..', '..');
const OVERLAY = join(ROOT, 'test', 'node', 'overlay');
export const SYSTEM_NS = 'fn-pinner-system';
const KUBECTL = join(process.env.FN_PINNER_KUBECTL_DIR ?? '/var/cache/fn-pinner/kubectl', 'usr/bin/kubectl');
const IMAGE_TAG = 'node-suite';

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) =>
      err
        ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message.split('\n')[0]}\n${stderr.slice(-4000)}`))
        : resolve(stdout),
    ),
  );
}

/** The OCI archive of the image; builds it when the sources changed (serialized across processes). */
export async function imageArchive(): Promise<string> {
  const script = join(ROOT, 'scripts', 'build-image.sh');
  const out = await run('flock', [join(tmpdir(), 'fn-pinner-image-build.lock'), 'bash', script], 30 * 60_000);
  const archive = out.trim().split('\n').pop() ?? '';
  if (!existsSync(archive))
    throw new Error(`scripts/build-image.sh printed ${JSON.stringify(archive)}, which is not there`);
  return archive;
}

/** Copies the archive into the registry; returns the reference the Deployment uses. */
export async function pushImage(archive: string, registry: TestRegistry): Promise<string> {
  const ref = `${registry.host}/fn-pinner:${IMAGE_TAG}`;
  await run(
    'skopeo',
    ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${archive}`, `docker://${ref}`],
    5 * 60_000,
  );
  return ref;
}

export interface OverlayInputs {
  image: string;
  /** fn-pinner's HTTPS port on the node's loopback. */
  port: number;
  kube: TestKube;
  insecureRegistries: string[];
  defaultRegistries: string[];
}

/** `kubectl kustomize` of an overlay of test/node/overlay holding this run's values. */
export async function renderManifests(inputs: OverlayInputs): Promise<KubeObject[]> {
  if (!existsSync(KUBECTL)) throw new Error(`${KUBECTL} not found: run scripts/install-test-deps.sh`);
  const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-overlay-'));
  try {
    const [name, tag] = splitImage(inputs.image);
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        // kustomize v2 takes relative bases only.
        bases: [relative(dir, OVERLAY)],
        images: [{ name: 'fn-pinner', newName: name, newTag: tag }],
        patchesStrategicMerge: ['env.yaml'],
        patchesJson6902: [
          {
            target: { group: 'apps', version: 'v1', kind: 'Deployment', name: 'fn-pinner' },
            path: 'port.yaml',
          },
          {
            target: {
              group: 'admissionregistration.k8s.io',
              version: 'v1',
              kind: 'MutatingWebhookConfiguration',
              name: 'fn-pinner',
            },
            path: 'url.yaml',
          },
        ],
      }),
    );
    writeFileSync(join(dir, 'env.yaml'), stringify(envPatch(inputs)));
    writeFileSync(
      join(dir, 'port.yaml'),
      stringify([
        { op: 'replace', path: '/spec/template/spec/containers/0/ports/0/containerPort', value: inputs.port },
      ]),
    );
    writeFileSync(
      join(dir, 'url.yaml'),
      stringify([
        {
          op: 'replace',
          path: '/webhooks/0/clientConfig/url',
          value: `https://127.0.0.1:${inputs.port}/mutate`,
        },
      ]),
    );
    const out = await run(KUBECTL, ['kustomize', dir], 60_000);
    // The v1.20 API server serves no policy/v1 (the shipped PodDisruptionBudget is for 1.21+, and is
    // checked against a current schema by test/unit/manifests.test.ts instead). One replica here anyway.
    return parseAllDocuments(out)
      .map((d) => d.toJS() as KubeObject)
      .filter((o) => !(o.kind === 'PodDisruptionBudget' && o.apiVersion === 'policy/v1'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function splitImage(image: string): [string, string] {
  const i = image.lastIndexOf(':');
  return [image.slice(0, i), image.slice(i + 1)];
}

function envPatch(inputs: OverlayInputs): KubeObject {
  const env = {
    // The in-cluster config: no kube-proxy, so the API server's own address instead of the Service's.
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: String(inputs.kube.port),
    FN_PINNER_PORT: String(inputs.port),
    FN_PINNER_INSECURE_REGISTRIES: inputs.insecureRegistries.join(','),
    FN_PINNER_DEFAULT_REGISTRIES: inputs.defaultRegistries.join(','),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'fn-pinner', namespace: SYSTEM_NS },
    spec: {
      template: {
        spec: {
          containers: [
            { name: 'fn-pinner', env: Object.entries(env).map(([name, value]) => ({ name, value })) },
          ],
        },
      },
    },
  };
}

export interface DeployedFnPinner {
  objects: KubeObject[];
  /** The running pod's name. */
  pod: string;
  port: number;
  /** From the Deployment's create to its pod being Ready. */
  readyMs: number;
  logs(): Promise<string>;
}

/**
 * Creates the rendered objects (namespaces first), with the Secrets the Deployment mounts, and waits until
 * its pod is Ready. The caller waits for the webhook to act (the caBundle is published by the pod).
 */
export async function deployFnPinner(
  kube: TestKube,
  objects: KubeObject[],
  secrets: { dockerConfigJson: string; registryCaPem: string },
): Promise<Omit<DeployedFnPinner, 'port'>> {
  const order = (o: KubeObject): number => (o.kind === 'Namespace' ? 0 : o.kind === 'Deployment' ? 2 : 1);
  const sorted = [...objects].sort((a, b) => order(a) - order(b));
  let deploymentCreated = 0;
  for (const obj of sorted) {
    if (obj.kind === 'Deployment') {
      await createSecrets(kube, secrets);
      deploymentCreated = performance.now();
    }
    const res = await kube.apply(obj);
    if (res.status !== 201)
      throw new Error(
        `create ${obj.kind} ${obj.metadata?.name}: HTTP ${res.status} ${describeStatus(res.body)}`,
      );
  }
  const pod = await waitReady(kube);
  return {
    objects,
    pod: pod.metadata.name,
    readyMs: performance.now() - deploymentCreated,
    logs: () => podLog(kube, SYSTEM_NS, pod.metadata.name, 'fn-pinner'),
  };
}

async function createSecrets(
  kube: TestKube,
  s: { dockerConfigJson: string; registryCaPem: string },
): Promise<void> {
  await kube.create(dockerConfigSecret(s.dockerConfigJson));
  await kube.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'fn-pinner-registry-tls', namespace: SYSTEM_NS },
    data: { 'ca.crt': Buffer.from(s.registryCaPem).toString('base64') },
  });
}

/** The mounted Docker config (manifests/03-deployment.yaml's `fn-pinner-registry-auth`). */
export function dockerConfigSecret(json: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'fn-pinner-registry-auth', namespace: SYSTEM_NS },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(json).toString('base64') },
  };
}

const READY_TIMEOUT_MS = 180_000;

async function waitReady(kube: TestKube): Promise<KubeJson> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const selector = encodeURIComponent('app.kubernetes.io/name=fn-pinner');
  let last: KubeJson;
  while (Date.now() < deadline) {
    const res = await kube.request('GET', `/api/v1/namespaces/${SYSTEM_NS}/pods?labelSelector=${selector}`);
    const pods: KubeJson[] = res.body?.items ?? [];
    const ready = pods.find((p) =>
      p.status?.conditions?.some(
        (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
      ),
    );
    if (ready) return ready;
    last = pods[0];
    await sleep(100);
  }
  const events = await kube.request('GET', `/api/v1/namespaces/${SYSTEM_NS}/events`);
  throw new Error(
    `fn-pinner's pod not Ready within ${READY_TIMEOUT_MS} ms: ${JSON.stringify(last?.status ?? 'no pod').slice(0, 2000)}\n` +
      `events: ${(events.body?.items ?? []).map((e: KubeJson) => `${e.reason}: ${e.message}`).join('\n')}`,
  );
}

/** Sizes of the image's layers as shipped (compressed), and of its last layer (the app) unpacked. */
export async function imageSizes(
  archive: string,
): Promise<{ totalBytes: number; appLayerBytes: number; appLayerUncompressedBytes: number }> {
  const manifest = JSON.parse(
    await run('skopeo', ['inspect', '--raw', `oci-archive:${archive}`], 60_000),
  ) as {
    layers: Array<{ digest: string; size: number }>;
  };
  const app = manifest.layers[manifest.layers.length - 1]!;
  const blob = `blobs/sha256/${app.digest.slice('sha256:'.length)}`;
  const unpacked = await run('sh', ['-c', `tar -xOf "$0" "$1" | gzip -dc | wc -c`, archive, blob], 60_000);
  return {
    totalBytes: manifest.layers.reduce((sum, l) => sum + l.size, 0),
    appLayerBytes: app.size,
    appLayerUncompressedBytes: Number(unpacked.trim()),
  };
}
