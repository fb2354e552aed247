import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createResolverStack } from '../src/app/resolver-stack.js';
import type { ResolverStack } from '../src/app/resolver-stack.js';
import { loadConfig } from '../src/config/load.js';
import type { Config } from '../src/config/load.js';
import type { Resolution } from '../src/images/resolver.js';
import { createLogger } from '../src/logging.js';
import type { Logger } from '../src/logging.js';
import { createMetrics } from '../src/metrics.js';
import type { Metrics } from '../src/metrics.js';
import { imagePusher } from '../test/support/images.js';
import type { ImagePusher, PushedImage } from '../test/support/images.js';
import { startProxy } from '../test/support/proxy.js';
import type { TestProxy } from '../test/support/proxy.js';
import { startRegistry } from '../test/support/registry.js';
import type { TestRegistry } from '../test/support/registry.js';

/**
 * One plain docker-registry on 127.0.0.1 with the counting proxy in front of it. Images are pushed to the
 * registry directly, so the proxy only ever sees the resolver's requests.
 */
export interface BenchEnv {
  registry: TestRegistry;
  proxy: TestProxy;
  pusher: ImagePusher;
  log: Logger;
  /** An empty HOME, so the default keychain finds no Docker config (anonymous pulls, as on a plain registry). */
  home: string;
  stop(): Promise<void>;
}

export async function startBenchEnv(): Promise<BenchEnv> {
  const home = mkdtempSync(join(tmpdir(), 'fn-pinner-bench-home-'));
  const registry = await startRegistry('plain');
  let proxy: TestProxy;
  try {
    proxy = await startProxy(registry.url);
  } catch (err) {
    await registry.stop();
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
  return {
    registry,
    proxy,
    pusher: imagePusher(registry),
    log: createLogger({ level: 'silent' }),
    home,
    stop: async () => {
      await proxy.stop();
      await registry.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The `resolve` command's configuration: the proxy as an insecure (plain HTTP) registry, logging silenced. */
export function benchConfig(env: BenchEnv, tagTtl = '300'): Config {
  return loadConfig(
    'resolve',
    { insecureRegistry: [env.proxy.host], tagTtl, logLevel: 'silent' },
    { HOME: env.home },
  );
}

export function newStack(env: BenchEnv, opts: { metrics?: Metrics; tagTtl?: string } = {}): ResolverStack {
  return createResolverStack(benchConfig(env, opts.tagTtl), env.log, opts.metrics ?? createMetrics());
}

/** `127.0.0.1:PORT/repo:tag` through the proxy. */
export function imageRef(env: BenchEnv, repo: string, tag: string): string {
  return `${env.proxy.host}/${repo}:${tag}`;
}

export interface Timed<T> {
  ms: number;
  value: T;
}

export async function timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

/** The resolution returned what was pushed: digest, entrypoint and cmd. */
export function matches(
  r: Resolution,
  pushed: PushedImage,
  spec: { entrypoint: string[]; cmd: string[] },
): boolean {
  const m = r.metadata;
  return (
    m.digest === pushed.digest &&
    m.manifestDigest === pushed.digest &&
    JSON.stringify(m.entrypoint) === JSON.stringify(spec.entrypoint) &&
    JSON.stringify(m.cmd) === JSON.stringify(spec.cmd)
  );
}

/** One part of the report, and the expectations it found broken (request counts, outcomes, content). */
export interface Section {
  markdown: string;
  failures: string[];
}

/** Records an expectation; returns ✓/✗ for the report. */
export function expectThat(failures: string[], ok: boolean, what: string): string {
  if (!ok) failures.push(what);
  return ok ? '✓' : '✗';
}
