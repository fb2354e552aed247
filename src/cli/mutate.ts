import { readFileSync } from 'node:fs';

import type { Command } from 'commander';

import { decide } from '../admission/handler.js';
import type { AdmissionDeps } from '../admission/handler.js';
import { applyPatch } from '../admission/patch.js';
import type { Operation } from 'fast-json-patch';
import type { AdmissionRequest } from '../admission/types.js';
import { createResolverStack } from '../compose.js';
import { ADMISSION_SETTINGS, REGISTRY_SETTINGS, loadAdmissionConfig } from '../config.js';
import type { RawOptions } from '../config.js';
import { FnPinnerError } from '../errors.js';
import { createLogger } from '../logging.js';
import { createMetrics } from '../metrics.js';
import type { Pod } from '../mutation/types.js';
import { formatDocuments, parseDocuments } from './documents.js';
import type { CliIo } from './io.js';
import { addSettings } from './io.js';

export function registerMutate(program: Command, io: CliIo): void {
  const cmd = program
    .command('mutate')
    .description(
      'apply the admission decision offline: pin the images of a Pod or List of Pods (JSON or YAML)',
    )
    .requiredOption('-f, --filename <file>', "file to read, or '-' for stdin");
  addSettings(cmd, [...REGISTRY_SETTINGS, ...ADMISSION_SETTINGS]);
  cmd.action(async (opts: RawOptions & { filename: string }) => {
    io.exitCode = await mutateCommand(opts, io);
  });
}

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

async function mutatePodDoc(pod: Pod, deps: AdmissionDeps, report: Report): Promise<Pod> {
  const { response } = await decide(syntheticRequest(pod, report.problems.length), deps);
  const name = pod.metadata?.name ?? pod.metadata?.generateName ?? '(unnamed)';
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

async function mutateCommand(opts: RawOptions & { filename: string }, io: CliIo): Promise<number> {
  let stack;
  try {
    const config = loadAdmissionConfig(opts, io.env);
    const log = createLogger({ level: opts.logLevel ? config.logging.level : 'error' }, io.stderrStream);
    const source = opts.filename === '-' ? 'stdin' : opts.filename;
    const input = parseDocuments(readFileSync(opts.filename === '-' ? 0 : opts.filename, 'utf8'), source);
    stack = createResolverStack(config, log, createMetrics());
    const deps: AdmissionDeps = { source: stack.resolver, options: config.admission, log };
    const report: Report = { problems: [], warnings: [] };
    const docs = [];
    for (const doc of input.docs) docs.push(await mutateDoc(doc, deps, report));
    for (const w of report.warnings) io.stderr(`fn-pinner mutate: warning: ${w}\n`);
    // All or nothing: a denied pod means no output at all, never a half-pinned set of manifests.
    if (report.problems.length) throw new FnPinnerError('BAD_REQUEST', report.problems.join('\n'));
    io.stdout(formatDocuments({ format: input.format, docs }));
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    io.stderr(`fn-pinner mutate: ${message.split('\n').join('\nfn-pinner mutate: ')}\n`);
    return 1;
  } finally {
    await stack?.close();
  }
}
