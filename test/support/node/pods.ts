import { setTimeout as sleep } from 'node:timers/promises';

import { describeStatus } from '../kube.js';
import type { KubeJson, KubeObject, TestKube } from '../kube.js';

/** Pods on the test node: create, follow to a phase, read logs, image IDs and events. */

export interface PodRun {
  namespace: string;
  name: string;
  /** The pod as the apiserver stored it (after admission). */
  admitted: KubeJson;
  /** The last pod read. */
  pod: KubeJson;
  phase: string;
  /** ms from the create request to the first status seen in that state (Running: containers started). */
  runningMs: number | undefined;
  finishedMs: number | undefined;
  /** container name → its log (init containers included). */
  logs: Record<string, string>;
  /** container name → status.imageID (init containers included). */
  imageIds: Record<string, string>;
  /** Event reasons and messages about the pod, in order. */
  events: Array<{ reason: string; message: string }>;
}

export interface RunPodOptions {
  /** Stop following once the pod is Running (long-running pods); default: wait for it to finish. */
  untilRunning?: boolean;
  /** Default 90 s. */
  timeoutMs?: number;
}

const POLL_MS = 50;

export function podPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${namespace}/pods/${name}`;
}

/** Creates the pod and follows it to Succeeded or Failed (or Running); never throws on the pod's phase. */
export async function runPod(kube: TestKube, pod: KubeObject, opts: RunPodOptions = {}): Promise<PodRun> {
  const started = performance.now();
  const res = await kube.apply(pod);
  if (res.status !== 201) {
    throw new Error(
      `create pod ${pod.metadata?.namespace}/${pod.metadata?.name}: HTTP ${res.status} ${describeStatus(res.body)}`,
    );
  }
  const { namespace, name } = res.body.metadata;
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  let runningMs: number | undefined;
  let finishedMs: number | undefined;
  let current: KubeJson;
  for (;;) {
    const got = await kube.request('GET', podPath(namespace, name));
    current = got.body;
    const phase: string = current.status?.phase ?? 'Pending';
    const now = performance.now() - started;
    if (runningMs === undefined && (phase === 'Running' || finished(phase))) runningMs = now;
    if (finished(phase)) {
      finishedMs = now;
      break;
    }
    if (opts.untilRunning && phase === 'Running') break;
    if (Date.now() > deadline) break;
    await sleep(POLL_MS);
  }
  return {
    namespace,
    name,
    admitted: res.body,
    pod: current,
    phase: current.status?.phase ?? 'Pending',
    runningMs,
    finishedMs,
    logs: await allLogs(kube, current),
    imageIds: imageIds(current),
    events: await podEvents(kube, namespace, name),
  };
}

function finished(phase: string): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}

function statuses(pod: KubeJson): KubeJson[] {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
}

function imageIds(pod: KubeJson): Record<string, string> {
  return Object.fromEntries(statuses(pod).map((s) => [s.name, s.imageID ?? '']));
}

async function allLogs(kube: TestKube, pod: KubeJson): Promise<Record<string, string>> {
  const logs: Record<string, string> = {};
  for (const s of statuses(pod)) {
    // A container that never started has no log to read.
    if (!s.state?.terminated && !s.state?.running) continue;
    logs[s.name] = await podLog(kube, pod.metadata.namespace, pod.metadata.name, s.name);
  }
  return logs;
}

export async function podLog(
  kube: TestKube,
  namespace: string,
  name: string,
  container: string,
): Promise<string> {
  const res = await kube.request(
    'GET',
    `${podPath(namespace, name)}/log?container=${encodeURIComponent(container)}`,
  );
  if (res.status !== 200)
    throw new Error(
      `logs of ${namespace}/${name}/${container}: HTTP ${res.status} ${describeStatus(res.body)}`,
    );
  return typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
}

export async function podEvents(
  kube: TestKube,
  namespace: string,
  name: string,
): Promise<Array<{ reason: string; message: string }>> {
  const selector = encodeURIComponent(`involvedObject.kind=Pod,involvedObject.name=${name}`);
  const res = await kube.request('GET', `/api/v1/namespaces/${namespace}/events?fieldSelector=${selector}`);
  const items: KubeJson[] = res.body?.items ?? [];
  return items
    .sort((a, b) => String(a.firstTimestamp).localeCompare(String(b.firstTimestamp)))
    .map((e) => ({ reason: e.reason, message: e.message }));
}

/** Polls the pod until `done` says so; returns the last pod read. */
export async function waitForPod(
  kube: TestKube,
  namespace: string,
  name: string,
  done: (pod: KubeJson) => boolean,
  timeoutMs = 60_000,
): Promise<KubeJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await kube.request('GET', podPath(namespace, name));
    if (res.status === 200 && done(res.body)) return res.body;
    if (Date.now() > deadline) {
      throw new Error(
        `pod ${namespace}/${name} not as expected within ${timeoutMs} ms: ${JSON.stringify(res.body?.status).slice(0, 1500)}`,
      );
    }
    await sleep(100);
  }
}

/** The waiting reason and message of the pod's first container that has one (ErrImagePull …). */
export function waiting(pod: KubeJson): { reason: string; message: string } | undefined {
  for (const s of statuses(pod)) {
    if (s.state?.waiting?.reason)
      return { reason: s.state.waiting.reason, message: s.state.waiting.message ?? '' };
  }
  return undefined;
}
