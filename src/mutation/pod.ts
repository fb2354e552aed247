import { FnPinnerError, toFnPinnerError } from '../errors.js';
import type { CacheOutcome, Resolution, ResolveOptions } from '../images/resolver.js';
import type { Platform } from '../reference/platform.js';
import type { RegistryPrefixes } from '../reference/prefixes.js';
import { ImageReference } from '../reference/reference.js';
import { RequestBudget } from '../util/budget.js';
import { truncate } from '../util/text.js';
import type { ReviewLimits } from './limits.js';
import { attachPullSecret, labelPinned, recordOriginals } from './annotations.js';
import { hasCommand, planCommand } from './command.js';
import { PlatformCheck } from './multiarch.js';
import type { PlatformMemo } from './multiarch.js';
import { podPlatform } from './platform.js';
import type { Container, ContainerList, Pod, PodSpec } from './types.js';
import { CONTAINER_LISTS } from './types.js';

/** Anything that resolves images: the cached ImageResolver in production, a fake in unit tests. */
export interface MetadataSource {
  resolve(image: string | ImageReference, opts?: ResolveOptions): Promise<Resolution>;
}

export interface MutationOptions {
  /** Prepended to every command fn-pinner sets (a wrapper such as Porch's wrapper-server). */
  commandPrefix: string[];
  defaultPlatform: Platform;
  /** Present when private registries are enabled: custom-registry pods get this pull secret. */
  pullSecret?: { name: string; defaultRegistries: RegistryPrefixes };
  /** What one review may cost: distinct images, platforms compared, registry requests. */
  limits: ReviewLimits;
}

export interface ContainerChange {
  list: ContainerList;
  name: string;
  /** The image as written. */
  original: string;
  /** The image after mutation (unchanged when it was already pinned). */
  image: string;
  digest: string | undefined;
  commandSet: boolean;
  cache: CacheOutcome | 'not-resolved';
}

export interface MutationResult {
  /** A mutated clone; the input is never modified. */
  pod: Pod;
  changes: ContainerChange[];
  warnings: string[];
  /** container name → why its platforms disagree on the argv (for the audit annotation). */
  platformDisagreements: Record<string, string>;
  pullSecret: 'added' | 'present' | 'not-needed';
}

interface Target {
  list: ContainerList;
  container: Container & { image: string };
  ref: ImageReference;
  needsCommand: boolean;
}

function targets(pod: Pod): Target[] {
  const found: Target[] = [];
  for (const list of CONTAINER_LISTS) {
    for (const container of pod.spec?.[list] ?? []) {
      if (typeof container.image !== 'string' || container.image === '') continue;
      const what = `container "${container.name}"`;
      let ref: ImageReference;
      try {
        ref = ImageReference.parse(container.image);
      } catch (err) {
        throw new FnPinnerError('BAD_REFERENCE', `${what}: ${truncate((err as Error).message, 500)}`, {
          cause: err,
        });
      }
      found.push({
        list,
        container: container as Target['container'],
        ref,
        needsCommand: !hasCommand(container),
      });
    }
  }
  return found;
}

/**
 * Pins every container image to its digest and sets commands from the image config. Distinct images
 * resolve concurrently; repeats share one resolution.
 */
