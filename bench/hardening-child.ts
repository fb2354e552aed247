import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * One measured fn-pinner in its own process (so RSS is its own), loaded from the source tree given as the
 * first argument: this tree's src/, or an older checkout's, which is how before/after figures come from
 * the same run. Talks to a hostile registry started by bench/hardening.ts, and prints one JSON line.
 *
 *   tsx --expose-gc bench/hardening-child.ts SRC SCENARIO REGISTRY_HOST [ARGS...]
 */

type Json = Record<string, unknown>;

interface Stack {
  resolver: { resolve(image: string): Promise<unknown> };
  close(): Promise<void>;
}

const [srcArg, scenario, host, ...rest] = process.argv.slice(2) as [string, string, string, ...string[]];
const src = resolve(srcArg);

async function load(): Promise<{
  decide: (request: Json, deps: Json) => Promise<{ response: Json; reason: string }>;
  stack: Stack;
  config: Json & { admission: Json };
  log: unknown;
  memo: unknown;
}> {
  type Fn = (...a: unknown[]) => unknown;
  const mod = async (path: string, name: string): Promise<Fn> =>
    ((await import(join(src, path))) as Record<string, Fn>)[name]!;
  const opts: Json = { insecureRegistry: [host], logLevel: 'silent', tagTtl: '1' };
  const env = { HOME: mkdtempSync(join(tmpdir(), 'fnp-bench-')) };
  // Two layouts: src/config/ + src/app/ (settings declared once), or the older config.ts + compose.ts.
  const layered = existsSync(join(src, 'config', 'load.ts'));
  let config: Json & { admission: Json };
  let createResolverStack: Fn;
  if (layered) {
    const loaded = (await mod('config/load.ts', 'loadConfig'))('mutate', opts, env) as Json;
    const admission = (await mod('config/options.ts', 'admissionOptions'))(loaded) as Json;
    config = Object.assign(loaded, { admission });
    createResolverStack = await mod('app/resolver-stack.ts', 'createResolverStack');
  } else {
    config = (await mod('config.ts', 'loadAdmissionConfig'))(opts, env) as Json & { admission: Json };
    createResolverStack = await mod('compose.ts', 'createResolverStack');
  }
  const decide = await mod('admission/handler.ts', 'decide');
  const createLogger = await mod('logging.ts', 'createLogger');
  const createMetrics = await mod('metrics.ts', 'createMetrics');
  const log = createLogger({ level: 'silent' });
  const stack = createResolverStack(config, log, createMetrics()) as Stack;
  const { PlatformMemo } = (await import(join(src, 'mutation/multiarch.ts'))) as {
    PlatformMemo: new () => unknown;
  };
  return { decide: decide as never, stack, config, log, memo: new PlatformMemo() };
}

function review(images: string[], uid: string): Json {
  const containers = images.map((image, i) => ({ name: `c${i}`, image }));
  return {
    uid,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'porch-fn-system',
    operation: 'CREATE',
    object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers } },
  };
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function rssMiB(): number {
  return Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10;
}

/**
 * Reviews of pods with these images, all at once: each argument is one pod, its images comma-separated.
 * Peak RSS is sampled every 10 ms from just before the reviews until the registry went quiet.
 */
async function reviewOnce(pods: string[]): Promise<Json> {
  const { decide, stack, config, log, memo } = await load();
  gc();
  const before = rssMiB();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB())), 10);
  const started = performance.now();
  const decisions = await Promise.all(
    pods.map((images, i) =>
      decide(review(images.split(','), `u${i}`), {
        source: stack.resolver,
        options: config.admission,
        log,
        platformMemo: memo,
      }),
    ),
  );
  const ms = performance.now() - started;
  // The platform check may go on in the background after the review answered: the parent waits until the
  // registry sees no more requests, then says go.
  process.stdout.write('{"ready":true}\n');
  await new Promise<void>((r) => process.stdin.once('data', () => r()));
  clearInterval(sampler);
  await stack.close();
  const d = decisions[0]!;
  const status = (d.response.status as Json | undefined)?.message;
  return {
    reasons: decisions.map((x) => x.reason),
    ms,
    rssBefore: before,
    rssPeak: peak,
    error: typeof status === 'string' ? status.slice(0, 300) : undefined,
  };
}

/** Reviews during an outage: the tag went stale (TTL 1 s) and the registry now hangs (the parent arranges). */
async function outage(image: string): Promise<Json> {
  const { decide, stack, config, log } = await load();
  await decide(review([image], 'warm'), { source: stack.resolver, options: config.admission, log });
  process.stdout.write('{"ready":true}\n');
  await new Promise<void>((r) => process.stdin.once('data', () => r()));
  const times: number[] = [];
  for (let i = 0; i < Number(rest[1] ?? 3); i++) {
    const started = performance.now();
    const d = await decide(review([image], `o${i}`), {
      source: stack.resolver,
      options: config.admission,
      log,
    });
    times.push(Math.round(performance.now() - started));
    if (d.reason !== 'Patched') times.push(-1);
  }
  await stack.close();
  return { times };
}

/** Heap held after resolving N distinct single-arch images (everything else warmed by one resolution). */
async function cacheBytes(images: string[]): Promise<Json> {
  const { stack } = await load();
  await stack.resolver.resolve(images[0]!);
  gc();
  gc();
  const base = process.memoryUsage().heapUsed;
  const queue = images.slice(1);
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await stack.resolver.resolve(next);
    }),
  );
  // Each resolution's deadline signal lives until its timer fires (8 s): let them go before measuring.
  await new Promise((r) => setTimeout(r, 9_000));
  gc();
  gc();
  const held = process.memoryUsage().heapUsed - base;
  const n = images.length - 1;
  // What stays once the cache is emptied: anything else a resolution leaves behind.
  (stack as unknown as { cache: { clear(): void } }).cache.clear();
  gc();
  gc();
  const rest = process.memoryUsage().heapUsed - base;
  await stack.close();
  return {
    images: n,
    bytesPerImage: Math.round(held / n),
    bytesPerImageOutsideCache: Math.round(rest / n),
    cacheBytesPerImage: Math.round((held - rest) / n),
  };
}

async function main(): Promise<Json> {
  switch (scenario) {
    case 'review':
      return reviewOnce(rest);
    case 'outage':
      return outage(rest[0]!);
    case 'cache':
      return cacheBytes(Array.from({ length: Number(rest[0]) + 1 }, (_, i) => `${host}/c/img${i}:v1`));
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

main()
  .then((r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  })
  .catch((err: unknown) => {
    process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
    process.exit(1);
  });
