import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';

import { ORIGINAL_IMAGES_ANNOTATION } from '../../src/mutation/types.js';
import { imagePusher } from '../support/images.js';
import type { ImageSpec } from '../support/images.js';
import { registerWebhook, waitForWebhook } from '../support/kube.js';
import type { KubeObject, TestKube } from '../support/kube.js';
import {
  SYSTEM_NS,
  deployFnPinner,
  dockerConfigSecret,
  imageArchive,
  imageSizes,
  pushImage,
  renderManifests,
} from '../support/node/fn-pinner.js';
import type { DeployedFnPinner } from '../support/node/fn-pinner.js';
import {
  attachCluster,
  clusterSpec,
  privateRegistryOf,
  renderClusterManifests,
  replicasOf,
  startHostWebhook,
} from '../support/node/cluster.js';
import { startNode } from '../support/node/node.js';
import type { TestNode } from '../support/node/node.js';
import { podLog, podPath, runPod, waitForPod, waiting } from '../support/node/pods.js';
import type { PodRun } from '../support/node/pods.js';
import { countPulls, withAccessLog } from '../support/node/pulls.js';
import { writeFigures } from '../support/node/figures.js';
import type { Figures } from '../support/node/figures.js';
import { WRAPPER_PREFIX, argvLines, argvRootfs } from '../support/node/test-images.js';
import { freePort } from '../support/ports.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';
import { startTestWebhook } from '../support/webhook.js';
import type { TestWebhook } from '../support/webhook.js';

/**
 * fn-pinner proven on a real node: kubelet + containerd run the pods it admitted, with the argv the
 * runtime would have run without it. fn-pinner itself runs there as deployed (the image built from the
 * Dockerfile, manifests/ through a kustomize overlay). Each case runs the same pod in a namespace the
 * webhook selects and in one it does not (the control); the test images print their own argv, so equal
 * logs mean equal argv.
 *
 * Cluster mode: with FN_PINNER_NODE_CLUSTER naming a cluster spec (test/kind/run.sh writes one), the same
 * checks run against an existing cluster (kind) and its registries, fn-pinner deployed from manifests/
 * through test/kind/overlays/ (support/node/cluster.ts).
 */
const cluster = clusterSpec();
const FN_NS = 'porch-fn-system'; // selected by manifests/05's namespaceSelector
const CONTROL_NS = 'fn-control'; // not selected: the pod as Kubernetes runs it without fn-pinner
const PREFIX_NS = 'fn-prefix'; // a second fn-pinner (in-process) with a --command-prefix wrapper
const SECRET = 'auth-secret';
const TIMED_RUNS = 5;
/** FN_PINNER_TAG_TTL in both overlays (test/node/overlay, test/kind/component). */
const TAG_TTL_MS = 2_000;
const SETUP_TIMEOUT_MS = 30 * 60_000;
const CASE_TIMEOUT_MS = 180_000;

let node: TestNode;
let kube: TestKube;
let priv: TestRegistry; // TLS + htpasswd, custom CA
let fnPinner: DeployedFnPinner;
let prefixed: TestWebhook;
/** fn-pinner's replicas: each may read a tag once (1 in node mode, the base's 2 on kind). */
let replicas = 1;
const digests: Record<string, string> = {};
const figures: Figures = { runs: [], pulls: {} };

const NODE_VAR = { name: 'NODE_VAR', value: 'from-pod-env' };

/** The suite's images: name → spec (all run /bin/argv from the busybox root). */
const IMAGES: Record<string, ImageSpec> = {
  'argv/ep-cmd': { entrypoint: ['/bin/argv', 'ep-1'], cmd: ['cmd-1', 'cmd-2'] },
  'argv/cmd-only': { cmd: ['/bin/argv', 'cmd-only'] },
  'argv/ep-only': { entrypoint: ['/bin/argv', 'ep-only'] },
  'argv/dollar': { entrypoint: ['/bin/argv', 'ep-$(NODE_VAR)'], cmd: ['$(NODE_VAR)', '$$'] },
  'argv/pulls-pinned': { entrypoint: ['/bin/argv', 'pulls'], cmd: ['pinned'] },
  'argv/pulls-control': { entrypoint: ['/bin/argv', 'pulls'], cmd: ['control'] },
};

function image(repo: string, registry: TestRegistry = node.registry): string {
  return `${registry.host}/${repo}:v1`;
}

function dockerConfig(registry: TestRegistry): string {
  const auth = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
  return JSON.stringify({ auths: { [registry.host]: { auth } } });
}