export async function mutatePod(
  original: Pod,
  source: MetadataSource,
  opts: MutationOptions,
  memo?: PlatformMemo,
): Promise<MutationResult> {
  const pod = cloneForMutation(original);
  const { platform, fixed } = podPlatform(pod, opts.defaultPlatform);
  const all = targets(pod);
  const work = all.filter((t) => !t.ref.digest || t.needsCommand);
  const budget = new RequestBudget(opts.limits.maxRequestsPerReview);
  const resolutions = await resolveDistinct(work, source, { platform, budget, limits: opts.limits });
  const result: MutationResult = {
    pod,
    changes: [],
    warnings: [],
    platformDisagreements: {},
    pullSecret: 'not-needed',
  };
  const checks: Promise<void>[] = [];
  const platforms = new PlatformCheck(source, {
    memo,
    budget,
    maxPlatforms: opts.limits.maxPlatformsCompared,
  });
  for (const t of work) {
    const resolution = resolutions.get(t.ref.original);
    if (!resolution) throw new FnPinnerError('INTERNAL', `mutate pod: ${t.ref.original} was not resolved`);
    const argsBefore = t.container.args;
    applyResolution(t, resolution, opts, result);
    if (resolution.warning) result.warnings.push(`container "${t.container.name}": ${resolution.warning}`);
    if (t.needsCommand && !fixed) {
      checks.push(platforms.check({ ...t, argsBefore }, resolution, result));
    }
  }
  await Promise.all(checks);
  recordOriginals(pod, result.changes);
  labelPinned(pod, result.changes);
  if (opts.pullSecret) result.pullSecret = attachPullSecret(pod, all, opts.pullSecret);
  return result;
}

/**
 * A copy-on-write clone: the containers, the pull-secret list and the annotations (everything mutatePod
 * writes) are copied; untouched subtrees are shared with the original, which is never modified. A full
 * structuredClone of a pod costs more than the rest of a cache-hit review.
 */
function cloneForMutation(original: Pod): Pod {
  const pod: Pod = { ...original };
  if (original.metadata) {
    const { annotations, labels } = original.metadata;
    pod.metadata = {
      ...original.metadata,
      ...(annotations ? { annotations: { ...annotations } } : {}),
      ...(labels ? { labels: { ...labels } } : {}),
    };
  }
  if (original.spec) {
    const spec: PodSpec = { ...original.spec };
    for (const list of CONTAINER_LISTS) {
      const containers = original.spec[list];
      if (containers) spec[list] = containers.map((c) => ({ ...c }));
    }
    if (original.spec.imagePullSecrets) spec.imagePullSecrets = [...original.spec.imagePullSecrets];
    pod.spec = spec;
  }
  return pod;
}

async function resolveDistinct(
  work: Target[],
  source: MetadataSource,
  review: { platform: Platform; budget: RequestBudget; limits: ReviewLimits },
): Promise<Map<string, Resolution>> {
  // One entry per distinct image as written; the reference already parsed is passed on, not re-parsed.
  const refs = new Map(work.map((t) => [t.ref.original, t.ref]));
  const owners = new Map(work.map((t) => [t.ref.original, t.container.name]));
  if (refs.size > review.limits.maxImagesPerReview) {
    throw new FnPinnerError(
      'TOO_MANY_IMAGES',
      `mutate pod: ${refs.size} distinct images to resolve, more than ${review.limits.maxImagesPerReview}`,
    );
  }
  const { platform, budget } = review;
  const resolved = await Promise.all(
    [...refs].map(async ([image, ref]) => {
      try {
        return [image, await source.resolve(ref, { platform, budget })] as const;
      } catch (err) {
        const e = toFnPinnerError(err, `resolve ${image}`);
        throw new FnPinnerError(e.code, `container "${owners.get(image)}": ${e.message}`, {
          cause: e,
          temporary: e.temporary,
        });
      }
    }),
  );
  return new Map(resolved);
}

function applyResolution(
  t: Target,
  resolution: Resolution,
  opts: MutationOptions,
  result: MutationResult,
): void {
  const { container, ref } = t;
  const { metadata } = resolution;
  const before = container.image;
  // An image already pinned by digest keeps its reference; it was only resolved for its entrypoint.
  if (!ref.digest) container.image = ref.pin(metadata.digest);
  if (t.needsCommand) {
    const plan = planCommand(
      container,
      metadata,
      opts.commandPrefix,
      `container "${container.name}" image ${before}`,
    );
    container.command = plan.command;
    if (plan.args) container.args = plan.args;
    else delete container.args;
  }
  if (container.image === before && !t.needsCommand) return;
  result.changes.push({
    list: t.list,
    name: container.name,
    original: before,
    image: container.image,
    digest: ref.digest ?? metadata.digest,
    commandSet: t.needsCommand,
    cache: resolution.cache,
  });
}
