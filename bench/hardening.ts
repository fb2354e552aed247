import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

import { startHostileRegistry } from '../test/support/hostile-registry.js';
import type { HostileRegistry } from '../test/support/hostile-registry.js';

/**
 * The registry-hardening figures (issue 8): requests and memory a hostile registry can cost one review,
 * cache bytes per image, and the price of a review during an outage with a stale tag. Each scenario runs
 * in a fresh child process (bench/hardening-child.ts) against a hostile registry in this process, once
 * per source tree: `BASE_SRC=/path/to/older/checkout/src` adds the "before" column from the same run.
 *
 *   npm run bench:hardening                      # this tree only
 *   BASE_SRC=/tmp/fnp-base/src npm run bench:hardening
 *
 * Writes docs/benchmarks.hardening.md.
 */

type Json = Record<string, unknown>;
const CACHE_IMAGES = Number(process.env.CACHE_IMAGES ?? 10_000);
const BIG_CMD = 7.9 * 2 ** 20;

interface Child {
  result: Json;
  /** Registry requests seen at each `{"mark":n}` line, then at the end. */
  marks: number[];
}

function runChild(
  src: string,
  args: string[],
  reg: HostileRegistry,
  onReady?: (write: () => void) => void,
): Promise<Child> {
  const child = spawn('node', ['--expose-gc', '--import', 'tsx', 'bench/hardening-child.ts', src, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const marks: number[] = [];
  let result: Json = {};
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const msg = JSON.parse(line) as Json;
    if (msg.ready) onReady?.(() => child.stdin.write('go\n'));
    else if (msg.mark !== undefined) marks.push(reg.requests.length);
    else result = msg;
  });
  return new Promise((resolve) =>
    child.once('exit', () => {
      marks.push(reg.requests.length);
      resolve({ result, marks });
    }),
  );
}

/**
 * Calls `go` once the registry has seen no request for 3 s (at most 120 s): long enough that a child
 * busy in one synchronous stretch (parsing an 8,000-entry index) is not taken for done.
 */
function whenQuiet(reg: HostileRegistry, go: () => void): void {
  let last = -1;
  let quiet = 0;
  const started = Date.now();
  const timer = setInterval(() => {
    quiet = reg.requests.length === last ? quiet + 1 : 0;
    last = reg.requests.length;
    if (quiet >= 3 || Date.now() - started > 120_000) {
      clearInterval(timer);
      go();
    }
  }, 1_000);
}

/** `pods`: one entry per pod reviewed (all at once), its images comma-separated. */
async function reviewScenario(src: string, reg: HostileRegistry, pods: string[]): Promise<Json> {
  reg.reset();
  const { result, marks } = await runChild(src, ['review', reg.host, ...pods], reg, (go) =>
    whenQuiet(reg, go),
  );
  return { ...result, requests: marks.at(-1) };
}

async function outageScenario(src: string, reg: HostileRegistry, image: string): Promise<Json> {
  reg.intercept = undefined;
  reg.reset();
  const { result } = await runChild(src, ['outage', reg.host, image, '3'], reg, (go) => {
    reg.intercept = () => 'hang';
    // Let the 1 s tag TTL lapse, so every review finds the tag stale.
    setTimeout(go, 1_200);
  });
  reg.intercept = undefined;
  return result;
}

async function measure(src: string, reg: HostileRegistry): Promise<Json> {
  const out: Json = {};
  out.index200 = await reviewScenario(src, reg, [`${reg.host}/h/index200:v1`]);
  out.index4000 = await reviewScenario(src, reg, [`${reg.host}/h/index4000:v1`]);
  out.index8000 = await reviewScenario(src, reg, [`${reg.host}/h/index8000:v1`]);
  // 24 images in 3 pods of 8 reviewed at once (a pod may name at most 10 distinct images now).
  const pods = (prefix: string): string[] =>
    [0, 1, 2].map((p) =>
      Array.from({ length: 8 }, (_, i) => `${reg.host}/h/${prefix}${p * 8 + i}:v1`).join(','),
    );
  out.bigConfigs = await reviewScenario(src, reg, pods('big'));
  out.mibConfigs = await reviewScenario(src, reg, pods('mib'));
  out.outage = await outageScenario(src, reg, `${reg.host}/o/app:v1`);
  reg.reset();
  out.cache = (await runChild(src, ['cache', reg.host, String(CACHE_IMAGES)], reg)).result;
  return out;
}

