import { createHash } from 'node:crypto';

import { FnPinnerError, reasonText } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import type { CacheOutcome, ImageMetadata, Resolution } from '../../src/images/resolver.js';
import type { MetadataSource } from '../../src/mutation/pod.js';
import type { Platform } from '../../src/reference/platform.js';
import { formatPlatform, parsePlatform, platformMatches } from '../../src/reference/platform.js';
import { ImageReference } from '../../src/reference/reference.js';

/**
 * A MetadataSource for unit tests: images are declared in a table instead of pushed to a registry.
 * It answers the way ImageResolver does (index digest, per-platform argv, `miss` then `hit`), counts
 * calls per image, and can fail or hang an image on demand.
 */

export interface FakeArgv {
  entrypoint?: string[];
  cmd?: string[];
}

export interface FakeImage extends FakeArgv {
  /** Per-platform argv ("linux/arm64" → …): makes the image an index whose platforms are these keys. */
  platforms?: Record<string, FakeArgv>;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** A digest-shaped stand-in: 'sha256:' + sha256 of the text. */
export function fakeDigest(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

interface Entry {
  /** The table key: the image as declared, tag included. */
  key: string;
  ref: ImageReference;
  digest: string;
  image: FakeImage;
}

export interface FakeCall {
  /** The reference as passed to resolve(). */
  image: string;
  /** The table key it resolved to (undefined when unknown). */
  key: string | undefined;
  platform: string | undefined;
}

export class FakeMetadataSource implements MetadataSource {
  readonly calls: FakeCall[] = [];
  /** The largest number of resolve() calls in flight at once: > 1 proves distinct images overlapped. */
  maxInFlight = 0;
  private inFlight = 0;
  private readonly entries: Entry[];
  private readonly failures = new Map<string, FnPinnerError>();
  private readonly hanging = new Set<string>();
  private readonly seen = new Set<string>();

  constructor(table: Record<string, FakeImage>) {
    this.entries = Object.entries(table).map(([key, image]) => {
      const ref = ImageReference.parse(key);
      return { key, ref, digest: fakeDigest(key), image };
    });
  }

  /** The digest the table gives an image key. */
  digestOf(key: string): string {
    const entry = this.entries.find((e) => e.key === key);
    if (!entry) throw new Error(`fake resolver: ${key} is not in the table`);
    return entry.digest;
  }

  /** How many times resolve() was asked for this table key (by tag or by digest, any platform). */
  callsFor(key: string): number {
    return this.calls.filter((c) => c.key === key).length;
  }

  /** Makes every resolution of this table key fail with `code`; the message names the image as ImageResolver's do. */
  fail(key: string, code: ErrorCode, detail: string = reasonText[code]): this {
    this.failures.set(key, new FnPinnerError(code, `resolve ${key}: ${detail}`));
    return this;
  }

  /** Makes every resolution of this table key never settle. */
  hang(key: string): this {
    this.hanging.add(key);
    return this;
  }

  async resolve(image: string | ImageReference, opts: { platform?: Platform } = {}): Promise<Resolution> {
    const ref = typeof image === 'string' ? ImageReference.parse(image) : image;
    const entry = this.lookup(ref);
    this.calls.push({
      image: ref.original,
      key: entry?.key,
      platform: opts.platform && formatPlatform(opts.platform),
    });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // Yield once, so that concurrent callers are all in flight before any of them settles.
      await new Promise((resolve) => setImmediate(resolve));
      if (!entry) {
        throw new FnPinnerError(
          'MANIFEST_UNKNOWN',
          `resolve ${ref.original}: GET manifest ${ref.identifier}: 404 MANIFEST_UNKNOWN`,
          { status: 404 },
        );
      }
      if (this.hanging.has(entry.key)) await new Promise<never>(() => undefined);
      const failure = this.failures.get(entry.key);
      if (failure) throw failure;
      return this.answer(ref, entry, opts.platform ?? DEFAULT_PLATFORM);
    } finally {
      this.inFlight--;
    }
  }

  private lookup(ref: ImageReference): Entry | undefined {
    return this.entries.find(
      (e) =>
        e.ref.name === ref.name &&
        (ref.digest ? e.digest === ref.digest : (e.ref.tag ?? 'latest') === (ref.tag ?? 'latest')),
    );
  }

  private answer(ref: ImageReference, entry: Entry, wanted: Platform): Resolution {
    const { image } = entry;
    let platform = wanted;
    let argv: FakeArgv = image;
    let platforms: Platform[] | undefined;
    if (image.platforms) {
      platforms = Object.keys(image.platforms).map(parsePlatform);
      const index = platforms.findIndex((p) => platformMatches(wanted, p));
      const chosen = platforms[index];
      if (!chosen) {
        throw new FnPinnerError(
          'PLATFORM_NOT_FOUND',
          `resolve ${ref.original}: index ${entry.digest} has no ${formatPlatform(wanted)} image`,
        );
      }
      platform = chosen;
      argv = Object.values(image.platforms)[index] ?? {};
    }
    const metadata: ImageMetadata = {
      image: ref.original,
      digest: entry.digest,
      resolved: ref.pin(entry.digest),
      mediaType: platforms ? OCI_INDEX : OCI_MANIFEST,
      platform,
      manifestDigest: platforms ? fakeDigest(`${entry.key}|${formatPlatform(platform)}`) : entry.digest,
      entrypoint: [...(argv.entrypoint ?? [])],
      cmd: [...(argv.cmd ?? [])],
      platforms,
    };
    const cache: CacheOutcome = this.seen.has(entry.key) ? 'hit' : 'miss';
    this.seen.add(entry.key);
    return { metadata, cache };
  }
}