let seq = 0;
/** A function pod as a runner would start it: runs once, no API token, no Service env. */
function pod(namespace: string, spec: Record<string, unknown>, name = `fn-${++seq}`): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 1,
      ...spec,
    },
  };
}

async function waitForServiceAccount(namespace: string): Promise<void> {
  await waitFor(`default ServiceAccount in ${namespace}`, async () => {
    const res = await kube.request('GET', `/api/v1/namespaces/${namespace}/serviceaccounts/default`);
    // v1.20 adds a token Secret before pods may use the account; 1.24+ (kind) makes none.
    return res.status === 200 && (cluster !== undefined || (res.body.secrets?.length ?? 0) > 0);
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
  return performance.now() - started;
}

let suiteStarted = 0;

beforeAll(async () => {
  suiteStarted = performance.now();
  // Built by .ci/run; rebuilt here only when the sources changed. Cluster mode: already on the nodes.
  const archive = cluster ? undefined : imageArchive();
  node = cluster ? attachCluster(cluster) : await startNode({ registry: { configure: withAccessLog } });
  kube = node.kube;
  figures.nodeReadyMs = node.timings.nodeReadyMs;
  if (node.recovered.length) console.info(`node suite: undid a killed run: ${node.recovered.join('; ')}`);
  priv = cluster
    ? privateRegistryOf(cluster)
    : await startRegistry('tls-basic', { configure: withAccessLog });
  node.trust(priv);
  const push = imagePusher(node.registry);
  const files = argvRootfs();
  for (const [repo, spec] of Object.entries(IMAGES)) {
    digests[repo] = (await push.pushImage(repo, 'v1', { ...spec, files })).digest;
  }
  const platforms = ['amd64', 'arm64'].map((arch) => ({
    os: 'linux',
    arch,
    entrypoint: ['/bin/argv', 'multi'],
    cmd: ['cmd'],
    files,
  }));
  digests['argv/multi'] = (await push.pushIndex('argv/multi', 'v1', platforms)).digest;
  // Content of its own: an image also held under another name may report that name's digest as imageID.
  const privateSpec = { entrypoint: ['/bin/argv', 'private'], cmd: ['cmd-1'], files };
  digests['private/argv'] = (await imagePusher(priv).pushImage('private/argv', 'v1', privateSpec)).digest;

  await kube.createNamespace(FN_NS);
  await kube.createNamespace(CONTROL_NS);
  await kube.createNamespace(PREFIX_NS);
  if (archive) figures.image = await imageSizes(await archive);
  const port = await freePort();
  const registries = {
    insecureRegistries: [node.registry.host],
    // The node's plain registry plays the function catalog: its pods need no pull secret.
    defaultRegistries: [`${node.registry.host}/`],
  };
  const objects = archive
    ? await renderManifests({
        image: await pushImage(await archive, node.registry),
        port,
        kube,
        ...registries,
      })
    : await renderClusterManifests(cluster!, registries);
  replicas = replicasOf(objects);
  fnPinner = {
    ...(await deployFnPinner(kube, objects, {
      dockerConfigJson: dockerConfig(priv),
      registryCaPem: priv.caPem!,
    })),
    port,
  };
  figures.fnPinnerReadyMs = fnPinner.readyMs;
  const probe = pod(FN_NS, { containers: [{ name: 'probe', image: image('argv/ep-cmd') }] }, 'probe');
  figures.webhookActiveMs = (
    await waitForWebhook(kube, { namespace: FN_NS, pod: probe, timeoutMs: 60_000 })
  ).ms;

  const prefixOptions = {
    commandPrefix: JSON.stringify(WRAPPER_PREFIX),
    insecureRegistry: [node.registry.host],
  };
  // In cluster mode it listens where the cluster's API server can reach this machine.
  prefixed = cluster ? await startHostWebhook(cluster, prefixOptions) : await startTestWebhook(prefixOptions);
  await registerWebhook(kube, {
    name: 'fn-pinner-prefix',
    url: prefixed.url,
    caPem: prefixed.caPem,
    namespace: PREFIX_NS,
  });
  await waitForWebhook(kube, { namespace: PREFIX_NS, pod: { ...probe, metadata: { name: 'probe' } } });
  await Promise.all([FN_NS, CONTROL_NS, PREFIX_NS].map(waitForServiceAccount));
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  if (fnPinner)
    console.info(
      `fn-pinner pod log (tail):\n${(await fnPinner.logs().catch((e: Error) => e.message)).split('\n').slice(-8).join('\n')}`,
    );
  await prefixed?.stop();
  await priv?.stop();
  await node?.stop();
  figures.suiteMs = performance.now() - suiteStarted;
  writeFigures(figures);
}, 120_000);

/** The same pod with fn-pinner and without it (the control), side by side. */
async function both(
  spec: Record<string, unknown>,
  namespace = FN_NS,
): Promise<{ pinned: PodRun; control: PodRun }> {
  const [pinned, control] = await Promise.all([
    runPod(kube, pod(namespace, spec)),
    runPod(kube, pod(CONTROL_NS, spec)),
  ]);
  return { pinned, control };
}

function pinnedRef(repo: string): string {
  return `${node.registry.host}/${repo}@${digests[repo]}`;
}

interface Case {
  name: string;
  repo: string;
  container?: Record<string, unknown>;
  argv: string[];
}

const CASES: Case[] = [
  { name: 'Entrypoint + Cmd', repo: 'argv/ep-cmd', argv: ['/bin/argv', 'ep-1', 'cmd-1', 'cmd-2'] },
  { name: 'Cmd only', repo: 'argv/cmd-only', argv: ['/bin/argv', 'cmd-only'] },
  { name: 'Entrypoint only', repo: 'argv/ep-only', argv: ['/bin/argv', 'ep-only'] },
  { name: 'a multi-arch index (amd64 + arm64)', repo: 'argv/multi', argv: ['/bin/argv', 'multi', 'cmd'] },
  {
    name: 'a pod that sets args',
    repo: 'argv/ep-cmd',
    container: { args: ['pod-arg'] },
    argv: ['/bin/argv', 'ep-1', 'pod-arg'],
  },
  {
    name: 'a pod that sets command (left alone, image pinned)',
    repo: 'argv/ep-cmd',
    container: { command: ['/bin/argv', 'pod-command'] },
    argv: ['/bin/argv', 'pod-command'],
  },
  {
    name: '$(VAR) and $$ in the image argv, with VAR set by the pod',
    repo: 'argv/dollar',
    container: { env: [NODE_VAR] },
    argv: ['/bin/argv', 'ep-$(NODE_VAR)', '$(NODE_VAR)', '$$'],
  },
  {
    name: "$(VAR) in the pod's own args (expanded, with or without fn-pinner)",
    repo: 'argv/dollar',
    container: { env: [NODE_VAR], args: ['$(NODE_VAR)', '$$'] },
    argv: ['/bin/argv', 'ep-$(NODE_VAR)', 'from-pod-env', '$'],
  },
];

describe('transparency: the pinned pod prints what the same pod prints without fn-pinner', () => {
  it.each(CASES.map((c) => [c.name, c] as const))(
    '%s',
    async (_name, c) => {
      const { pinned, control } = await both({
        containers: [{ name: 'fn', image: image(c.repo), ...c.container }],
      });

      expect([pinned.phase, control.phase]).toEqual(['Succeeded', 'Succeeded']);
      expect(control.logs.fn).toBe(argvLines(c.argv));
      expect(pinned.logs.fn).toBe(control.logs.fn);
      // The digest ran: what the runtime reports is what fn-pinner pinned.
      const container = pinned.admitted.spec.containers[0];
      expect(container.image).toBe(`${image(c.repo)}@${digests[c.repo]}`);
      expect(pinned.imageIds.fn).toBe(pinnedRef(c.repo));
      expect(control.imageIds.fn).toBe(pinnedRef(c.repo));
      expect(JSON.parse(pinned.admitted.metadata.annotations[ORIGINAL_IMAGES_ANNOTATION])).toEqual({
        fn: image(c.repo),
      });
      // A catalog image (default registry) gets no pull secret.
      expect(pinned.admitted.spec.imagePullSecrets).toBeUndefined();
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'init containers: each prints the same argv, and each runs its pinned digest',
    async () => {
      const spec = {
        initContainers: [{ name: 'init', image: image('argv/ep-only'), args: ['init-arg'] }],
        containers: [{ name: 'main', image: image('argv/dollar'), env: [NODE_VAR] }],
      };
      const { pinned, control } = await both(spec);

      expect([pinned.phase, control.phase]).toEqual(['Succeeded', 'Succeeded']);
      expect(control.logs).toEqual({
        init: argvLines(['/bin/argv', 'ep-only', 'init-arg']),
        main: argvLines(['/bin/argv', 'ep-$(NODE_VAR)', '$(NODE_VAR)', '$$']),
      });
      expect(pinned.logs).toEqual(control.logs);
      expect(pinned.imageIds).toEqual({ init: pinnedRef('argv/ep-only'), main: pinnedRef('argv/dollar') });
      expect(pinned.admitted.spec.initContainers[0].command).toEqual(['/bin/argv', 'ep-only']);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'a --command-prefix wrapper runs first, then exactly the argv the pod runs without fn-pinner',
    async () => {
      const spec = { containers: [{ name: 'fn', image: image('argv/ep-cmd'), args: ['pod-arg'] }] };
      const { pinned, control } = await both(spec, PREFIX_NS);

      expect([pinned.phase, control.phase]).toEqual(['Succeeded', 'Succeeded']);
      expect(pinned.admitted.spec.containers[0].command).toEqual([...WRAPPER_PREFIX, '/bin/argv', 'ep-1']);
      expect(pinned.logs.fn).toBe(`wrapper: exec /bin/argv\n${control.logs.fn}`);
      expect(pinned.imageIds.fn).toBe(pinnedRef('argv/ep-cmd'));
    },
    CASE_TIMEOUT_MS,
  );
});

describe('pull secrets from the TLS + htpasswd registry (custom CA trusted by containerd through certs.d)', () => {
  const privateSpec = (): Record<string, unknown> => ({
    // Always: every pod pulls, so each one proves the credentials of its moment.
    containers: [{ name: 'fn', image: image('private/argv', priv), imagePullPolicy: 'Always' }],
  });
  const privateRef = (): string => `${priv.host}/private/argv@${digests['private/argv']}`;
  const secretPath = `/api/v1/namespaces/${FN_NS}/secrets/${SECRET}`;

  it(
    'runs because fn-pinner attached the synced Secret; the same pod without fn-pinner fails with 401',
    async () => {
      const pinned = await runPod(kube, pod(FN_NS, privateSpec()));
      expect(pinned.phase).toBe('Succeeded');
      expect(pinned.admitted.spec.imagePullSecrets).toEqual([{ name: SECRET }]);
      expect(pinned.imageIds.fn).toBe(privateRef());
      expect(pinned.logs.fn).toBe(argvLines(['/bin/argv', 'private', 'cmd-1']));

      const control = await kube.create(pod(CONTROL_NS, privateSpec()));
      const failed = await waitForPod(kube, CONTROL_NS, control.metadata.name, (p) =>
        ['ErrImagePull', 'ImagePullBackOff'].includes(waiting(p)?.reason ?? ''),
      );
      // containerd 1.6 says 401 Unauthorized; 1.7+ (kind) may say it as an authorization failure.
      expect(waiting(failed)?.message).toMatch(
        /401 Unauthorized|authorization failed|no basic auth credentials/,
      );
      await kube.request('DELETE', `${podPath(CONTROL_NS, control.metadata.name)}?gracePeriodSeconds=0`);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'after a credentials rotation in the mounted Docker config, new pods still pull',
    async () => {
      await priv.rotateCredentials('rotated', 'rotated-password');
      const rotated = dockerConfig(priv);
      const secret = dockerConfigSecret(rotated);
      const put = await kube.request(
        'PUT',
        `/api/v1/namespaces/${SYSTEM_NS}/secrets/fn-pinner-registry-auth`,
        secret,
      );
      expect(put.status).toBe(200);
      // The kubelet updates the mounted file, fn-pinner's folder watch syncs the Secret.
      // Generous: a kubelet refreshes mounted Secrets on its sync period (3 s in both clusters here).
      figures.rotationSyncedMs = await waitFor(
        'rotated credentials in auth-secret',
        async () => {
          const res = await kube.request('GET', secretPath);
          return res.body?.data?.['.dockerconfigjson'] === Buffer.from(rotated).toString('base64');
        },
        120_000,
      );

      const run = await runPod(kube, pod(FN_NS, privateSpec()));
      expect(run.phase).toBe('Succeeded');
      expect(run.imageIds.fn).toBe(privateRef());
      expect(run.events.map((e) => e.reason)).not.toContain('Failed');
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'a pod created right after the Secret was deleted pulls without a single failure',
    async () => {
      const deleted = await kube.request('DELETE', secretPath);
      expect(deleted.status).toBe(200);

      const run = await runPod(kube, pod(FN_NS, privateSpec()));
      expect(run.phase).toBe('Succeeded');
      expect(
        run.events.filter((e) => e.reason === 'Failed' || /ErrImagePull|BackOff/.test(e.message)),
      ).toEqual([]);
      expect((await kube.request('GET', secretPath)).status).toBe(200);
    },
    CASE_TIMEOUT_MS,
  );
});

describe('a moved tag', () => {
  it(
    'a pod created after the tag moved runs the new digest; the pod created before keeps the old one',
    async () => {
      const push = imagePusher(node.registry);
      const files = argvRootfs();
      const old = await push.pushImage('argv/moving', 'v1', {
        entrypoint: ['/bin/argv'],
        cmd: ['moved-1'],
        files,
      });
      const before = await runPod(
        kube,
        pod(FN_NS, {
          containers: [
            { name: 'fn', image: image('argv/moving'), env: [{ name: 'ARGV_SLEEP', value: '600' }] },
          ],
        }),
        { untilRunning: true },
      );
      expect(before.phase).toBe('Running');

      const moved = await push.pushImage('argv/moving', 'v1', {
        entrypoint: ['/bin/argv'],
        cmd: ['moved-2'],
        files,
      });
      const pushed = performance.now();
      // fn-pinner revalidates the tag after its TTL: wait until it pins the new digest, and until the TTL
      // has passed since the push, so that every replica (not only the one that answered) has revalidated.
      const probe = pod(FN_NS, { containers: [{ name: 'fn', image: image('argv/moving') }] }, 'moved-probe');
      await waitForWebhook(kube, {
        namespace: FN_NS,
        pod: probe,
        acted: (res) =>
          performance.now() - pushed > TAG_TTL_MS + 1_000 &&
          res.body?.spec?.containers?.[0]?.image?.endsWith(moved.digest) === true,
        timeoutMs: 30_000,
      });
      const after = await runPod(
        kube,
        pod(FN_NS, { containers: [{ name: 'fn', image: image('argv/moving') }] }),
      );

      expect(after.phase).toBe('Succeeded');
      expect(after.imageIds.fn).toBe(`${node.registry.host}/argv/moving@${moved.digest}`);
      expect(after.logs.fn).toBe(argvLines(['/bin/argv', 'moved-2']));
      const still = (await kube.request('GET', podPath(FN_NS, before.name))).body;
      expect(still.status.phase).toBe('Running');
      expect(still.status.containerStatuses[0].restartCount).toBe(0);
      expect(still.status.containerStatuses[0].imageID).toBe(
        `${node.registry.host}/argv/moving@${old.digest}`,
      );
      expect(await podLog(kube, FN_NS, before.name, 'fn')).toBe(argvLines(['/bin/argv', 'moved-1']));
    },
    CASE_TIMEOUT_MS,
  );
});

describe('figures', () => {
  it(
    'pinning adds no image pulls: the node pulls a tag once, pinned or not',
    async () => {
      for (const [repo, namespace] of [
        ['argv/pulls-pinned', FN_NS],
        ['argv/pulls-control', CONTROL_NS],
      ] as const) {
        for (let i = 0; i < 3; i++) {
          const run = await runPod(
            kube,
            pod(namespace, { containers: [{ name: 'fn', image: image(repo) }] }),
          );
          expect(run.phase).toBe('Succeeded');
        }
        figures.pulls[namespace === FN_NS ? 'with fn-pinner' : 'without fn-pinner'] = countPulls(
          node.registry.logs(),
          repo,
        );
      }
      const withIt = figures.pulls['with fn-pinner']!;
      const without = figures.pulls['without fn-pinner']!;
      expect(withIt.node).toEqual(without.node);
      expect(withIt.node.manifestGets).toBe(1);
      // fn-pinner's own reads: the tag's manifest and the config, once (once per replica that reviewed).
      expect(withIt.other.manifestGets).toBeGreaterThanOrEqual(1);
      expect(withIt.other.manifestGets).toBeLessThanOrEqual(replicas);
      expect(without.other).toEqual({ manifestGets: 0, manifestHeads: 0, blobGets: 0 });
    },
    CASE_TIMEOUT_MS,
  );

  it(
    `pod create → Running → Succeeded, with and without fn-pinner (${TIMED_RUNS} runs each, image cached)`,
    async () => {
      for (let i = 0; i < TIMED_RUNS; i++) {
        for (const namespace of [CONTROL_NS, FN_NS]) {
          // A second of work, so that the Running phase is seen apart from Succeeded.
          const env = [{ name: 'ARGV_SLEEP', value: '1' }];
          const run = await runPod(
            kube,
            pod(namespace, { containers: [{ name: 'fn', image: image('argv/ep-cmd'), env }] }),
          );
          expect(run.phase).toBe('Succeeded');
          figures.runs.push({
            withFnPinner: namespace === FN_NS,
            runningMs: run.runningMs!,
            succeededMs: run.finishedMs!,
          });
        }
      }
    },
    CASE_TIMEOUT_MS,
  );
});