function seed(reg: HostileRegistry): void {
  reg.addIndex('h/index200', 'v1', 200);
  reg.addIndex('h/index4000', 'v1', 4_000);
  reg.addIndex('h/index8000', 'v1', 8_000);
  const big = 'x'.repeat(BIG_CMD);
  for (let i = 0; i < 24; i++)
    reg.addImage(`h/big${i}`, 'v1', { entrypoint: ['/app'], cmd: [big, String(i)] });
  // Just under the new 1 MiB config limit, the bulk in history (not kept): what is still accepted.
  const history = [{ created_by: 'x'.repeat(1_000_000) }];
  for (let i = 0; i < 24; i++) {
    reg.addImage(`h/mib${i}`, 'v1', { entrypoint: ['/app', String(i)], extra: { history } });
  }
  reg.addImage('o/app', 'v1', { entrypoint: ['/app'] });
  for (let i = 0; i <= CACHE_IMAGES; i++) {
    reg.addImage(`c/img${i}`, 'v1', { entrypoint: [`/usr/local/bin/fn-${i}`], cmd: ['--serve'] });
  }
}

function cell(v: unknown): string {
  if (v === undefined) return '—';
  return typeof v === 'number' ? String(Math.round(v)) : JSON.stringify(v);
}

function report(rows: Array<[string, Json]>): string {
  const get = (r: Json, path: string): unknown =>
    path.split('.').reduce<unknown>((o, k) => (o as Json | undefined)?.[k], r);
  const lines = [
    '| measure | ' + rows.map(([name]) => name).join(' | ') + ' |',
    '|---|' + rows.map(() => '---').join('|') + '|',
  ];
  const measures: Array<[string, string]> = [
    ['200-platform index: registry requests (one review, background work included)', 'index200.requests'],
    ['200-platform index: review time, ms', 'index200.ms'],
    ['4,000-platform index: registry requests', 'index4000.requests'],
    ['4,000-platform index: review time, ms', 'index4000.ms'],
    ['4,000-platform index: RSS before → peak, MiB', 'index4000.rss'],
    ['8,000-platform index: registry requests', 'index8000.requests'],
    ['8,000-platform index: RSS before → peak, MiB', 'index8000.rss'],
    ['24 images with 7.9 MiB configs (3 pods at once): registry requests', 'bigConfigs.requests'],
    ['24 images with 7.9 MiB configs: RSS before → peak, MiB', 'bigConfigs.rss'],
    ['24 images with 0.95 MiB configs (3 pods at once): RSS before → peak, MiB', 'mibConfigs.rss'],
    ['outage, stale tag, registry hangs: 3 reviews, ms each', 'outage.times'],
    [`heap held per single-arch image resolved (${CACHE_IMAGES})`, 'cache.bytesPerImage'],
    ['… of which the metadata cache (the rest stays once it is cleared)', 'cache.cacheBytesPerImage'],
  ];
  for (const [label, path] of measures) {
    const values = rows.map(([, r]) => {
      if (path.endsWith('.rss')) {
        const s = get(r, path.replace('.rss', '')) as Json | undefined;
        return s ? `${cell(s.rssBefore)} → ${cell(s.rssPeak)}` : '—';
      }
      const v = get(r, path);
      return Array.isArray(v) ? v.join(', ') : cell(v);
    });
    lines.push(`| ${label} | ${values.join(' | ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const reg = await startHostileRegistry();
  try {
    seed(reg);
    const trees: Array<[string, string]> = [];
    if (process.env.BASE_SRC) trees.push(['before', process.env.BASE_SRC]);
    if (!process.env.SKIP_AFTER) trees.push(['after', 'src']);
    const rows: Array<[string, Json]> = [];
    for (const [name, src] of trees) {
      process.stderr.write(`bench:hardening: measuring ${name} (${src})\n`);
      rows.push([name, await measure(src, reg)]);
    }
    const md = [
      '# Registry hardening figures (generated by `npm run bench:hardening`)',
      '',
      `Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. Each cell is one fresh process.`,
      '',
      report(rows),
      '',
      '```json',
      JSON.stringify(Object.fromEntries(rows), null, 1),
      '```',
      '',
    ].join('\n');
    writeFileSync('docs/benchmarks.hardening.md', md);
    process.stdout.write(`${report(rows)}\n`);
  } finally {
    await reg.stop();
  }
}

await main();
