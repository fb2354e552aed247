import type { Platform } from '../reference/platform.js';
import { platformMatches } from '../reference/platform.js';
import type { ImageReference } from '../reference/reference.js';
import type { CallContext, ImageConfig, IndexChild, Keychain, ManifestResult } from '../registry/index.js';
import type { RequestBudget } from '../util/budget.js';
import type { ImageMetadata, Resolution } from './types.js';

/** A child without a platform is treated as linux/amd64, as go-containerregistry does. */
export function choose(children: IndexChild[], platform: Platform): IndexChild | undefined {
  return children.find((c) =>
    platformMatches(platform, c.platform ?? { os: 'linux', architecture: 'amd64' }),
  );
}

export function buildMetadata(
  ref: ImageReference,
  parts: {
    top: ManifestResult;
    child: ManifestResult;
    chosen: Platform | undefined;
    config: ImageConfig;
    platform: Platform;
  },
): ImageMetadata {
  const { top, child, chosen, config, platform } = parts;
  return {
    image: ref.original,
    digest: top.digest,
    resolved: ref.pin(top.digest),
    mediaType: top.mediaType,
    platform: chosen ?? config.platform ?? platform,
    manifestDigest: child.digest,
    entrypoint: config.entrypoint,
    cmd: config.cmd,
    platforms:
      top.manifest.kind === 'index'
        ? top.manifest.children.flatMap((c) => (c.platform ? [c.platform] : []))
        : undefined,
  };
}

/** A joined flight resolved someone else's spelling of the same image: report this caller's own. */
export function relabel(result: Resolution, ref: ImageReference): Resolution {
  if (result.metadata.image === ref.original) return result;
  return {
    ...result,
    metadata: { ...result.metadata, image: ref.original, resolved: ref.pin(result.metadata.digest) },
  };
}

/** The deadline's AbortSignal (a timer) is only created when a registry call actually needs it. */
export function lazyContext(
  what: string,
  deadlineMs: number,
  budget: RequestBudget,
  credentials?: Keychain,
): CallContext {
  const deadline = Date.now() + deadlineMs;
  let signal: AbortSignal | undefined;
  return {
    what,
    deadline,
    budget,
    ...(credentials ? { credentials } : {}),
    get signal(): AbortSignal {
      signal ??= AbortSignal.timeout(Math.max(1, deadline - Date.now()));
      return signal;
    },
  };
}
