/**
 * The `fn-pinner audit` contract (issue 11): field names, statuses and their meaning are stable, because
 * CI gates and dashboards parse them. The JSON is exactly these objects.
 */
export type ContainerType = 'container' | 'initContainer' | 'ephemeralContainer';

/**
 * `unpinned`: no digest. `pinned`: a digest, and either no tag to compare or the tag still points to it.
 * `drift`: the tag now points elsewhere. `unresolvable`: a tag to compare that cannot be resolved now, or
 * input that cannot be judged (a reference that does not parse, a malformed annotation, no containers).
 */
export type AuditStatus = 'pinned' | 'unpinned' | 'drift' | 'unresolvable';

export const AUDIT_STATUSES: readonly AuditStatus[] = ['pinned', 'unpinned', 'drift', 'unresolvable'];

export interface ContainerAudit {
  /** null only for the entry that reports a pod without containers, or a container without a name. */
  name: string | null;
  type: ContainerType;
  /** As in the spec; null when the container has none. */
  image: string | null;
  /** `sha256:<hex>` from the image reference, else null. */
  digest: string | null;
  /** The entry in fn-pinner.io/original-images, else the image without its @digest when it has a tag. */
  original: string | null;
  /** What original's tag resolves to now; null without a tag, with --no-drift, or when not resolvable. */
  current: string | null;
  status: AuditStatus;
  /** One line, with `unresolvable` only. */
  error: string | null;
}

export interface PodAudit {
  /** The pod's own namespace; null for a file's pod that names none. */
  namespace: string | null;
  name: string | null;
  containers: ContainerAudit[];
}

export interface AuditSummary {
  pods: number;
  containers: number;
  pinned: number;
  unpinned: number;
  drift: number;
  unresolvable: number;
}

export interface AuditReport {
  pods: PodAudit[];
  summary: AuditSummary;
}
