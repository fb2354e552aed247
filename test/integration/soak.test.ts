import { describe, expect, it } from '@jest/globals';

import { captured } from '../support/leak-scan.js';
import { DEPLOYMENT_MEMORY_LIMIT, markdown, summarize } from '../support/soak/report.js';
import { runSoak } from '../support/soak/run.js';
import type { SoakResult } from '../support/soak/run.js';

/**
 * The CI version of the soak (`npm run bench:soak` runs 10 minutes and writes docs/benchmarks.soak.md):
 * `fn-pinner serve` from the bundle, with the Deployment's flags, under 20 reviews/s for 30 s over cached,
 * uncached, failing and hostile images (test/support/soak/). Latencies are printed, not asserted.
 */
const SECONDS = 30;
const RATE = 20;

describe(`soak: ${SECONDS} s at ${RATE} reviews/s`, () => {
  it('answers every review as its scenario expects, logs no error, stays inside the cache bound, exits cleanly', async () => {
    const end: { result?: SoakResult } = {};
    captured('soak: /metrics at the end', () => end.result?.sampler.lastMetrics());
    const result = await runSoak({
      seconds: SECONDS,
      ratePerSecond: RATE,
      keepLogs: true,
      onServer: (server) => captured('soak: fn-pinner serve logs', () => server.lines),
    });
    end.result = result;
    const summary = summarize(result);
    console.info(`soak figures:\n${markdown(result, summary)}`);

    expect(summary.unexpected).toEqual([]);
    expect(result.warmUp.map((o) => o.scenario)).toEqual(result.scenarios.map((s) => s.name));
    expect(summary.reviews).toBe(SECONDS * RATE);
    expect(summary.rss.growth).toBeLessThan(summary.rss.bound);
    expect(summary.rss.peak).toBeLessThan(DEPLOYMENT_MEMORY_LIMIT);
    expect(summary.cacheBytes).toBeLessThanOrEqual(summary.rss.bound);
  }, 240_000);
});
