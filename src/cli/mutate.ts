import type { Operation } from 'fast-json-patch';

import { decide } from '../admission/handler.js';
import type { AdmissionDeps } from '../admission/handler.js';
import { applyPatch } from '../admission/patch.js';
import type { AdmissionRequest } from '../admission/types.js';
import { withResolverStack } from '../app/one-shot.js';
import { loadConfig } from '../config/load.js';
import type { RawOptions } from '../config/load.js';
import { admissionOptions } from '../config/options.js';
import { FnPinnerError } from '../errors.js';
import type { Pod } from '../mutation/types.js';
import { formatDocuments, parseDocuments, readInput } from './documents.js';
import type { CliIo } from './io.js';
import { prefixed } from './io.js';

function isPod(doc: unknown): doc is Pod {
  return typeof doc === 'object' && doc !== null && (doc as Pod).kind === 'Pod';
}

function syntheticRequest(pod: Pod, index: number): AdmissionRequest {
  return {
    uid: `fn-pinner-mutate-${index}`,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: pod.metadata?.namespace ?? 'default',
    operation: 'CREATE',
    object: pod,
    dryRun: true,
  };
}

interface Report {
  problems: string[];
  warnings: string[];
}

function podName(pod: Pod): string {
  return pod.metadata?.name ?? pod.metadata?.generateName ?? '(unnamed)';
}

async function mutatePodDoc(pod: Pod, deps: AdmissionDeps, report: Report): Promise<Pod> {
  const { response } = await decide(syntheticRequest(pod, report.problems.length), deps);
  const name = podName(pod);
  if (!response.allowed) report.problems.push(`pod ${name}: ${response.status?.message ?? 'denied'}`);
  for (const w of response.warnings ?? []) report.warnings.push(`pod ${name}: ${w}`);
  if (!response.patch) return pod;
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
  return applyPatch(pod, ops);
}

/** Mutates every Pod (top level, or inside a List); other objects pass through unchanged. */
async function mutateDoc(doc: unknown, deps: AdmissionDeps, report: Report): Promise<unknown> {
  if (isPod(doc)) return mutatePodDoc(doc, deps, report);
  const list = doc as { kind?: unknown; items?: unknown };
  if (typeof list.kind !== 'string' || !list.kind.endsWith('List') || !Array.isArray(list.items)) return doc;
  const items: unknown[] = [];
  for (const item of list.items) items.push(await mutateDoc(item, deps, report));
  return { ...list, items };
}

export async function mutateCommand(opts: RawOptions & { filename: string }, io: CliIo): Promise<number> {
  try {
    const config = loadConfig('mutate', opts, io.env);
    const source = opts.filename === '-' ? 'stdin' : opts.filename;
    const input = parseDocuments(readInput(opts.filename, source), source);
    const output = await withResolverStack(config, io.stderrStream, async (stack, log) => {
      const deps: AdmissionDeps = { source: stack.resolver, options: admissionOptions(config), log };
      const report: Report = { problems: [], warnings: [] };
      const docs = [];
      for (const doc of input.docs) docs.push(await mutateDoc(doc, deps, report));
      for (const w of report.warnings) io.stderr(`fn-pinner mutate: warning: ${w}\n`);
      // All or nothing: a denied pod means no output at all, never a half-pinned set of manifests.
      if (report.problems.length) throw new FnPinnerError('NOT_ADMITTED', report.problems.join('\n'));
      return formatDocuments({ format: input.format, docs });
    });
    io.stdout(output);
    return 0;
  } catch (err) {
    io.stderr(prefixed('mutate', err));
    return 1;
  }
}
