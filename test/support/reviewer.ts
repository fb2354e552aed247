import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decide } from '../../src/admission/handler.js';
import type { Decision } from '../../src/admission/handler.js';
import type { AdmissionRequest } from '../../src/admission/types.js';
import { createResolverStack } from '../../src/app/resolver-stack.js';
import type { ResolverStack } from '../../src/app/resolver-stack.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config, RawOptions } from '../../src/config/load.js';
import { admissionOptions } from '../../src/config/options.js';
import { createMetrics } from '../../src/metrics.js';
import type { Metrics } from '../../src/metrics.js';
import { PlatformMemo } from '../../src/mutation/multiarch.js';
import { captureLogger } from './capture-logger.js';
import type { LogLine } from './capture-logger.js';

/**
 * The webhook's decision, in process, wired exactly as `serve` wires it (configuration from flags, the
 * real resolver stack, one platform memo across reviews), for tests that count what a review costs a
 * registry. Logs are captured, so tests can look at them.
 */
export interface Reviewer {
  config: Config;
  stack: ResolverStack;
  metrics: Metrics;
  logs: LogLine[];
  /** One pod CREATE with these container images (and whatever else the pod spec should hold). */
  review(
    images: string[],
    spec?: Record<string, unknown>,
    annotations?: Record<string, string>,
  ): Promise<Decision>;
  close(): Promise<void>;
}

let uid = 0;

export function podReview(
  images: string[],
  spec: Record<string, unknown> = {},
  annotations: Record<string, string> = {},
): AdmissionRequest {
  const containers = images.map((image, i) => ({ name: `c${i}`, image }));
  return {
    uid: `review-${++uid}`,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'porch-fn-system',
    operation: 'CREATE',
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p${uid}`, annotations },
      spec: { containers, ...spec },
    },
  };
}

/** `tweak` may change the loaded configuration (and so the option objects built from it) before wiring. */
export function startReviewer(opts: RawOptions, tweak?: (config: Config) => void): Reviewer {
  const home = mkdtempSync(join(tmpdir(), 'fn-pinner-reviewer-'));
  const config = loadConfig('mutate', { logLevel: 'info', ...opts }, { HOME: home });
  tweak?.(config);
  const { log: logger, lines } = captureLogger('info');
  const metrics = createMetrics();
  const stack = createResolverStack(config, logger, metrics);
  const platformMemo = new PlatformMemo();
  const admission = admissionOptions(config);
  return {
    config,
    stack,
    metrics,
    logs: lines,
    review: (images, spec, annotations) =>
      decide(podReview(images, spec, annotations), {
        source: stack.resolver,
        options: admission,
        log: logger,
        platformMemo,
      }),
    close: async () => {
      await stack.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Resolves once `count()` has not changed for `quietMs` (background work finished), at most `maxMs`. */
export async function settled(count: () => number, quietMs = 500, maxMs = 30_000): Promise<number> {
  const started = Date.now();
  let last = count();
  for (;;) {
    await new Promise((r) => setTimeout(r, quietMs));
    const now = count();
    if (now === last || Date.now() - started > maxMs) return now;
    last = now;
  }
}
