/**
 * Audit benchmark (issue 11): "auditing 1,000 pods that share 20 images makes about 20 registry resolutions,
 * not 1,000". A real docker-registry on 127.0.0.1 behind the counting proxy; the same 1,000 pods audited by
 * fn-pinner's audit and by two baselines that resolve per container, alternating, in the same run; then the
 * CLI on a file, and (with KUBEBUILDER_ASSETS) the CLI listing the pods from a real kube-apiserver.
 * Bounded in count and time; writes docs/benchmarks.audit.md. Exits 1 if a count expectation fails.
 *
 *   npm run bench:audit
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { auditPods } from '../src/audit/audit.js';
import type { AuditSummary } from '../src/audit/types.js';
import { run } from '../src/cli/main.js';
import { BULK_RESOLVE_CONCURRENCY } from '../src/config/tunables.js';
import { createMetrics } from '../src/metrics.js';
import type { Metrics } from '../src/metrics.js';
import { ImageReference } from '../src/reference/reference.js';
import { forEachLimit } from '../src/util/limit.js';
import { startKube } from '../test/support/kube.js';
import { expectThat, imageRef, newStack, startBenchEnv, timed } from './setup.js';
import type { BenchEnv } from './setup.js';
import { median, ms, ratio, table } from './stats.js';
import { describeTraffic, trafficOf } from './traffic.js';
import type { Traffic } from './traffic.js';

const REPORT = fileURLToPath(new URL('../docs/benchmarks.audit.md', import.meta.url));
const PODS = 1_000;
const IMAGES = 20;
/** Images whose tag moves after the pods were pinned: their pods drift. */
const MOVED = 5;
const REPS = 3;
const BUDGET_MS = 240_000;

interface Outcome {
  ms: number;
  /** resolve() calls, and those that were not answered from the cache. */
  calls: number;
  reachedRegistry: number;
  traffic: Traffic;
}

function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Pod i runs image i mod 20: pinned to its digest when it was pushed, every tenth one unpinned. */
async function makePods(env: BenchEnv): Promise<{ pods: unknown[]; expected: AuditSummary }> {
  const pinned: string[] = [];
  const plain: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const repo = `bench/audit-${String(i).padStart(2, '0')}`;
    const pushed = await env.pusher.pushImage(repo, 'v1', { entrypoint: [`/fn-${i}`] });
    plain.push(imageRef(env, repo, 'v1'));
    pinned.push(`${imageRef(env, repo, 'v1')}@${pushed.digest}`);
    if (i < MOVED) await env.pusher.pushImage(repo, 'v1', { entrypoint: [`/fn-${i}`], layerText: 'moved' });
  }
  const expected: AuditSummary = {
    pods: PODS,
    containers: PODS,
    pinned: 0,
    unpinned: 0,
    drift: 0,
    unresolvable: 0,
  };
  const pods = Array.from({ length: PODS }, (_, i) => {
    const k = i % IMAGES;
    const unpinned = i % 10 === 9;
    expected[unpinned ? 'unpinned' : k < MOVED ? 'drift' : 'pinned']++;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `fn-${i}`, namespace: 'porch-fn-system' },
      spec: { containers: [{ name: 'function', image: unpinned ? plain[k] : pinned[k] }] },
    };
  });
  return { pods, expected };
}

async function counted(metrics: Metrics): Promise<{ calls: number; reachedRegistry: number }> {
  const values = (await metrics.resolutionSeconds.get()).values.filter((v) =>
    v.metricName?.endsWith('_count'),
  );
  const calls = values.reduce((n, v) => n + v.value, 0);
  const hits = values.filter((v) => v.labels.cache === 'hit').reduce((n, v) => n + v.value, 0);
  return { calls, reachedRegistry: calls - hits };
}

/** The tag each container would compare: what a naive auditor resolves, once per container. */
function tagsOf(pods: unknown[]): ImageReference[] {
  return pods.map((p) => {
    const image = (p as { spec: { containers: Array<{ image: string }> } }).spec.containers[0]!.image;
    const ref = ImageReference.parse(image);
    return ImageReference.parse(`${ref.writtenName}:${ref.tag}`);
  });
}

type Design = (env: BenchEnv, pods: unknown[], metrics: Metrics) => Promise<unknown>;

