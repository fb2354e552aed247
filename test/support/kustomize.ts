import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { parse, parseAllDocuments } from 'yaml';

import type { KubeObject } from './kube.js';

/**
 * Renders a kustomization the way `kustomize build` does, for the subset manifests/ uses, so tests can
 * check what `kubectl apply -k` would send without a kustomize binary (Debian ships none; kubectl 1.20's
 * built-in kustomize predates components). Anything outside that subset throws rather than being
 * rendered differently from kustomize:
 *   - resources: YAML files, or folders holding a kustomization.yaml;
 *   - components: folders holding a `kind: Component` kustomization;
 *   - patches: JSON 6902 operations (with a target), or a strategic-merge patch that is `$patch: delete`;
 *   - configMapGenerator: `files` only, with disableNameSuffixHash (no content hash is computed here).
 * Output order is accumulation order (kustomize sorts by kind; tests compare by identity instead).
 */

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const SUPPORTED_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'components',
  'patches',
  'configMapGenerator',
]);

interface PatchTarget {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

interface PatchEntry {
  patch?: string;
  path?: string;
  target?: PatchTarget;
}

interface ConfigMapGeneratorEntry {
  name: string;
  namespace?: string;
  files?: string[];
  options?: { disableNameSuffixHash?: boolean; labels?: Record<string, string> };
  [other: string]: unknown;
}

interface Kustomization {
  apiVersion: string;
  kind: string;
  resources?: string[];
  components?: string[];
  patches?: PatchEntry[];
  configMapGenerator?: ConfigMapGeneratorEntry[];
}

/** Renders the kustomization in `dir` (a folder holding kustomization.yaml). */
export function renderKustomization(dir: string): KubeObject[] {
  return build(resolve(dir), 'Kustomization', []);
}

/** Identity as kustomize keys objects: group/version/kind, namespace, name. */
export function objectId(obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const ns = obj.metadata?.namespace ? `${obj.metadata.namespace}/` : '';
  return `${obj.apiVersion} ${obj.kind} ${ns}${obj.metadata?.name ?? ''}`;
}

function build(dir: string, expectedKind: string, objects: KubeObject[]): KubeObject[] {
  const k = readKustomization(dir, expectedKind);
  for (const entry of k.resources ?? []) addAll(objects, loadResource(join(dir, entry)), dir);
  for (const entry of k.components ?? []) objects = build(join(dir, entry), 'Component', objects);
  for (const gen of k.configMapGenerator ?? []) addAll(objects, [generateConfigMap(dir, gen)], dir);
  for (const patch of k.patches ?? []) objects = applyPatch(dir, patch, objects);
  return objects;
}

function readKustomization(dir: string, expectedKind: string): Kustomization {
  const file = KUSTOMIZATION_FILES.map((f) => join(dir, f)).find((f) => existsSync(f));
  if (file === undefined) throw new Error(`kustomize ${dir}: no kustomization.yaml`);
  const k = parse(readFileSync(file, 'utf8')) as Kustomization;
  if (k.kind !== expectedKind) throw new Error(`kustomize ${file}: kind ${k.kind}, expected ${expectedKind}`);
  const unsupported = Object.keys(k).filter((key) => !SUPPORTED_FIELDS.has(key));
  if (unsupported.length > 0) {
    throw new Error(`kustomize ${file}: ${unsupported.join(', ')} not supported by this renderer`);
  }
  return k;
}

function loadResource(path: string): KubeObject[] {
  if (statSync(path).isDirectory()) return build(path, 'Kustomization', []);
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    if (doc.errors.length > 0) throw new Error(`kustomize ${path}: ${doc.errors[0]?.message}`);
    const obj = doc.toJS() as KubeObject | null;
    if (obj === null) continue;
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string' || !obj.metadata?.name) {
      throw new Error(`kustomize ${path}: a document without apiVersion, kind or metadata.name`);
    }
    objects.push(obj);
  }
  return objects;
}

function addAll(objects: KubeObject[], added: KubeObject[], dir: string): void {
  for (const obj of added) {
    const id = objectId(obj);
    if (objects.some((o) => objectId(o) === id)) throw new Error(`kustomize ${dir}: ${id} is defined twice`);
    objects.push(obj);
  }
}

function generateConfigMap(dir: string, gen: ConfigMapGeneratorEntry): KubeObject {
  const { name, namespace, files, options, ...rest } = gen;
  if (Object.keys(rest).length > 0 || options?.disableNameSuffixHash !== true) {
    throw new Error(
      `kustomize ${dir}: configMapGenerator ${name}: only files with disableNameSuffixHash are supported`,
    );
  }
  const data: Record<string, string> = {};
  for (const spec of files ?? []) {
    const [key, path] = spec.includes('=') ? spec.split('=', 2) : [basename(spec), spec];
    data[key as string] = readFileSync(join(dir, path as string), 'utf8');
  }
  const labels = options.labels ? { labels: options.labels } : {};
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ...(namespace ? { namespace } : {}), ...labels },
    data,
  };
}

function applyPatch(dir: string, entry: PatchEntry, objects: KubeObject[]): KubeObject[] {
  const text = entry.patch ?? (entry.path ? readFileSync(join(dir, entry.path), 'utf8') : undefined);
  if (text === undefined) throw new Error(`kustomize ${dir}: a patch without patch or path`);
  const body = parse(text) as unknown;
  if (Array.isArray(body)) return applyJson6902(dir, entry.target, body as Operation[], objects);
  return applyDelete(dir, body as KubeObject & { $patch?: string }, objects);
}

function applyJson6902(
  dir: string,
  target: PatchTarget | undefined,
  ops: Operation[],
  objects: KubeObject[],
): KubeObject[] {
  if (target === undefined) throw new Error(`kustomize ${dir}: a JSON 6902 patch needs a target`);
  const matched = objects.filter((o) => matches(o, target));
  if (matched.length === 0)
    throw new Error(`kustomize ${dir}: patch target ${JSON.stringify(target)} matches nothing`);
  return objects.map((o) => {
    if (!matched.includes(o)) return o;
    try {
      return fjp.applyPatch(structuredClone(o), ops, true, false).newDocument;
    } catch (err) {
      const why = (err as Error).message.split('\n')[0];
      throw new Error(`kustomize ${dir}: patching ${objectId(o)}: ${why}`, { cause: err });
    }
  });
}

function applyDelete(
  dir: string,
  patch: KubeObject & { $patch?: string },
  objects: KubeObject[],
): KubeObject[] {
  if (patch.$patch !== 'delete') {
    throw new Error(`kustomize ${dir}: only "$patch: delete" strategic-merge patches are supported`);
  }
  const { $patch: _, ...ref } = patch;
  const id = objectId(ref);
  if (!objects.some((o) => objectId(o) === id))
    throw new Error(`kustomize ${dir}: cannot delete ${id}: not found`);
  return objects.filter((o) => objectId(o) !== id);
}

function matches(obj: KubeObject, t: PatchTarget): boolean {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  return (
    (t.group === undefined || t.group === group) &&
    (t.version === undefined || t.version === version) &&
    (t.kind === undefined || t.kind === obj.kind) &&
    (t.name === undefined || t.name === obj.metadata?.name) &&
    (t.namespace === undefined || t.namespace === obj.metadata?.namespace)
  );
}
