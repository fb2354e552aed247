import { setTimeout as sleep } from 'node:timers/promises';

import type { ResolverStack } from '../src/app/resolver-stack.js';
import type { CacheOutcome, Resolution } from '../src/images/resolver.js';
import { createMetrics } from '../src/metrics.js';
import type { Metrics } from '../src/metrics.js';
import { expectThat, imageRef, matches, newStack, timed } from './setup.js';
import type { BenchEnv, Section } from './setup.js';
import { ms, ratio, summarize, table } from './stats.js';
import { NO_TRAFFIC, describeTraffic, sameTraffic, trafficFromMetrics, trafficOf } from './traffic.js';
import type { Traffic } from './traffic.js';

/** Part 1: one single-arch image, cold (fresh stack) vs warm (cache hit) vs revalidated (stale tag). */

const COLD_STACKS = 10;
const WARM_RUNS = 30;
const CLEARED_RUNS = 30;
const REVALIDATE_RUNS = 30;
const WARM_LOOP = 10_000;
/** tagTtl in seconds for the revalidation path: 1 ms, the smallest useful value (0 means "forever"). */
const TINY_TAG_TTL = '0.001';

const SPEC = { entrypoint: ['/usr/local/bin/function'], cmd: ['--config', '/etc/fn/config.yaml'] };

interface Run {
  ms: number;
  resolution: Resolution;
  /** What the proxy received during this resolution. */
  proxy: Traffic;
  /** What the client counted in fn_pinner_registry_requests_total during this resolution. */
  client: Traffic;
}

interface Path {
  label: string;
  reused: string;
  expected: { outcome: CacheOutcome; traffic: Traffic };
  runs: Run[];
}

function minus(a: Traffic, b: Traffic): Traffic {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof Traffic)[]) out[k] -= b[k];
  return out;
}

async function resolveCounted(
  env: BenchEnv,
  stack: ResolverStack,
  metrics: Metrics,
  image: string,
): Promise<Run> {
  const before = await trafficFromMetrics(metrics);
  env.proxy.reset();
  const { ms: took, value } = await timed(() => stack.resolver.resolve(image));
  const proxy = trafficOf(env.proxy.requests);
  return { ms: took, resolution: value, proxy, client: minus(await trafficFromMetrics(metrics), before) };
}

/** A fresh resolver stack (new connection pool, no cached ping, empty cache) resolving once. */
async function coldOnce(env: BenchEnv, image: string): Promise<Run> {
  const metrics = createMetrics();
  const stack = newStack(env, { metrics });
  try {
    return await resolveCounted(env, stack, metrics, image);
  } finally {
    await stack.close();
  }
}

async function repeat(
  n: number,
  each: () => Promise<Run>,
  before: () => unknown = () => undefined,
): Promise<Run[]> {
  const runs: Run[] = [];
  for (let i = 0; i < n; i++) {
    await before();
    runs.push(await each());
  }
  return runs;
}

function observedTraffic(runs: readonly Run[]): string {
  const first = runs[0]?.proxy ?? NO_TRAFFIC;
  if (runs.every((r) => sameTraffic(r.proxy, first))) return describeTraffic(first);
  const distinct = [...new Set(runs.map((r) => describeTraffic(r.proxy)))];
  return `varies: ${distinct.join(' / ')}`;
}

const KINDS = ['ping', 'token', 'manifestGet', 'manifestHead', 'blobGet'] as const;
const KIND_HEADS = ['ping', 'token', 'manifest GET', 'manifest HEAD', 'blob GET'];

/** Requests of each kind per resolution: the count when every run agrees, else `min–max`. */
function kindCells(traffic: readonly Traffic[]): string[] {
  return KINDS.map((k) => {
    const values = traffic.map((t) => t[k]);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    return lo === hi ? String(lo) : `${lo}–${hi}`;
  });
}

function checkPath(p: Path, pushedOk: (r: Resolution) => boolean, failures: string[]): string {
  const outcomes = p.runs.every((r) => r.resolution.cache === p.expected.outcome);
  const traffic = p.runs.every((r) => sameTraffic(r.proxy, p.expected.traffic));
  const agree = p.runs.every((r) => sameTraffic(r.proxy, r.client));
  const content = p.runs.every((r) => pushedOk(r.resolution));
  expectThat(failures, outcomes, `${p.label}: every outcome is "${p.expected.outcome}"`);
  expectThat(
    failures,
    traffic,
    `${p.label}: every resolution costs ${describeTraffic(p.expected.traffic)} (saw ${observedTraffic(p.runs)})`,
  );
  expectThat(failures, agree, `${p.label}: proxy and client metric agree`);
  expectThat(failures, content, `${p.label}: digest/entrypoint/cmd as pushed`);
  return outcomes && traffic && agree && content ? '✓' : '✗';
}