const DESIGNS: Record<string, Design> = {
  '**fn-pinner audit** (each distinct tag once, one fresh cached resolver per run)': async (
    env,
    pods,
    metrics,
  ) => {
    const stack = newStack(env, { metrics });
    try {
      return await auditPods(pods, {
        source: stack.resolver,
        drift: true,
        concurrency: BULK_RESOLVE_CONCURRENCY,
      });
    } finally {
      await stack.close();
    }
  },
  'baseline A: one resolution per container, the same cached resolver': async (env, pods, metrics) => {
    const stack = newStack(env, { metrics });
    try {
      await forEachLimit(
        tagsOf(pods),
        BULK_RESOLVE_CONCURRENCY,
        async (ref) => void (await stack.resolver.resolve(ref)),
      );
    } finally {
      await stack.close();
    }
  },
  'baseline B: one resolution per container, nothing shared (`fn-pinner resolve` per container)': async (
    env,
    pods,
    metrics,
  ) => {
    await forEachLimit(tagsOf(pods), BULK_RESOLVE_CONCURRENCY, async (ref) => {
      const stack = newStack(env, { metrics });
      try {
        await stack.resolver.resolve(ref);
      } finally {
        await stack.close();
      }
    });
  },
};

async function measure(
  env: BenchEnv,
  pods: unknown[],
  design: Design,
): Promise<Outcome & { result: unknown }> {
  env.proxy.reset();
  const metrics = createMetrics();
  const { ms: took, value } = await timed(() => design(env, pods, metrics));
  return { ms: took, ...(await counted(metrics)), traffic: trafficOf(env.proxy.requests), result: value };
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; ms: number }> {
  let stdout = '';
  const started = performance.now();
  const code = await run(['node', 'fn-pinner', ...args], {
    env: { HOME: tmpdir() },
    stdout: (s) => void (stdout += s),
    stderr: (s) => void process.stderr.write(s),
  });
  return { code, stdout, ms: performance.now() - started };
}

