import { CONTAINER_LISTS, ORIGINAL_IMAGES_ANNOTATION } from '../mutation/types.js';
import type { ContainerList } from '../mutation/types.js';
import { ImageReference } from '../reference/reference.js';
import type { ContainerType } from './types.js';

/**
 * What a pod says about each of its containers, before any registry is asked. Pods come from the API or
 * from a user's file, so every field is checked rather than trusted: bad input becomes a `problem` on the
 * container it concerns, never an exception that would stop the scan.
 */
export interface Finding {
  name: string | null;
  type: ContainerType;
  image: string | null;
  digest: string | null;
  original: string | null;
  /** `name:tag` of original, resolved for `current`; undefined when there is no tag to compare. */
  tag: ImageReference | undefined;
  /** Input that makes the container unresolvable whatever the registry says (unparsable image, no image). */
  problem: string | undefined;
  /** A broken annotation or annotation entry: matters only when there is a digest to compare. */
  originalProblem: string | undefined;
}

export interface InspectedPod {
  namespace: string | null;
  name: string | null;
  findings: Finding[];
}

const TYPES: Record<ContainerList, ContainerType> = {
  initContainers: 'initContainer',
  containers: 'container',
  ephemeralContainers: 'ephemeralContainer',
};

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The annotation as a map, or why it is not one. */
function recordedOriginals(annotations: unknown): { map: Json; problem?: string } {
  const raw = isObject(annotations) ? annotations[ORIGINAL_IMAGES_ANNOTATION] : undefined;
  if (raw === undefined) return { map: {} };
  const bad = (why: string): { map: Json; problem: string } => ({
    map: {},
    problem: `annotation ${ORIGINAL_IMAGES_ANNOTATION} ${why}`,
  });
  if (typeof raw !== 'string') return bad('is not a string');
  try {
    const parsed: unknown = JSON.parse(raw);
    return isObject(parsed) ? { map: parsed } : bad('is not a JSON object of container name to image');
  } catch (err) {
    return bad(`is not valid JSON: ${message(err)}`);
  }
}

/** The image without its @digest, when it has a tag. */
function ownTag(ref: ImageReference | undefined): string | null {
  return ref?.tag ? `${ref.writtenName}:${ref.tag}` : null;
}

/** original, and the tag reference to resolve for it (or why the annotation entry cannot be used). */
function originalOf(
  name: string | null,
  ref: ImageReference | undefined,
  recorded: { map: Json; problem?: string },
): Pick<Finding, 'original' | 'tag' | 'originalProblem'> {
  const entry = name === null ? undefined : recorded.map[name];
  const fallback = ownTag(ref);
  const fromImage = { original: fallback, tag: fallback === null ? undefined : tagRef(ref) };
  if (recorded.problem) return { ...fromImage, originalProblem: recorded.problem };
  if (entry === undefined) return { ...fromImage, originalProblem: undefined };
  const where = `annotation ${ORIGINAL_IMAGES_ANNOTATION}, entry for container "${name}"`;
  if (typeof entry !== 'string') return { ...fromImage, originalProblem: `${where} is not a string` };
  try {
    return { original: entry, tag: tagRef(ImageReference.parse(entry)), originalProblem: undefined };
  } catch (err) {
    return { original: entry, tag: undefined, originalProblem: `${where}: ${message(err)}` };
  }
}

function tagRef(ref: ImageReference | undefined): ImageReference | undefined {
  return ref?.tag ? ImageReference.parse(`${ref.writtenName}:${ref.tag}`) : undefined;
}

function parseImage(image: string | null): { ref?: ImageReference; problem?: string } {
  if (image === null) return { problem: 'container has no image' };
  try {
    return { ref: ImageReference.parse(image) };
  } catch (err) {
    return { problem: message(err) };
  }
}

function inspectContainer(
  container: unknown,
  type: ContainerType,
  recorded: { map: Json; problem?: string },
): Finding {
  const c = isObject(container) ? container : {};
  const name = text(c.name);
  const image = typeof c.image === 'string' ? c.image : null;
  const { ref, problem } = isObject(container)
    ? parseImage(text(image))
    : { ref: undefined, problem: 'not a container object' };
  return {
    name,
    type,
    image,
    digest: ref?.digest ?? null,
    ...originalOf(name, ref, recorded),
    problem,
  };
}

function podProblem(why: string): Finding {
  return {
    name: null,
    type: 'container',
    image: null,
    digest: null,
    original: null,
    tag: undefined,
    problem: why,
    originalProblem: undefined,
  };
}

function inspectLists(spec: Json, recorded: { map: Json; problem?: string }): Finding[] {
  const findings: Finding[] = [];
  for (const list of CONTAINER_LISTS) {
    const containers = spec[list];
    if (containers === undefined || containers === null) continue;
    if (!Array.isArray(containers)) findings.push(podProblem(`spec.${list} is not a list`));
    else for (const c of containers) findings.push(inspectContainer(c, TYPES[list], recorded));
  }
  return findings;
}

export function inspectPod(pod: unknown): InspectedPod {
  const p = isObject(pod) ? pod : {};
  const metadata = isObject(p.metadata) ? p.metadata : {};
  const spec = isObject(p.spec) ? p.spec : {};
  const findings = inspectLists(spec, recordedOriginals(metadata.annotations));
  const main = spec.containers;
  if (main === undefined || main === null || (Array.isArray(main) && main.length === 0))
    findings.unshift(podProblem('pod has no containers (spec.containers is empty or missing)'));
  return { namespace: text(metadata.namespace), name: text(metadata.name), findings };
}
