import { LRUCache } from 'lru-cache';

import type { Resolution } from '../images/resolver.js';
import type { Platform } from '../reference/platform.js';
import { formatPlatform } from '../reference/platform.js';
import { raceTimeout } from '../util/timeout.js';
import type { ImageReference } from '../reference/reference.js';
import type { RequestBudget } from '../util/budget.js';
import { truncate } from '../util/text.js';
import { runtimeArgv } from './command.js';
import type { MetadataSource, MutationResult } from './pod.js';
import type { Container } from './types.js';

/**
 * BuildKit attaches provenance/SBOM attestation manifests to an index as platform `unknown/unknown`; they are
 * not images anything runs, and their empty config would always "disagree" with the real platforms.
 */
function runnable(p: Platform): boolean {
  return p.os !== 'unknown' && p.architecture !== 'unknown';
}

/** How long a review waits for the other platforms; after that it warns that they were not compared. */
const CHECK_BUDGET_MS = 1_000;
/** A failed comparison is not tried again for this long (per index digest), whatever reviews come. */
const FAILURE_MEMORY_MS = 10 * 60_000;

/**
 * Comparisons already made, by index digest and the container's args: both are immutable inputs, so the
 * answer never changes. Keeps warm reviews of multi-arch images from re-resolving every platform. Failures
 * are remembered too, per index digest and for a while, so a hostile or broken index costs one attempt.
 */
export class PlatformMemo {
  private readonly results = new LRUCache<string, { detail: string | undefined }>({ max: 5_000 });
  private readonly failures = new LRUCache<string, string>({ max: 5_000, ttl: FAILURE_MEMORY_MS });

  get(key: string): { detail: string | undefined } | undefined {
    return this.results.get(key);
  }

  set(key: string, detail: string | undefined): void {
    this.results.set(key, { detail });
  }

  failure(index: string): string | undefined {
    return this.failures.get(index);
  }

  setFailure(index: string, why: string): void {
    this.failures.set(index, why);
  }
}

/** The chosen platform first, then others up to `max` in all: which ones is decided by the index order. */
function bounded(platforms: Platform[], chosen: Platform, max: number): Platform[] {
  const seen = new Set([formatPlatform(chosen)]);
  const picked = [chosen];
  for (const p of platforms) {
    if (picked.length >= max) break;
    const key = formatPlatform(p);
    if (seen.has(key)) continue;
    seen.add(key);
    picked.push(p);
  }
  return picked;
}

export interface PlatformCheckOptions {
  memo?: PlatformMemo | undefined;
  /** The review's registry request budget: comparing platforms spends from it like anything else. */
  budget: RequestBudget;
  maxPlatforms: number;
}

interface Checked {
  container: Container;
  ref: ImageReference;
  /** The container's args as written: they replace CMD on every platform alike. */
  argsBefore: string[] | undefined;
}

function describe(t: Checked, chosen: Resolution, others: Resolution[]): string | undefined {
  const argvOf = (r: Resolution): string =>
    JSON.stringify(runtimeArgv({ args: t.argsBefore }, r.metadata.entrypoint, r.metadata.cmd));
  const differing = others.filter((r) => argvOf(r) !== argvOf(chosen));
  if (differing.length === 0) return undefined;
  const text = [chosen, ...differing].map((r) => `${formatPlatform(r.metadata.platform)}: ${argvOf(r)}`);
  return truncate(text.join('; '), 1_000);
}

/**
 * The argv was taken from one platform of an index while the pod could land on any: look at the other
 * platforms and say so when they would run something else. This only ever warns: it has a small time
 * budget of its own, and a failure to compare never fails the pod, whose own platform did resolve.
 */
export class PlatformCheck {
  private readonly perImage = new Map<string, Promise<Resolution[]>>();
  private readonly memo: PlatformMemo;

  constructor(
    private readonly source: MetadataSource,
    private readonly options: PlatformCheckOptions,
  ) {
    this.memo = options.memo ?? new PlatformMemo();
  }

  async check(t: Checked, chosen: Resolution, result: MutationResult): Promise<void> {
    const offered = (chosen.metadata.platforms ?? []).filter(runnable);
    if (offered.length < 2) return;
    const platforms = bounded(offered, chosen.metadata.platform, this.options.maxPlatforms);
    const index = `${t.ref.name}@${chosen.metadata.digest}`;
    const key = `${index}|${JSON.stringify(t.argsBefore ?? null)}`;
    let known = this.memo.get(key);
    if (!known && this.memo.failure(index) !== undefined) return;
    if (!known) {
      const compared = this.resolveAll(t.ref, platforms).then(
        (others) => {
          const detail = describe(t, chosen, others);
          this.memo.set(key, detail);
          return { detail };
        },
        (err: unknown) => {
          this.memo.setFailure(index, err instanceof Error ? err.message : String(err));
          throw err;
        },
      );
      known = await this.withinBudget(compared, t, result);
    }
    if (known?.detail === undefined) return;
    result.warnings.push(
      `container "${t.container.name}": the platforms of ${t.ref.original} disagree on the command (${known.detail}); ` +
        `used ${formatPlatform(chosen.metadata.platform)}. Set a kubernetes.io/arch nodeSelector to choose.`,
    );
    result.platformDisagreements[t.container.name] = known.detail;
  }

  private async withinBudget(
    compared: Promise<{ detail: string | undefined }>,
    t: Checked,
    result: MutationResult,
  ): Promise<{ detail: string | undefined } | undefined> {
    try {
      const outcome = await raceTimeout(compared, CHECK_BUDGET_MS);
      if (outcome.done) return outcome.value;
      // Keep going in the background: the next review of this image gets the answer from the memo.
      compared.catch(() => undefined);
      result.warnings.push(
        `container "${t.container.name}": the other platforms of ${t.ref.original} were not compared within ${CHECK_BUDGET_MS} ms`,
      );
    } catch (err) {
      const why = truncate(err instanceof Error ? err.message : String(err), 500);
      result.warnings.push(
        `container "${t.container.name}": could not compare the platforms of ${t.ref.original}: ${why}`,
      );
    }
    return undefined;
  }

  private resolveAll(ref: ImageReference, platforms: Platform[]): Promise<Resolution[]> {
    let pending = this.perImage.get(ref.original);
    if (!pending) {
      const { budget } = this.options;
      pending = Promise.all(platforms.map((platform) => this.source.resolve(ref, { platform, budget })));
      this.perImage.set(ref.original, pending);
    }
    return pending;
  }
}
