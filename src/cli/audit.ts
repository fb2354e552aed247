import { clusterPodApi, listPods, runAudit } from '../app/audit.js';
import type { PodSelection } from '../app/audit.js';
import { auditJson, auditTable } from '../audit/format.js';
import type { AuditReport, AuditStatus } from '../audit/types.js';
import { loadConfig } from '../config/load.js';
import type { Config, RawOptions } from '../config/load.js';
import { FnPinnerError } from '../errors.js';
import { parseDocuments, readInput } from './documents.js';
import type { CliIo } from './io.js';
import { prefixed } from './io.js';
import { createProgress } from './progress.js';

/**
 * `fn-pinner audit` (issue 11). Exit codes are part of the contract: 1 when a container has a status named
 * by --fail-on, 2 when the command cannot do its job (bad flags, the API unreachable or forbidden, a file
 * unreadable), else 0.
 */
export interface AuditCliOptions extends RawOptions {
  namespace?: string[];
  allNamespaces?: boolean;
  selector?: string;
  filename?: string;
  json?: boolean;
  failOn?: AuditStatus[];
  drift?: boolean;
}

export const DEFAULT_AUDIT_NAMESPACE = 'porch-fn-system';

const badFlags = (message: string): FnPinnerError => new FnPinnerError('BAD_CONFIG', message);

function selection(opts: AuditCliOptions): PodSelection {
  if (opts.allNamespaces && opts.namespace?.length)
    throw badFlags('-A (--all-namespaces) and -n (--namespace) cannot be used together');
  return {
    namespaces: opts.allNamespaces
      ? 'all'
      : opts.namespace?.length
        ? [...new Set(opts.namespace)]
        : [DEFAULT_AUDIT_NAMESPACE],
    selector: opts.selector,
  };
}

/** Pods at the top level or in a List; other documents are skipped, and said so on stderr. */
function podsOf(docs: unknown[], skipped: string[]): unknown[] {
  const pods: unknown[] = [];
  for (const doc of docs) {
    const d = (typeof doc === 'object' && doc !== null ? doc : {}) as { kind?: unknown; items?: unknown };
    if (d.kind === 'Pod') pods.push(doc);
    else if (typeof d.kind === 'string' && d.kind.endsWith('List') && Array.isArray(d.items))
      pods.push(...podsOf(d.items, skipped));
    else skipped.push(typeof d.kind === 'string' ? d.kind : 'a document without kind');
  }
  return pods;
}

function podsFromFile(filename: string, io: CliIo): unknown[] {
  const source = filename === '-' ? 'stdin' : filename;
  const skipped: string[] = [];
  const pods = podsOf(parseDocuments(readInput(filename, source), source).docs, skipped);
  if (skipped.length)
    io.stderr(
      `fn-pinner audit: skipped ${skipped.length} object(s) that are not Pods: ${skipped.join(', ')}\n`,
    );
  return pods;
}

async function pods(opts: AuditCliOptions, config: Config, io: CliIo): Promise<unknown[]> {
  if (opts.filename === undefined) {
    const selected = selection(opts);
    return listPods(await clusterPodApi(config, 'fn-pinner audit lists pods (or give it -f FILE)'), selected);
  }
  if (opts.namespace?.length || opts.allNamespaces || opts.selector !== undefined)
    throw badFlags('-f reads pods from a file; -n, -A and -l select pods in a cluster: use one or the other');
  return podsFromFile(opts.filename, io);
}

async function audit(opts: AuditCliOptions, io: CliIo): Promise<AuditReport> {
  const config = loadConfig('audit', opts, io.env);
  const found = await pods(opts, config, io);
  const progress = createProgress(io.stderrStream, 'fn-pinner audit: resolving tags');
  try {
    return await runAudit(config, io.stderrStream, found, {
      drift: opts.drift !== false,
      onProgress: (done, total) => progress.update(done, total),
    });
  } finally {
    progress.stop();
  }
}

export async function auditCommand(opts: AuditCliOptions, io: CliIo): Promise<number> {
  let report: AuditReport;
  try {
    report = await audit(opts, io);
  } catch (err) {
    io.stderr(prefixed('audit', err));
    return 2;
  }
  io.stdout(opts.json ? auditJson(report) : auditTable(report));
  const failOn = new Set(opts.failOn ?? []);
  return report.pods.some((p) => p.containers.some((c) => failOn.has(c.status))) ? 1 : 0;
}
