import { FnPinnerError, reasonText, toFnPinnerError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { boundLine } from '../util/text.js';
import { raceTimeout } from '../util/timeout.js';
import type { Logger } from '../logging.js';
import type { PlatformMemo } from '../mutation/multiarch.js';
import { mutatePod } from '../mutation/pod.js';
import type { MetadataSource, MutationOptions, MutationResult } from '../mutation/pod.js';
import type { Pod } from '../mutation/types.js';
import { CONTAINER_LISTS, OPT_OUT_ANNOTATION } from '../mutation/types.js';
import { diff, encodePatch } from './patch.js';
import { podIdentity, withPodCredentials } from './pod-credentials.js';
import type { PodCredentials } from './pod-credentials.js';
import type { AdmissionRequest, AdmissionResponse } from './types.js';
import { Reason } from './types.js';

export type FailurePolicy = 'Fail' | 'Ignore';

export interface AdmissionOptions {
  failurePolicy: FailurePolicy;
  excludedNamespaces: string[];
  /** Internal deadline, kept under the webhook's timeoutSeconds so the API server never gives up on us first. */
  reviewDeadlineMs: number;
  mutation: MutationOptions;
}

/** Makes sure the pull secret a pod is about to reference exists (issue: "fails if secret required but unavailable"). */
export interface PullSecretGate {
  ensure(opts: { dryRun: boolean; namespace: string }): Promise<void>;
}

export interface AdmissionDeps {
  source: MetadataSource;
  options: AdmissionOptions;
  log: Logger;
  pullSecret?: PullSecretGate;
  /** --pod-pull-secrets: the pod's own pull secrets, tried for its review only. */
  podCredentials?: PodCredentials;
  /** Platform comparisons of multi-arch images, kept across reviews. */
  platformMemo?: PlatformMemo;
  /** Called once per review with its reason (and, for Denied and ErrorIgnored, the error's code), for metrics. */
  observe?: (reason: Reason, seconds: number, code?: ErrorCode) => void;
}

export interface Decision {
  response: AdmissionResponse;
  reason: Reason;
  /** Why the pod could not be pinned (Denied, ErrorIgnored). */
  code?: ErrorCode;
}

function notAPod(request: AdmissionRequest): string | undefined {
  const { kind, subResource } = request;
  if (kind.group === '' && kind.kind === 'Pod' && !subResource) return undefined;
  return `${kind.group || 'core'}/${kind.version} ${kind.kind}${subResource ? `/${subResource}` : ''} is not a pod`;
}

/**
 * The annotation, or the label of the same name: the label is what the webhook configuration's
 * objectSelector filters on in a cluster; honouring it here keeps `fn-pinner mutate` consistent.
 */
function optedOut(pod: Pod | undefined): boolean {
  const labels = pod?.metadata?.labels;
  const value = pod?.metadata?.annotations?.[OPT_OUT_ANNOTATION] ?? labels?.[OPT_OUT_ANNOTATION];
  return value === 'true' || value === 'skip';
}

/** DELETE and CONNECT (and anything not a pod CREATE) leave before any work is done. */
function skip(
  request: AdmissionRequest,
  deps: AdmissionDeps,
): { reason: Reason; message: string } | undefined {
  if (request.operation !== 'CREATE') {
    return { reason: Reason.SkippedOperation, message: `${request.operation} is not mutated` };
  }
  const other = notAPod(request);
  if (other) return { reason: Reason.SkippedResource, message: other };
  if (request.namespace && deps.options.excludedNamespaces.includes(request.namespace)) {
    return { reason: Reason.SkippedNamespace, message: `namespace ${request.namespace} is excluded` };
  }
  if (optedOut(request.object as Pod | undefined)) {
    return { reason: Reason.SkippedOptOut, message: `pod opted out with ${OPT_OUT_ANNOTATION}` };
  }
  return undefined;
}

/** Wraps the source to know which images are still resolving, so a deadline denial can name them. */
function tracked(source: MetadataSource): { source: MetadataSource; pending: Map<string, number> } {
  const pending = new Map<string, number>();
  return {
    pending,
    source: {
      async resolve(image, opts) {
        const key = String(image);
        pending.set(key, (pending.get(key) ?? 0) + 1);
        try {
          return await source.resolve(image, opts);
        } finally {
          const left = (pending.get(key) ?? 1) - 1;
          if (left > 0) pending.set(key, left);
          else pending.delete(key);
        }
      },
    },
  };
}

/** `container "a" image X, container "b" image Y` for the images still pending, or what else was awaited. */
function pendingWork(pod: Pod, pending: Map<string, number>): string {
  if (pending.size === 0) return 'ensuring the pull secret';
  const named = [...pending.keys()].map((image) => {
    const names = CONTAINER_LISTS.flatMap((list) => pod.spec?.[list] ?? [])
      .filter((c) => c.image === image)
      .map((c) => `"${c.name}"`);
    return names.length ? `container ${names.join(', ')} image ${image}` : `image ${image}`;
  });
  return `resolving ${named.join('; ')}`;
}

async function withDeadline<T>(work: Promise<T>, ms: number, what: () => string): Promise<T> {
  const outcome = await raceTimeout(work, ms);
  if (outcome.done) return outcome.value;
  throw new FnPinnerError('TIMEOUT', `review: deadline of ${ms} ms exceeded while ${what()}`);
}

async function mutate(
  request: AdmissionRequest,
  deps: AdmissionDeps,
  source: MetadataSource,
): Promise<MutationResult> {
  const pod = request.object as Pod;
  const namespace = request.namespace ?? pod.metadata?.namespace ?? 'default';
  // Reading the pod's pull secrets is allowed on a dry run: it writes nothing.
  const scoped = deps.podCredentials
    ? withPodCredentials(source, deps.podCredentials.keychainFor(podIdentity(namespace, pod)))
    : source;
  const result = await mutatePod(pod, scoped, deps.options.mutation, deps.platformMemo);
  // 'present' too: a pod that already lists the Secret still needs it to exist.
  if (result.pullSecret !== 'not-needed' && deps.pullSecret) {
    await deps.pullSecret.ensure({ dryRun: request.dryRun === true, namespace });
  }
  return result;
}

function patched(request: AdmissionRequest, result: MutationResult): Decision {
  const ops = diff(request.object, result.pod);
  const response: AdmissionResponse = { uid: request.uid, allowed: true };
  if (result.warnings.length) response.warnings = result.warnings.map((w) => boundLine(`fn-pinner: ${w}`));
  if (ops.length === 0) return { response, reason: Reason.NotPatched };
  response.patchType = 'JSONPatch';
  response.patch = encodePatch(ops);
  response.auditAnnotations = auditAnnotations(result);
  return { response, reason: Reason.Patched };
}

/** Keys are prefixed by the API server with the webhook's name in the audit log. */
function auditAnnotations(result: MutationResult): Record<string, string> {
  const annotations: Record<string, string> = {
    'original-images': JSON.stringify(Object.fromEntries(result.changes.map((c) => [c.name, c.original]))),
    'pinned-images': JSON.stringify(Object.fromEntries(result.changes.map((c) => [c.name, c.image]))),
  };
  if (Object.keys(result.platformDisagreements).length) {
    annotations['platform-disagreement'] = JSON.stringify(result.platformDisagreements);
  }
  return annotations;
}

function failed(request: AdmissionRequest, err: FnPinnerError, policy: FailurePolicy): Decision {
  // Every line here may quote a registry or a pod: bounded, as the API server and audit logs keep them.
  const suffix = ' (pod admitted unmutated: failurePolicy Ignore)';
  const message = boundLine(`fn-pinner: ${reasonText[err.code]}: ${err.message}`, 2000 - suffix.length);
  if (policy === 'Ignore') {
    return {
      reason: Reason.ErrorIgnored,
      code: err.code,
      response: {
        uid: request.uid,
        allowed: true,
        warnings: [`${message}${suffix}`],
        auditAnnotations: { error: message },
      },
    };
  }
  return {
    reason: Reason.Denied,
    code: err.code,
    response: { uid: request.uid, allowed: false, status: { code: 403, reason: 'Forbidden', message } },
  };
}

/** The admission decision: a plain async function, shared by the webhook, `fn-pinner mutate` and tests. */
export async function decide(request: AdmissionRequest, deps: AdmissionDeps): Promise<Decision> {
  const started = performance.now();
  // Bound per line rather than with log.child(): a child logger per review costs more than the line itself.
  const ids = { uid: request.uid, namespace: request.namespace, operation: request.operation };
  const log = deps.log;
  const skipped = skip(request, deps);
  if (skipped) {
    // Still one decision line per review: auditors should see what was let through untouched, and why.
    log.info(
      { ...ids, pod: request.name, reason: skipped.reason, allowed: true, detail: skipped.message },
      'admission decision',
    );
    deps.observe?.(skipped.reason, (performance.now() - started) / 1000);
    return { reason: skipped.reason, response: { uid: request.uid, allowed: true } };
  }
  const pod = request.object as Pod;
  const podName = pod.metadata?.name ?? request.name ?? pod.metadata?.generateName;
  let decision: Decision;
  let result: MutationResult | undefined;
  try {
    const { source, pending } = tracked(deps.source);
    result = await withDeadline(mutate(request, deps, source), deps.options.reviewDeadlineMs, () =>
      pendingWork(pod, pending),
    );
    decision = patched(request, result);
  } catch (err) {
    decision = failed(request, toFnPinnerError(err, 'review'), deps.options.failurePolicy);
  }
  const durationMs = Math.round((performance.now() - started) * 100) / 100;
  logDecision(log, { ids, podName, decision, result, durationMs, dryRun: request.dryRun === true });
  deps.observe?.(decision.reason, durationMs / 1000, decision.code);
  return decision;
}

function logDecision(
  log: Logger,
  d: {
    ids: { uid: string; namespace: string | undefined; operation: string };
    podName: string | undefined;
    decision: Decision;
    result: MutationResult | undefined;
    durationMs: number;
    dryRun: boolean;
  },
): void {
  const containers = d.result?.changes.map((c) => ({
    name: c.name,
    original: c.original,
    pinned: c.image,
    commandSet: c.commandSet,
    cache: c.cache,
  }));
  const entry = {
    ...d.ids,
    pod: d.podName,
    reason: d.decision.reason,
    allowed: d.decision.response.allowed,
    containers,
    pullSecret: d.result?.pullSecret,
    warnings: d.decision.response.warnings,
    error: d.decision.response.status?.message ?? d.decision.response.auditAnnotations?.error,
    dryRun: d.dryRun || undefined,
    durationMs: d.durationMs,
  };
  if (d.decision.reason === Reason.Denied || d.decision.reason === Reason.ErrorIgnored)
    log.warn(entry, 'admission decision');
  else log.info(entry, 'admission decision');
}
