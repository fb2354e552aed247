import { FnPinnerError, isFnPinnerError } from '../errors.js';
import { ImageReference } from './reference.js';

/**
 * The image-name prefixes of the default (public catalog) registries: the one rule for which images are
 * "default" (anonymous or default keychain, no pull secret) and which come from a custom registry.
 *
 * Porch compares the raw image string with a stale constant (`gcr.io/kpt-fn/`), so catalog images on ghcr.io
 * count as custom. Here both sides go through the reference parser, so `index.docker.io/x/` and `docker.io/x/`
 * are the same prefix, and `gcr.io/kpt-fn` matches on a '/' boundary only.
 */
export class RegistryPrefixes {
  private constructor(readonly prefixes: readonly string[]) {}

  /** Throws BAD_CONFIG naming the first prefix no image could start with. */
  static parse(prefixes: readonly string[]): RegistryPrefixes {
    return new RegistryPrefixes(prefixes.map(normalizeImagePrefix));
  }

  /** The registry hosts the prefixes name (configuration names them: metrics label them by host). */
  hosts(): string[] {
    return [...new Set(this.prefixes.map((p) => p.slice(0, p.indexOf('/'))))];
  }

  /** Whether the image's name starts with one of the prefixes. Strings only: this runs per container. */
  matches(ref: ImageReference): boolean {
    const name = `${ref.name}/`;
    return this.prefixes.some((prefix) => name.startsWith(prefix));
  }
}

/** A placeholder repository two levels deep, so a bare namespace never gets Docker Hub's `library/` added. */
const PLACEHOLDER = 'x/x';

/**
 * Canonical form of an image prefix: `registry/path/` with Docker Hub as `docker.io` and a trailing '/'.
 * A single component is a registry when it looks like a host (`ghcr.io/`), else a Docker Hub namespace.
 */
export function normalizeImagePrefix(prefix: string): string {
  const fail = (detail: string, cause?: unknown): FnPinnerError =>
    new FnPinnerError(
      'BAD_CONFIG',
      `parse default registry prefix ${JSON.stringify(prefix)}: ${detail} (want e.g. "ghcr.io/org/")`,
      { cause },
    );
  const trimmed = prefix.trim().replace(/\/+$/, '');
  if (trimmed === '') throw fail('empty prefix');
  const probe = `${trimmed}/${PLACEHOLDER}`;
  try {
    // The placeholder is the last component, so a tag or digest in the prefix makes the parse fail.
    return ImageReference.parse(probe).name.slice(0, -PLACEHOLDER.length);
  } catch (err) {
    const parsePrefix = `parse image reference ${JSON.stringify(probe)}: `;
    const detail = isFnPinnerError(err) ? err.message.replace(parsePrefix, '') : 'not an image name prefix';
    throw fail(detail, err);
  }
}
