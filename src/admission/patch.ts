import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

/**
 * The patch is the diff of the original object (as the API server sent it) against the mutated clone,
 * never a round-trip through typed models, which would drop fields the models do not know
 * (controller-runtime PR #2982, kubebuilder#510).
 */
export function diff(original: unknown, mutated: unknown): Operation[] {
  return jsonpatch.compare(original as object, mutated as object);
}

export function encodePatch(ops: Operation[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64');
}

export function applyPatch<T>(document: T, ops: Operation[]): T {
  return jsonpatch.applyPatch(structuredClone(document), ops, true, false).newDocument;
}
