import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { imagePusher } from '../images.js';
import { startKube } from '../kube.js';
import type { TestKube } from '../kube.js';
import { startRegistry } from '../registry.js';
import type { StartRegistryOptions, TestRegistry } from '../registry.js';
import { startContainerd } from './containerd.js';
import type { Containerd } from './containerd.js';
import { lockHost, recoverHost, restoreHost, saveHost } from './host.js';
import { startControlPlane, startKubelet, stopProcesses } from './kubelet.js';
import type { ControlPlaneProcess } from './kubelet.js';
import { pauseRootfs } from './test-images.js';

/**
 * A one-node cluster on this machine: the e2e suite's kube-apiserver + etcd, kube-scheduler,
 * kube-controller-manager, containerd and a kubelet, and a plain registry holding the sandbox image. One
 * per machine at a time (a lock); the host is saved first and restored by stop(), or by the next run if
 * this one is killed. Needs root.
 */
export interface TestNode {
  kube: TestKube;
  /** Plain HTTP registry the node pulls from (the pause image is there); tests push their images too. */
  registry: TestRegistry;
  /** This machine's containerd (absent in cluster mode: see cluster.ts). */
  containerd?: Containerd;
  /** What the start found of a killed run and undid. */
  recovered: string[];
  timings: { nodeReadyMs?: number; startMs: number };
  /** Lets containerd pull from another registry (TLS ones with their CA, as certs.d `ca`). */
  trust(registry: TestRegistry): void;
  stop(): Promise<void>;
}

const NODE_BINARIES = ['kubelet', 'kube-scheduler', 'kube-controller-manager'];
const DRAIN_TIMEOUT_MS = 30_000;

export interface StartNodeOptions {
  /** For the node's registry, e.g. `configure` to turn its access log on. */
  registry?: StartRegistryOptions;
}

export async function startNode(opts: StartNodeOptions = {}): Promise<TestNode> {
  if (process.getuid?.() !== 0)
    throw new Error('the node suite runs containerd and a kubelet: run it as root');
  const started = performance.now();
  const lock = await lockHost();
  const recovered = recoverHost();
  const state = saveHost();
  const parts: {
    kube?: TestKube;
    registry?: TestRegistry;
    containerd?: Containerd;
    procs: ControlPlaneProcess[];
  } = { procs: [] };
  const teardown = async (): Promise<void> => {
    await stopAll(parts);
    const undone = restoreHost(state);
    if (undone.some((u) => u.includes('FAILED')))
      console.warn(`node suite: restoring the host: ${undone.join('; ')}`);
    await parts.kube?.stop();
    await parts.registry?.stop();
    lock.release();
  };
  try {
    const [kube, registry] = await Promise.all([
      startKube({
        serviceAccounts: true,
        // The node is `localhost`: the apiserver reaches the kubelet (logs) by its hostname.
        apiserverArgs: ['--kubelet-preferred-address-types=Hostname,InternalIP'],
      }),
      startRegistry('plain', opts.registry),
    ]);
    Object.assign(parts, { kube, registry });
    const missing = NODE_BINARIES.filter((b) => !existsSync(join(kube.binDir, b)));
    if (missing.length) {
      throw new Error(`${kube.binDir} lacks ${missing.join(', ')}: run scripts/build-kube-apiserver.sh`);
    }
    await imagePusher(registry).pushImage('node-suite/pause', '1', {
      entrypoint: ['/pause'],
      files: pauseRootfs(),
    });
    const containerd = await startContainerd({ sandboxImage: `${registry.host}/node-suite/pause:1`, state });
    parts.containerd = containerd;
    containerd.trustRegistry(registry.host, {});
    parts.procs.push(...(await startControlPlane(kube, state)));
    const { kubelet, readyMs } = await startKubelet(kube, containerd, state);
    parts.procs.push(kubelet);
    return {
      kube,
      registry,
      containerd,
      recovered,
      timings: { nodeReadyMs: readyMs, startMs: performance.now() - started },
      trust: (r) => containerd.trustRegistry(r.host, r.caPem ? { caPem: r.caPem } : {}),
      stop: teardown,
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/**
 * Controllers first (nothing recreates pods), then every pod force-deleted while the kubelet still runs so
 * it stops them, then whatever containers remain, then the processes by PID.
 */
async function stopAll(parts: {
  kube?: TestKube;
  containerd?: Containerd;
  procs: ControlPlaneProcess[];
}): Promise<void> {
  const kubelet = parts.procs.filter((p) => p.name === 'kubelet');
  await stopProcesses(parts.procs.filter((p) => p.name !== 'kubelet'));
  if (parts.kube && kubelet.length) await deleteAllPods(parts.kube, parts.containerd);
  await stopProcesses(kubelet);
  if (parts.containerd) {
    await killTasks(parts.containerd);
    await parts.containerd.stop();
  }
}

async function deleteAllPods(kube: TestKube, containerd: Containerd | undefined): Promise<void> {
  const pods = await kube.request('GET', '/api/v1/pods');
  for (const pod of pods.body?.items ?? []) {
    const { namespace, name } = pod.metadata;
    await kube.request('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`);
  }
  if (!containerd) return;
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (Date.now() < deadline && (await runningTasks(containerd)).length > 0) await sleep(200);
}

async function runningTasks(containerd: Containerd): Promise<string[]> {
  const out = await containerd.ctr(['tasks', 'ls', '-q']).catch(() => '');
  return out.split('\n').filter(Boolean);
}

async function killTasks(containerd: Containerd): Promise<void> {
  for (const id of await runningTasks(containerd)) {
    await containerd.ctr(['tasks', 'kill', '-s', 'SIGKILL', id]).catch(() => undefined);
    await containerd.ctr(['tasks', 'delete', '-f', id]).catch(() => undefined);
  }
}
