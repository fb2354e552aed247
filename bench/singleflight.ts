import { cacheOptions, registryOptions, resolverOptions } from '../src/config/options.js';
import { MetadataCache } from '../src/images/cache.js';
import { ImageResolver } from '../src/images/resolver.js';
import type { Resolution } from '../src/images/resolver.js';
import { createMetrics } from '../src/metrics.js';
import type { Metrics } from '../src/metrics.js';
import { DockerConfigKeychain } from '../src/registry/auth/keychain.js';
import { RegistryClient, RegistryTransport } from '../src/registry/index.js';
import type { PushedImage } from '../test/support/images.js';
import { benchConfig, expectThat, imageRef, matches, newStack, timed } from './setup.js';
import type { BenchEnv, Section } from './setup.js';
import { ms, ratio, summarize, table } from './stats.js';
import { describeTraffic, sameTraffic, trafficFromMetrics, trafficOf } from './traffic.js';
import type { Traffic } from './traffic.js';

/**
 * Part 2: 200 concurrent resolutions of 20 images (10 each, interleaved) on one fresh stack, against two
 * designs without single flight or cache sharing, measured in the same run.
 */

const IMAGES = 20;
const PER_IMAGE = 10;
const REPS = 3;

interface Pushed {
  image: string;
  pushed: PushedImage;
  spec: { entrypoint: string[]; cmd: string[] };
}

interface Outcome {
  ms: number;
  proxy: Traffic;
  client: Traffic;
  joins: number;
  correct: boolean;
}

type Design = 'single' | 'perCallStack' | 'perCallResolver';

async function pushImages(env: BenchEnv): Promise<Pushed[]> {
  const out: Pushed[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const n = String(i).padStart(2, '0');
    const spec = { entrypoint: [`/usr/local/bin/fn-${n}`], cmd: ['--mode', `m${n}`] };
    const pushed = await env.pusher.pushImage(`bench/sf-${n}`, 'v1', spec);
    out.push({ image: imageRef(env, `bench/sf-${n}`, 'v1'), pushed, spec });
  }
  return out;
}

/** 200 calls, interleaved: image 0..19, then 0..19 again, ten times. */
function calls(images: readonly Pushed[]): Pushed[] {
  return Array.from({ length: IMAGES * PER_IMAGE }, (_, k) => images[k % IMAGES]!);
}

async function measure(
  env: BenchEnv,
  metrics: Metrics,
  work: readonly Pushed[],
  resolveAt: (k: number) => Promise<Resolution>,
): Promise<Outcome> {
  env.proxy.reset();
  const { ms: took, value } = await timed(() => Promise.all(work.map((_, k) => resolveAt(k))));
  const joins = (await metrics.singleFlightJoins.get()).values[0]?.value ?? 0;
  return {
    ms: took,
    proxy: trafficOf(env.proxy.requests),
    client: await trafficFromMetrics(metrics),
    joins,
    correct: value.every((r, k) => matches(r, work[k]!.pushed, work[k]!.spec)),
  };
}

/** The design under test: one stack, so one cache and the resolver's single flights. */
async function singleStack(env: BenchEnv, work: readonly Pushed[]): Promise<Outcome> {
  const metrics = createMetrics();
  const stack = newStack(env, { metrics });
  try {
    return await measure(env, metrics, work, (k) => stack.resolver.resolve(work[k]!.image));
  } finally {
    await stack.close();
  }
}

/** Baseline A: a whole stack per call (no sharing at all: connections, ping, cache, flights). */
async function stackPerCall(env: BenchEnv, work: readonly Pushed[]): Promise<Outcome> {
  const metrics = createMetrics();
  const stacks = work.map(() => newStack(env, { metrics }));
  try {
    return await measure(env, metrics, work, (k) => stacks[k]!.resolver.resolve(work[k]!.image));
  } finally {
    await Promise.all(stacks.map((s) => s.close()));
  }
}

/**
 * Baseline B: one RegistryClient (connection pool, cached ping) shared, but a fresh MetadataCache and
 * ImageResolver per call: what the service would do without the cache and single flight.
 */
async function resolverPerCall(env: BenchEnv, work: readonly Pushed[]): Promise<Outcome> {
  const config = benchConfig(env);
  const metrics = createMetrics();
  const transport = new RegistryTransport(registryOptions(config), { metrics, log: env.log });
  const client = new RegistryClient({
    transport,
    // The bench registry is anonymous: no Docker config to read.
    keychain: new DockerConfigKeychain([]),
    options: registryOptions(config),
    log: env.log,
  });
  const resolvers = work.map(
    () =>
      new ImageResolver({
        client,
        cache: new MetadataCache(cacheOptions(config)),
        options: resolverOptions(config),
        registryOptions: registryOptions(config),
        metrics,
        log: env.log,
      }),
  );
  try {
    return await measure(env, metrics, work, (k) => resolvers[k]!.resolve(work[k]!.image));
  } finally {
    await transport.close();
  }
}