export async function latencySection(env: BenchEnv): Promise<Section> {
  const failures: string[] = [];
  const pushed = await env.pusher.pushImage('bench/single', 'v1', SPEC);
  const image = imageRef(env, 'bench/single', 'v1');
  const pushedOk = (r: Resolution): boolean => matches(r, pushed, SPEC);

  // The process's first resolution also pays for JIT, zod schema setup and undici internals: shown apart.
  const first = await coldOnce(env, image);
  const cold = await repeat(COLD_STACKS, () => coldOnce(env, image));

  const metrics = createMetrics();
  const stack = newStack(env, { metrics });
  const ttlMetrics = createMetrics();
  const ttlStack = newStack(env, { metrics: ttlMetrics, tagTtl: TINY_TAG_TTL });
  let loop: { ms: number; traffic: Traffic; hits: number };
  let cleared: Run[];
  let warm: Run[];
  let revalidated: Run[];
  try {
    await stack.resolver.resolve(image);
    cleared = await repeat(
      CLEARED_RUNS,
      () => resolveCounted(env, stack, metrics, image),
      () => stack.cache.clear(),
    );
    await stack.resolver.resolve(image);
    warm = await repeat(WARM_RUNS, () => resolveCounted(env, stack, metrics, image));
    env.proxy.reset();
    let hits = 0;
    const started = performance.now();
    for (let i = 0; i < WARM_LOOP; i++) {
      if ((await stack.resolver.resolve(image)).cache === 'hit') hits++;
    }
    loop = { ms: performance.now() - started, traffic: trafficOf(env.proxy.requests), hits };

    await ttlStack.resolver.resolve(image);
    // Sleep past the 1 ms TTL (Date.now() granularity) so that every measured resolution finds the tag stale.
    revalidated = await repeat(
      REVALIDATE_RUNS,
      () => resolveCounted(env, ttlStack, ttlMetrics, image),
      () => sleep(2),
    );
  } finally {
    await stack.close();
    await ttlStack.close();
  }

  const paths: Path[] = [
    {
      label: 'cold',
      reused: 'nothing: fresh stack per run (new connection, ping, empty cache)',
      expected: {
        outcome: 'miss',
        traffic: { ...NO_TRAFFIC, ping: 1, manifestGet: 1, blobGet: 1, total: 3 },
      },
      runs: cold,
    },
    {
      label: 'cold cache, warm client',
      reused: 'connection pool and auth scheme; `cache.clear()` before each run',
      expected: { outcome: 'miss', traffic: { ...NO_TRAFFIC, manifestGet: 1, blobGet: 1, total: 2 } },
      runs: cleared,
    },
    {
      label: 'revalidated',
      reused: `everything; tag older than tagTtl ${TINY_TAG_TTL} s`,
      expected: { outcome: 'revalidated', traffic: { ...NO_TRAFFIC, manifestHead: 1, total: 1 } },
      runs: revalidated,
    },
    {
      label: 'warm',
      reused: 'everything (tag fresh, manifest and config cached)',
      expected: { outcome: 'hit', traffic: NO_TRAFFIC },
      runs: warm,
    },
  ];

  const coldMedian = summarize(cold.map((r) => r.ms)).median;
  const rows = paths.map((p) => {
    const s = summarize(p.runs.map((r) => r.ms));
    return [
      `**${p.label}**`,
      p.reused,
      s.n,
      p.expected.outcome,
      ...kindCells(p.runs.map((r) => r.proxy)),
      checkPath(p, pushedOk, failures),
      ms(s.median),
      ms(s.p90),
      ms(s.min),
      ms(s.max),
      ratio(s.median, coldMedian),
    ];
  });
  const loopOk = expectThat(
    failures,
    loop.hits === WARM_LOOP && loop.traffic.total === 0,
    `warm loop: ${WARM_LOOP} hits and no registry request`,
  );
  rows.push([
    '**warm, back to back**',
    `same stack, ${WARM_LOOP.toLocaleString('en')} sequential resolutions (mean)`,
    WARM_LOOP,
    'hit',
    ...kindCells([loop.traffic]),
    loopOk,
    ms(loop.ms / WARM_LOOP),
    '',
    '',
    '',
    ratio(loop.ms / WARM_LOOP, coldMedian),
  ]);
  const firstOk = expectThat(
    failures,
    first.resolution.cache === 'miss' && sameTraffic(first.proxy, paths[0]!.expected.traffic),
    'first cold resolution: miss with ping, manifest GET, blob GET',
  );

  const warmMedian = summarize(warm.map((r) => r.ms)).median;
  const revalMedian = summarize(revalidated.map((r) => r.ms)).median;
  const clearedMedian = summarize(cleared.map((r) => r.ms)).median;
  const markdown = [
    '## 1. Cold vs warm resolution (one single-arch image)',
    '',
    `Image \`bench/single:v1\` (OCI manifest, one layer, Entrypoint ${JSON.stringify(SPEC.entrypoint)}, ` +
      `Cmd ${JSON.stringify(SPEC.cmd)}), resolved with \`createResolverStack\` through the counting proxy. ` +
      'Request columns are what the proxy received per resolution (`a–b` if runs differed); ✓ means every run had exactly the expected ' +
      'requests and cache outcome, the client-side `fn_pinner_registry_requests_total` agreed with the proxy, ' +
      'and digest/Entrypoint/Cmd matched what was pushed. Times are `resolver.resolve()` only (stack ' +
      'construction excluded). No token requests: a plain registry answers the `/v2/` ping with 200.',
    '',
    table(
      ['path', 'reused', 'runs', 'outcome', ...KIND_HEADS, 'ok', 'median', 'p90', 'min', 'max', '÷ cold'],
      rows,
    ),
    '',
    `- First resolution in the process (fresh stack, JIT not warm; excluded from "cold"): ${ms(first.ms)}, ` +
      `${describeTraffic(first.proxy)} ${firstOk}.`,
    `- **warm / cold = ${ratio(warmMedian, coldMedian)}** (median ${ms(warmMedian)} vs ${ms(coldMedian)}; ` +
      `cold is ${ratio(coldMedian, warmMedian)} slower). Back to back, a hit costs ${ms(loop.ms / WARM_LOOP)}.`,
    `- revalidated / cold = ${ratio(revalMedian, coldMedian)}: a stale tag costs exactly one ` +
      `\`HEAD /v2/<name>/manifests/<tag>\` (${REVALIDATE_RUNS}/${REVALIDATE_RUNS} runs), no GET.`,
    `- cold cache with a warm client / cold = ${ratio(clearedMedian, coldMedian)}: the rest of a cold ` +
      'resolution is connection setup and the `/v2/` ping.',
    '',
  ].join('\n');
  return { markdown, failures };
}