async function designsSection(
  env: BenchEnv,
  pods: unknown[],
  expected: AuditSummary,
  failures: string[],
): Promise<string> {
  const runs: Record<string, Outcome[]> = Object.fromEntries(Object.keys(DESIGNS).map((k) => [k, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const [label, design] of Object.entries(DESIGNS)) {
      progress(`rep ${rep + 1}/${REPS}: ${label}`);
      const outcome = await measure(env, pods, design);
      runs[label]!.push(outcome);
      if (label.startsWith('**')) {
        const summary = (outcome.result as { summary: AuditSummary }).summary;
        expectThat(
          failures,
          JSON.stringify(summary) === JSON.stringify(expected),
          `audit summary ${JSON.stringify(summary)}`,
        );
      }
    }
  }
  const [ours, naiveShared, naive] = Object.values(runs).map((o) => o.at(-1)!);
  const marks = [
    expectThat(failures, ours!.calls === IMAGES, `audit: ${ours!.calls} resolutions, want ${IMAGES}`),
    expectThat(
      failures,
      ours!.traffic.manifestGet === IMAGES && ours!.traffic.blobGet === IMAGES && ours!.traffic.ping === 1,
      `audit: ${describeTraffic(ours!.traffic)}, want 1 ping, ${IMAGES} manifest GETs, ${IMAGES} config GETs`,
    ),
    expectThat(failures, naiveShared!.calls === PODS, `baseline A: ${naiveShared!.calls} resolutions`),
    expectThat(
      failures,
      naive!.traffic.manifestGet === PODS,
      `baseline B: ${naive!.traffic.manifestGet} manifest GETs`,
    ),
  ];
  const baseline = median(runs[Object.keys(DESIGNS)[2]!]!.map((o) => o.ms));
  const rows = Object.entries(runs).map(([label, outcomes], i) => {
    const last = outcomes.at(-1)!;
    const time = median(outcomes.map((o) => o.ms));
    return [
      label,
      last.calls,
      last.reachedRegistry,
      last.traffic.total,
      describeTraffic(last.traffic),
      ms(time),
      ratio(time, baseline),
      marks[i] ?? '',
    ];
  });
  return [
    `## 1. ${PODS} pods sharing ${IMAGES} images (${MOVED} of whose tags moved), in memory`,
    '',
    `Every tenth pod unpinned, the others pinned to the digest their tag had; ${REPS} alternating runs, median time, ` +
      `counts from the last run (identical in every run). Concurrency ${BULK_RESOLVE_CONCURRENCY} in every design.`,
    '',
    table(
      [
        'design',
        'resolve() calls',
        'not from cache',
        'registry requests',
        'of which',
        'median time',
        '÷ baseline B',
        '',
      ],
      rows,
    ),
    '',
    `Expected classification: ${JSON.stringify(expected)}.`,
    '',
  ].join('\n');
}

async function cliSection(env: BenchEnv, pods: unknown[], failures: string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-bench-audit-'));
  try {
    const file = join(dir, 'pods.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }));
    // Module loading (tsx compiles on the fly) is not the audit's cost: one untimed run first.
    writeFileSync(join(dir, 'one.json'), JSON.stringify(pods[0]));
    await cli(['audit', '-f', join(dir, 'one.json'), '--no-drift']);
    env.proxy.reset();
    const r = await cli(['audit', '-f', file, '--json', '--insecure-registry', env.proxy.host]);
    const traffic = trafficOf(env.proxy.requests);
    const mark = expectThat(
      failures,
      r.code === 0 && traffic.manifestGet === IMAGES,
      `CLI -f: exit ${r.code}, ${describeTraffic(traffic)}`,
    );
    const rows = [
      [`\`fn-pinner audit -f pods.json --json\` (${PODS} pods)`, describeTraffic(traffic), ms(r.ms), mark],
    ];
    rows.push(...(await clusterRows(env, pods, failures)));
    return [
      '## 2. The command, end to end (in-process, one run)',
      '',
      table(['run', 'registry requests', 'time', ''], rows),
      '',
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Only with KUBEBUILDER_ASSETS (the e2e suite's binaries): never builds kube-apiserver for a benchmark. */
async function clusterRows(env: BenchEnv, pods: unknown[], failures: string[]): Promise<string[][]> {
  if (!process.env.KUBEBUILDER_ASSETS)
    return [['listing from a kube-apiserver', 'skipped: KUBEBUILDER_ASSETS not set', '', '']];
  progress('starting kube-apiserver and creating the pods');
  const kube = await startKube();
  try {
    await kube.createNamespace('porch-fn-system');
    await forEachLimit(pods, 20, async (p) => void (await kube.create(p as never)));
    // Loading the Kubernetes client (compiled on the fly by tsx) is not the audit's cost: one untimed run.
    await cli(['audit', '--kubeconfig', kube.kubeconfigPath, '--no-drift', '-n', 'default']);
    env.proxy.reset();
    const r = await cli([
      'audit',
      '--kubeconfig',
      kube.kubeconfigPath,
      '--json',
      '--insecure-registry',
      env.proxy.host,
    ]);
    const traffic = trafficOf(env.proxy.requests);
    const listed = JSON.parse(r.stdout).summary.pods as number;
    const mark = expectThat(
      failures,
      r.code === 0 && listed === PODS,
      `CLI cluster: exit ${r.code}, ${listed} pods`,
    );
    const noDrift = await cli(['audit', '--kubeconfig', kube.kubeconfigPath, '--json', '--no-drift']);
    return [
      [
        `\`fn-pinner audit\` listing ${PODS} pods from kube-apiserver v1.20.2 (2 pages)`,
        describeTraffic(traffic),
        ms(r.ms),
        mark,
      ],
      ['the same with `--no-drift` (listing and classifying only)', 'none', ms(noDrift.ms), ''],
    ];
  } finally {
    await kube.stop();
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const watchdog = setTimeout(() => {
    progress(`still running after ${BUDGET_MS / 1000} s; giving up`);
    process.exit(2);
  }, BUDGET_MS);
  watchdog.unref();
  const failures: string[] = [];
  const env = await startBenchEnv();
  let sections: string[];
  try {
    const { pods, expected } = await makePods(env);
    sections = [await designsSection(env, pods, expected, failures), await cliSection(env, pods, failures)];
  } finally {
    await env.stop();
  }
  const cpu = cpus();
  const report = [
    '# Audit benchmark',
    '',
    'Generated by `npm run bench:audit` (bench/audit.ts); overwritten on every run. Loopback only.',
    '',
    `- date: ${new Date().toISOString()}`,
    `- node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    '',
    ...sections,
    '## Expectations',
    '',
    failures.length ? failures.map((f) => `- ✗ ${f}`).join('\n') : 'All count expectations held ✓.',
    '',
    `Total run time ${ms(performance.now() - started)}.`,
    '',
  ].join('\n');
  writeFileSync(REPORT, report);
  process.stdout.write(report);
  clearTimeout(watchdog);
  if (failures.length) process.exitCode = 1;
}

await main();
