import type { TagSource } from '../audit/audit.js';
import { BULK_RESOLVE_CONCURRENCY } from '../config/tunables.js';
import type { Logger } from '../logging.js';
import { ImageReference } from '../reference/reference.js';
import { forEachLimit } from '../util/limit.js';

/**
 * Cache warm-up (`serve --warm-images`, the design's "faster cache warming at startup"): the listed images
 * are resolved at start, a few at a time, and /readyz waits for them, but for at most `timeoutMs`. A failure
 * is logged and counts as done; past the timeout the server is ready whatever is still in flight (those
 * resolutions go on, bounded by --resolve-timeout, and land in the cache).
 */
export interface WarmUp {
  /** Why /readyz should wait, or undefined. */
  notReadyReason(): string | undefined;
  /** Settles when every image is resolved or has failed (not at the timeout). */
  done: Promise<void>;
  stop(): void;
}

export interface WarmUpDeps {
  images: string[];
  source: TagSource;
  timeoutMs: number;
  log: Logger;
}

export function startWarmUp({ images: listed, source, timeoutMs, log }: WarmUpDeps): WarmUp {
  const images = [...new Set(listed)];
  if (images.length === 0)
    return { notReadyReason: () => undefined, done: Promise.resolve(), stop: () => undefined };
  const started = performance.now();
  let left = images.length;
  let failed = 0;
  let waiting = true;
  const timer = setTimeout(() => {
    if (!waiting) return;
    waiting = false;
    log.warn({ left, images: images.length, timeoutMs }, 'cache warm-up timed out; ready anyway');
  }, timeoutMs);
  const done = forEachLimit(images, BULK_RESOLVE_CONCURRENCY, async (image) => {
    try {
      await source.resolve(ImageReference.parse(image));
    } catch (err) {
      failed++;
      log.warn({ image, err: (err as Error).message }, 'cache warm-up: image not resolved');
    }
    left--;
  }).then(() => {
    clearTimeout(timer);
    waiting = false;
    const durationMs = Math.round(performance.now() - started);
    log.info({ images: images.length, failed, durationMs }, 'cache warm-up done');
  });
  return {
    notReadyReason: () =>
      waiting ? `warming the image cache: ${left} of ${images.length} images left` : undefined,
    done,
    stop: () => clearTimeout(timer),
  };
}
