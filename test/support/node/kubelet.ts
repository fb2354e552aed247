import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { stringify } from 'yaml';

import { exited, kill, spawnLogged, tail } from '../kube.js';
import type { Proc, TestKube } from '../kube.js';
import { freePort } from '../ports.js';
import type { Containerd } from './containerd.js';
import { NODE_ROOT, ensureDirs, readText, recordPid } from './host.js';
import type { HostState } from './host.js';

/**
 * The kubelet (v1.20.2, built with kube-apiserver), plus kube-scheduler and kube-controller-manager, all on
 * 127.0.0.1 against the test apiserver with its admin kubeconfig. Workarounds (node-and-image.md): a
 * loopback --node-ip is refused, so the node is `localhost` (the apiserver reaches the kubelet by
 * hostname); oomScoreAdj 0 (no CAP_SYS_RESOURCE); no iptables chains.
 */
export const NODE_NAME = 'localhost';
const READY_TIMEOUT_MS = 90_000;

export interface ControlPlaneProcess {
  name: string;
  proc: Proc;
}

/** Starts the kubelet; resolves once the Node is Ready, with the time that took. */
export async function startKubelet(
  kube: TestKube,
  containerd: Containerd,
  state: HostState,
): Promise<{ kubelet: ControlPlaneProcess; readyMs: number }> {
  const root = join(NODE_ROOT, 'kubelet');
  const logs = join(NODE_ROOT, 'logs');
  ensureDirs(root, logs);
  const config = join(NODE_ROOT, 'kubelet.yaml');
  writeFileSync(config, stringify(kubeletConfig(await freePort(), await freePort())));
  const started = performance.now();
  const proc = spawnLogged(
    join(kube.binDir, 'kubelet'),
    [
      `--config=${config}`,
      `--kubeconfig=${kube.kubeconfigPath}`,
      `--root-dir=${root}`,
      `--cert-dir=${join(root, 'pki')}`,
      '--container-runtime=remote',
      `--container-runtime-endpoint=${containerd.endpoint}`,
      `--image-service-endpoint=${containerd.endpoint}`,
      `--hostname-override=${NODE_NAME}`,
      '--register-node=true',
      '--v=1',
    ],
    join(logs, 'kubelet.log'),
    [],
  );
  recordPid(state, proc.child.pid, 'kubelet');
  const kubelet = { name: 'kubelet', proc };
  await waitNodeReady(kube, kubelet);
  return { kubelet, readyMs: performance.now() - started };
}

function kubeletConfig(port: number, healthzPort: number): Record<string, unknown> {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: '127.0.0.1',
    port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort,
    // Loopback only, so anonymous access is acceptable; the apiserver reaches it for logs.
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: true,
    failSwapOn: false,
    makeIPTablesUtilChains: false,
    oomScoreAdj: 0,
    // Ready in ~8 s instead of ~16 s; Secret volume updates within seconds (credential rotation).
    nodeStatusUpdateFrequency: '2s',
    syncFrequency: '3s',
    serializeImagePulls: false,
    // A fuller disk must not put the node under DiskPressure (its taint keeps pods off it).
    evictionHard: {
      'memory.available': '50Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    resolvConf: existsSync('/etc/resolv.conf') ? '/etc/resolv.conf' : '',
  };
}

async function waitNodeReady(kube: TestKube, kubelet: ControlPlaneProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no Node object yet';
  while (Date.now() < deadline) {
    if (exited(kubelet.proc.child)) break;
    const res = await kube.request('GET', `/api/v1/nodes/${NODE_NAME}`);
    if (res.status === 200) {
      const ready = (res.body.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready');
      last = ready
        ? `Ready=${ready.status} ${ready.reason ?? ''} ${ready.message ?? ''}`
        : 'no Ready condition';
      const tainted = (res.body.spec?.taints ?? []).some((t: { key: string }) =>
        t.key.startsWith('node.kubernetes.io/'),
      );
      if (ready?.status === 'True' && !tainted) return;
      if (ready?.status === 'True') last = `Ready but tainted ${JSON.stringify(res.body.spec.taints)}`;
    }
    await sleep(100);
  }
  throw new Error(
    `node ${NODE_NAME} not Ready: ${last}\n--- kubelet log ---\n${logSummary(readText(kubelet.proc.log))}`,
  );
}

/** kube-scheduler and kube-controller-manager (the controllers the suite needs, no leader election). */
export async function startControlPlane(kube: TestKube, state: HostState): Promise<ControlPlaneProcess[]> {
  const logs = join(NODE_ROOT, 'logs');
  ensureDirs(logs);
  const common = (port: number): string[] => [
    `--kubeconfig=${kube.kubeconfigPath}`,
    `--authentication-kubeconfig=${kube.kubeconfigPath}`,
    `--authorization-kubeconfig=${kube.kubeconfigPath}`,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    '--port=0',
    '--v=1',
  ];
  const scheduler = spawnLogged(
    join(kube.binDir, 'kube-scheduler'),
    common(await freePort()),
    join(logs, 'kube-scheduler.log'),
    [],
  );
  recordPid(state, scheduler.child.pid, 'kube-scheduler');
  const pki = kube.pkiDir;
  const controllers = spawnLogged(
    join(kube.binDir, 'kube-controller-manager'),
    [
      ...common(await freePort()),
      // ServiceAccounts and their token Secrets (the fn-pinner pod's in-cluster identity), Deployments,
      // the node lifecycle controller, which lifts the not-ready taint once the node is Ready, and the quota
      // controller: manifests/base's ResourceQuota is what lets system-cluster-critical pods run outside
      // kube-system, and admission waits for the controller to compute its usage.
      '--controllers=serviceaccount-token,serviceaccount,deployment,replicaset,nodelifecycle,resourcequota',
      `--service-account-private-key-file=${join(pki, 'sa.key')}`,
      `--root-ca-file=${join(pki, 'ca.crt')}`,
      '--use-service-account-credentials=false',
      '--node-monitor-period=1s',
      '--node-monitor-grace-period=20s',
      '--concurrent-deployment-syncs=2',
    ],
    join(logs, 'kube-controller-manager.log'),
    [],
  );
  recordPid(state, controllers.child.pid, 'kube-controller-manager');
  return [
    { name: 'kube-scheduler', proc: scheduler },
    { name: 'kube-controller-manager', proc: controllers },
  ];
}

export async function stopProcesses(procs: ControlPlaneProcess[]): Promise<void> {
  await Promise.all(procs.map((p) => kill(p.proc)));
}

/** The errors and fatal lines of a klog log (a panic's goroutine dump would hide them), then its tail. */
export function logSummary(log: string): string {
  const errors = log.split('\n').filter((l) => /^[EF]\d{4} |^panic:/.test(l));
  return [...errors.slice(0, 15), '…', tail(log, 10)].join('\n');
}