const DESIGNS: Record<Design, { label: string; run: typeof singleStack }> = {
  single: { label: '**one stack (single flight + cache)**', run: singleStack },
  perCallStack: { label: 'baseline A: fresh stack per call', run: stackPerCall },
  perCallResolver: {
    label: 'baseline B: shared client, fresh cache + resolver per call',
    run: resolverPerCall,
  },
};

export async function singleFlightSection(env: BenchEnv): Promise<Section> {
  const failures: string[] = [];
  const images = await pushImages(env);
  const work = calls(images);
  const results: Record<Design, Outcome[]> = { single: [], perCallStack: [], perCallResolver: [] };
  // Interleave the designs rep by rep so that machine noise spreads over all of them.
  for (let rep = 0; rep < REPS; rep++) {
    for (const design of Object.keys(DESIGNS) as Design[]) {
      results[design].push(await DESIGNS[design].run(env, work));
    }
  }

  const n = work.length;
  const expected: Record<Design, Partial<Traffic>> = {
    single: { ping: 1, manifestGet: IMAGES, blobGet: IMAGES, manifestHead: 0, token: 0 },
    perCallStack: { ping: n, manifestGet: n, blobGet: n, manifestHead: 0, token: 0 },
    perCallResolver: { ping: 1, manifestGet: n, blobGet: n, manifestHead: 0, token: 0 },
  };
  const singleMedian = summarize(results.single.map((o) => o.ms)).median;
  const singleTotal = results.single[0]!.proxy.total;
  const rows = (Object.keys(DESIGNS) as Design[]).map((design) => {
    const outs = results[design];
    const first = outs[0]!;
    const stable = outs.every((o) => sameTraffic(o.proxy, first.proxy));
    const want = expected[design];
    const asExpected = outs.every((o) =>
      (Object.keys(want) as (keyof Traffic)[]).every((k) => o.proxy[k] === want[k]),
    );
    const agree = outs.every((o) => sameTraffic(o.proxy, o.client));
    const correct = outs.every((o) => o.correct);
    const label = DESIGNS[design].label;
    expectThat(failures, stable, `${label}: same requests in all ${REPS} reps`);
    expectThat(
      failures,
      asExpected,
      `${label}: requests ${JSON.stringify(want)} (saw ${describeTraffic(first.proxy)})`,
    );
    expectThat(failures, agree, `${label}: proxy and client metric agree`);
    expectThat(failures, correct, `${label}: every result has the pushed digest/entrypoint/cmd`);
    const s = summarize(outs.map((o) => o.ms));
    return [
      label,
      first.proxy.ping,
      first.proxy.token,
      first.proxy.manifestGet,
      first.proxy.manifestHead,
      first.proxy.blobGet,
      first.proxy.other,
      first.proxy.total,
      ratio(first.proxy.total, singleTotal),
      first.joins,
      stable && asExpected && agree && correct ? '✓' : '✗',
      `${ms(s.median)} (${ms(s.min)}–${ms(s.max)})`,
      ratio(s.median, singleMedian),
    ];
  });
  const joinsOk = expectThat(
    failures,
    results.single.every((o) => o.joins === n - IMAGES),
    `single flight: ${n - IMAGES} joins per rep`,
  );
  const single = results.single[0]!.proxy;
  const a = results.perCallStack[0]!.proxy;
  const b = results.perCallResolver[0]!.proxy;
  const markdown = [
    '## 2. Single flight: 200 concurrent resolutions of 20 images',
    '',
    `${IMAGES} distinct single-arch images (\`bench/sf-00:v1\` … \`bench/sf-19:v1\`), ${n} resolutions fired ` +
      `at once with \`Promise.all\` (${PER_IMAGE} per image, interleaved 0..19, 0..19, …). Counts are what the ` +
      `proxy received in one rep; ✓ means all ${REPS} reps had the same counts, as expected, the client-side ` +
      'metric agreed, and every one of the 200 results carried the pushed digest/Entrypoint/Cmd. Wall time is ' +
      `median (min–max) over ${REPS} reps, designs interleaved; it covers the 200 \`resolve()\` calls only ` +
      '(constructing the stacks/resolvers is excluded).',
    '',
    table(
      [
        'design',
        'ping',
        'token',
        'manifest GET',
        'manifest HEAD',
        'config blob GET',
        'other',
        'total requests',
        'requests ÷ single flight',
        'flight joins',
        'ok',
        'wall',
        'wall ÷ single flight',
      ],
      rows,
    ),
    '',
    `- **Single flight: ${single.manifestGet} manifest GETs and ${single.blobGet} config blob GETs for ${n} ` +
      `resolutions (goal ${IMAGES} each), ${single.ping} ping**; ${n - IMAGES} callers joined a flight ${joinsOk}.`,
    `- Baseline A (nothing shared) sends ${a.total} requests (${ratio(a.total, single.total)} the single-flight ` +
      `run); baseline B, which keeps the connection pool and cached ping but not the cache/flights, sends ` +
      `${b.total} (${ratio(b.total, single.total)}).`,
    '',
  ].join('\n');
  return { markdown, failures };
}
