import { reasonText, toFnPinnerError } from '../errors.js';
import type { ImageReference } from '../reference/reference.js';
import { forEachLimit } from '../util/limit.js';
import { inspectPod } from './inspect.js';
import type { Finding, InspectedPod } from './inspect.js';
import type { AuditReport, AuditStatus, AuditSummary, ContainerAudit, PodAudit } from './types.js';

/**
 * Classifies pods (issue 11): the code behind `fn-pinner audit` and the serve drift gauge. Each distinct
 * tag is resolved once per run, through the resolver it is given (the webhook's cached one), with at
 * most `concurrency` resolutions in flight.
 */

/** What the audit needs of a resolver: the digest a tag points to now. */
export interface TagSource {
  resolve(image: ImageReference): Promise<{ metadata: { digest: string } }>;
}

export interface AuditOptions {
  source: TagSource;
  /** false (--no-drift): resolve nothing; every container with a digest is pinned. */
  drift: boolean;
  concurrency: number;
  /** Before the first resolution and after each: how many of the run's distinct tags are done. */
  onProgress?: (done: number, total: number) => void;
}

type Resolved = { digest: string } | { error: string };

/** One line whatever the error: a multi-line message would break tables and log lines. */
function oneLine(err: unknown, what: string): string {
  const e = toFnPinnerError(err, what);
  return `${reasonText[e.code]}: ${e.message}`.replace(/\s*\n\s*/g, ' ');
}

/** A tag whose answer can change the entry: not for input already judged unresolvable. */
const worthResolving = (f: Finding): boolean =>
  f.problem === undefined && (f.digest === null || f.originalProblem === undefined);

async function resolveTags(pods: InspectedPod[], opts: AuditOptions): Promise<Map<string, Resolved>> {
  const tags = new Map<string, ImageReference>();
  if (opts.drift) {
    for (const f of pods.flatMap((p) => p.findings).filter(worthResolving))
      if (f.tag && !tags.has(f.tag.canonical)) tags.set(f.tag.canonical, f.tag);
  }
  const results = new Map<string, Resolved>();
  let done = 0;
  if (tags.size > 0) opts.onProgress?.(0, tags.size);
  await forEachLimit([...tags], opts.concurrency, async ([key, ref]) => {
    try {
      results.set(key, { digest: (await opts.source.resolve(ref)).metadata.digest });
    } catch (err) {
      results.set(key, { error: oneLine(err, `resolve ${ref.original}`) });
    }
    opts.onProgress?.(++done, tags.size);
  });
  return results;
}

type Judgement = Pick<ContainerAudit, 'status' | 'current' | 'error'>;

const unresolvable = (error: string): Judgement => ({ status: 'unresolvable', current: null, error });

/** What the input alone decides, before any tag is compared. */
function judgeInput(f: Finding, drift: boolean): Judgement | undefined {
  if (f.problem !== undefined) return unresolvable(f.problem);
  if (f.digest === null) return undefined;
  if (!drift) return { status: 'pinned', current: null, error: null };
  if (f.originalProblem !== undefined) return unresolvable(f.originalProblem);
  if (!f.tag) return { status: 'pinned', current: null, error: null };
  return undefined;
}

function judge(f: Finding, resolved: Resolved | undefined, drift: boolean): Judgement {
  const current = resolved && 'digest' in resolved ? resolved.digest : null;
  const decided = judgeInput(f, drift);
  if (decided) return decided;
  // No digest: unpinned, whatever the tag resolves to (shown as current, the digest it would get).
  if (f.digest === null) return { status: 'unpinned', current, error: null };
  if (current === null)
    return unresolvable(resolved && 'error' in resolved ? resolved.error : 'not resolved');
  return { status: current === f.digest ? 'pinned' : 'drift', current, error: null };
}

function summarise(pods: PodAudit[]): AuditSummary {
  const summary: AuditSummary = {
    pods: pods.length,
    containers: 0,
    pinned: 0,
    unpinned: 0,
    drift: 0,
    unresolvable: 0,
  };
  for (const c of pods.flatMap((p) => p.containers)) {
    summary.containers++;
    summary[c.status]++;
  }
  return summary;
}

/** Classifies every container of every pod; never throws for bad input or registry failures. */
export async function auditPods(pods: readonly unknown[], opts: AuditOptions): Promise<AuditReport> {
  const inspected = pods.map(inspectPod);
  const resolved = await resolveTags(inspected, opts);
  const audited = inspected.map((p): PodAudit => ({
    namespace: p.namespace,
    name: p.name,
    containers: p.findings.map((f) => ({
      name: f.name,
      type: f.type,
      image: f.image,
      digest: f.digest,
      original: f.original,
      ...pick(judge(f, f.tag && resolved.get(f.tag.canonical), opts.drift)),
    })),
  }));
  return { pods: audited, summary: summarise(audited) };
}

/** Field order of the JSON contract: current, status, error. */
function pick(
  j: Pick<ContainerAudit, 'status' | 'current' | 'error'>,
): Pick<ContainerAudit, 'current' | 'status' | 'error'> {
  return { current: j.current, status: j.status, error: j.error };
}

/**
 * A pod's status for the drift gauge: pinned only when every container is; otherwise the first of
 * unpinned (it slipped through), drift, unresolvable that one of its containers has.
 */
export function podStatus(pod: PodAudit): AuditStatus {
  const statuses = new Set(pod.containers.map((c) => c.status));
  return (['unpinned', 'drift', 'unresolvable'] as const).find((s) => statuses.has(s)) ?? 'pinned';
}
