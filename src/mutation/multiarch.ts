import type { Resolution } from '../images/resolver.js';
import type { Platform } from '../options.js';
import { formatPlatform } from '../reference/platform.js';
import type { ImageReference } from '../reference/reference.js';
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

interface Checked {
  container: Container;
  ref: ImageReference;
  /** The container's args as written: they replace CMD on every platform alike. */
  argsBefore: string[] | undefined;
}

/**
 * The argv was taken from one platform of an index while the pod could land on any: look at the other
 * platforms and say so when they would run something else. Each image's platforms are resolved once per
 * pod, concurrently; a failure here only costs a warning, since the platform in use did resolve.
 */
export class PlatformCheck {
  private readonly perImage = new Map<string, Promise<Resolution[]>>();

  constructor(private readonly source: MetadataSource) {}

  async check(t: Checked, chosen: Resolution, result: MutationResult): Promise<void> {
    const platforms = (chosen.metadata.platforms ?? []).filter(runnable);
    if (platforms.length < 2) return;
    let others: Resolution[];
    try {
      others = await this.resolveAll(t.ref, platforms);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      result.warnings.push(
        `container "${t.container.name}": could not compare the platforms of ${t.ref.original}: ${why}`,
      );
      return;
    }
    const argvOf = (r: Resolution): string =>
      JSON.stringify(runtimeArgv({ args: t.argsBefore }, r.metadata.entrypoint, r.metadata.cmd));
    const differing = others.filter((r) => argvOf(r) !== argvOf(chosen));
    if (differing.length === 0) return;
    const detail = [chosen, ...differing]
      .map((r) => `${formatPlatform(r.metadata.platform)}: ${argvOf(r)}`)
      .join('; ');
    result.warnings.push(
      `container "${t.container.name}": the platforms of ${t.ref.original} disagree on the command (${detail}); ` +
        `used ${formatPlatform(chosen.metadata.platform)}. Set a kubernetes.io/arch nodeSelector to choose.`,
    );
    result.platformDisagreements[t.container.name] = detail;
  }

  private resolveAll(ref: ImageReference, platforms: Platform[]): Promise<Resolution[]> {
    let pending = this.perImage.get(ref.original);
    if (!pending) {
      pending = Promise.all(platforms.map((platform) => this.source.resolve(ref, { platform })));
      this.perImage.set(ref.original, pending);
    }
    return pending;
  }
}
