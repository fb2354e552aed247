import type { Writable } from 'node:stream';

import { auditPods } from '../audit/audit.js';
import type { AuditReport } from '../audit/types.js';
import type { Config } from '../config/load.js';
import { BULK_RESOLVE_CONCURRENCY } from '../config/tunables.js';
import type { PodApi, PodJson } from '../kube/client.js';
import { withResolverStack } from './one-shot.js';

/** Which pods of a cluster: namespaces in the order given (or all of them), and a label selector as typed. */
export interface PodSelection {
  namespaces: string[] | 'all';
  selector: string | undefined;
}

/** Imported only when a cluster is asked: `audit -f` never loads the Kubernetes client (CLI start-up). */
export async function clusterPodApi(config: Config, purpose: string): Promise<PodApi> {
  const { createPodApi, loadKubeConfig } = await import('../kube/client.js');
  const kc = loadKubeConfig({
    kubeconfig: config.cluster.kubeconfig,
    inCluster: config.inputs.inCluster,
    purpose,
  });
  return createPodApi(kc);
}

/** Lists the selected pods; an unreachable or forbidden API throws (KUBE_API), naming the namespace. */
export async function listPods(api: PodApi, selection: PodSelection): Promise<PodJson[]> {
  const labelSelector = selection.selector;
  if (selection.namespaces === 'all') return api.list({ labelSelector });
  const pods: PodJson[] = [];
  for (const namespace of selection.namespaces) pods.push(...(await api.list({ namespace, labelSelector })));
  return pods;
}

export interface AuditRun {
  drift: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** `fn-pinner audit`'s work once the pods are known: a one-shot resolver stack, logs on stderr. */
export function runAudit(
  config: Config,
  stderr: Writable,
  pods: unknown[],
  run: AuditRun,
): Promise<AuditReport> {
  return withResolverStack(config, stderr, (stack) =>
    auditPods(pods, {
      source: stack.resolver,
      drift: run.drift,
      concurrency: BULK_RESOLVE_CONCURRENCY,
      ...(run.onProgress ? { onProgress: run.onProgress } : {}),
    }),
  );
}
