import type { ImageReference } from '../reference/reference.js';
import type { RegistryPrefixes } from '../reference/prefixes.js';
import type { ContainerChange, MutationResult } from './pod.js';
import type { Pod } from './types.js';
import { ORIGINAL_IMAGES_ANNOTATION, PINNED_LABEL } from './types.js';

/** Entries of an annotation value we wrote before; anything else in it (not JSON, not an object) is dropped. */
function previousEntries(value: string | undefined): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value ?? '{}');
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  const entries = Object.entries(parsed).filter(([, v]) => typeof v === 'string') as Array<[string, string]>;
  return Object.fromEntries(entries);
}

/**
 * Records each changed container's image as written in `fn-pinner.io/original-images`. On re-invocation
 * (a sidecar added later) earlier entries stay: they hold the images as first written. Someone else's
 * garbage in the annotation (not JSON, or JSON that is not an object of strings) is replaced, never a
 * reason to fail the pod.
 */
export function recordOriginals(pod: Pod, changes: ContainerChange[]): void {
  if (changes.length === 0) return;
  const metadata = (pod.metadata ??= {});
  const annotations = (metadata.annotations ??= {});
  const recorded = previousEntries(annotations[ORIGINAL_IMAGES_ANNOTATION]);
  for (const c of changes) if (!Object.hasOwn(recorded, c.name)) recorded[c.name] = c.original;
  annotations[ORIGINAL_IMAGES_ANNOTATION] = JSON.stringify(recorded);
}

/**
 * Only a pod in which an image was actually pinned: one whose images were all pinned already (or that
 * fn-pinner admitted unmutated) is not labelled, so the label says what fn-pinner did, not what it saw.
 */
export function labelPinned(pod: Pod, changes: ContainerChange[]): void {
  if (!changes.some((c) => c.image !== c.original)) return;
  const metadata = (pod.metadata ??= {});
  (metadata.labels ??= {})[PINNED_LABEL] = 'true';
}

export function attachPullSecret(
  pod: Pod,
  all: Array<{ ref: ImageReference }>,
  secret: { name: string; defaultRegistries: RegistryPrefixes },
): MutationResult['pullSecret'] {
  const custom = all.some((t) => !secret.defaultRegistries.matches(t.ref));
  if (!custom) return 'not-needed';
  const spec = (pod.spec ??= {});
  const list = (spec.imagePullSecrets ??= []);
  if (list.some((s) => s.name === secret.name)) return 'present';
  list.push({ name: secret.name });
  return 'added';
}
