import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { request } from 'undici';

import { admissionReview } from '../admission-review.js';
import type { Kind, PodPlan, Scenario } from './scenarios.js';
import type { SoakServer } from './serve.js';

/**
 * The load: AdmissionReviews POSTed to /mutate at a steady rate, open loop (a review is sent when it is
 * due, whether or not earlier ones have been answered, as API servers do), over keep-alive HTTPS
 * connections. Every answer is checked against what its scenario expects; anything else is an
 * unexpected error, with its reason.
 */

/** What the API server waits at most (manifests/base: timeoutSeconds 10); slower answers count as errors. */
export const API_SERVER_TIMEOUT_MS = 10_000;
/** status.message, a warning: whole lines stay under 2 KiB (issue 8). */
const MAX_TEXT_BYTES = 2048;
const TICK_MS = 5;

export interface Outcome {
  scenario: string;
  kind: Kind;
  /** Sent at, ms after the load started. */
  at: number;
  ms: number;
  /** Why the answer was not the expected one. */
  problem?: string;
}

export interface DriveResult {
  outcomes: Outcome[];
  /** Load generator health: how late reviews were sent, and its own event-loop delay (ms). */
  sendLagMaxMs: number;
  driverLoop: { p99Ms: number; maxMs: number };
  wallMs: number;
}

export interface DriveOptions {
  server: SoakServer;
  next: () => Scenario;
  ratePerSecond: number;
  seconds: number;
  /** Called about once a second with the elapsed ms. */
  onSecond?: (elapsedMs: number) => void;
}

let uidSeq = 0;

function review(plan: PodPlan, uid: string): Record<string, unknown> {
  const containers = plan.images.map((image, i) => ({ name: `fn-${i}`, image }));
  return admissionReview(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { generateName: 'fn-', namespace: 'porch-fn-system' },
      spec: { containers, restartPolicy: 'Never' },
    },
    uid,
  );
}

/** Why `answer` is not what `plan` expects (undefined when it is). */
export function checkAnswer(plan: PodPlan, sent: any, status: number, answer: any): string | undefined {
  if (status !== 200) return `HTTP ${status}`;
  const res = answer?.response;
  if (!res || res.uid !== sent.request.uid) return 'the answer does not echo the uid';
  const long = (res.warnings ?? []).find((w: string) => Buffer.byteLength(w) > MAX_TEXT_BYTES);
  if (long !== undefined) return `a warning of ${Buffer.byteLength(long)} bytes`;
  const message: string = res.status?.message ?? '';
  if (!plan.expect.allowed) {
    if (res.allowed !== false) return 'admitted, where a denial was expected';
    if (Buffer.byteLength(message) > MAX_TEXT_BYTES)
      return `a message of ${Buffer.byteLength(message)} bytes`;
    return plan.expect.message.test(message) ? undefined : `denied with: ${message.slice(0, 400)}`;
  }
  if (res.allowed !== true) return `denied: ${message.slice(0, 400)}`;
  if (typeof res.patch !== 'string') return 'admitted without a patch';
  const ops = JSON.parse(Buffer.from(res.patch, 'base64').toString()) as Operation[];
  const pod = jsonpatch.applyPatch(structuredClone(sent.request.object), ops, true, false).newDocument;
  const images = (pod.spec.containers as Array<{ image: string }>).map((c) => c.image);
  const want = plan.expect.images;
  return images.join(' ') === want.join(' ')
    ? undefined
    : `pinned ${images.join(' ')}, not ${want.join(' ')}`;
}

/** One review of `scenario`, checked. */
export async function sendReview(server: SoakServer, scenario: Scenario, at = 0): Promise<Outcome> {
  const plan = scenario.next();
  const body = review(plan, `soak-${++uidSeq}`);
  const started = performance.now();
  const base = { scenario: scenario.name, kind: scenario.kind, at };
  try {
    const res = await request(`${server.url}/mutate?timeout=10s`, {
      method: 'POST',
      dispatcher: server.dispatcher,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await res.body.text();
    const ms = performance.now() - started;
    const problem =
      ms > API_SERVER_TIMEOUT_MS
        ? `answered after ${Math.round(ms)} ms, past the API server's ${API_SERVER_TIMEOUT_MS} ms`
        : checkAnswer(plan, body, res.statusCode, parseJson(text));
    return { ...base, ms, ...(problem ? { problem } : {}) };
  } catch (err) {
    return { ...base, ms: performance.now() - started, problem: `request failed: ${(err as Error).message}` };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function drive(opts: DriveOptions): Promise<DriveResult> {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const outcomes: Outcome[] = [];
  const inFlight = new Set<Promise<void>>();
  const total = Math.round(opts.ratePerSecond * opts.seconds);
  const started = performance.now();
  let sent = 0;
  let lagMax = 0;
  let nextSecond = 1_000;
  while (sent < total) {
    const now = performance.now() - started;
    const due = Math.min(total, Math.floor((now * opts.ratePerSecond) / 1000) + 1);
    for (; sent < due; sent++) {
      const dueAt = (sent * 1000) / opts.ratePerSecond;
      lagMax = Math.max(lagMax, now - dueAt);
      const p = sendReview(opts.server, opts.next(), now).then((o) => void outcomes.push(o));
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    if (now >= nextSecond) {
      opts.onSecond?.(now);
      nextSecond += 1_000;
    }
    await sleep(TICK_MS);
  }
  await Promise.all(inFlight);
  loop.disable();
  return {
    outcomes,
    sendLagMaxMs: lagMax,
    driverLoop: { p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6 },
    wallMs: performance.now() - started,
  };
}
