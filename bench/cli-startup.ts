/**
 * `npm run bench:cli`: how long `fn-pinner resolve` takes as a whole process, against `node -e ''` and
 * `skopeo inspect` of the same image in the same run (interleaved, so machine noise hits all alike), and
 * how long `serve` takes from spawn to a ready /healthz. Writes docs/benchmarks.cli.md.
 *
 * The image is on a plain docker-registry on 127.0.0.1; nothing is cached between runs (each is a new
 * process). fn-pinner runs as installed: bin/fn-pinner.js over the esbuild bundle in dist/ (`npm run build`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';

import { imagePusher } from '../test/support/images.js';
import { startRegistry } from '../test/support/registry.js';
import { ms, median, table } from './stats.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'fn-pinner.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 15);

function timeRun(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const started = performance.now();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const elapsed = performance.now() - started;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return elapsed;
}

async function serveReadyMs(env: NodeJS.ProcessEnv): Promise<number> {
  const certDir = mkdtempSync(join(tmpdir(), 'fn-pinner-bench-certs-'));
  // Certificates are generated once up front, so this measures start-up, not RSA key generation.
  spawnSync(process.execPath, [BIN, 'gen-certs', '--cert-dir', certDir], { env });
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--cert-dir', certDir],
    {
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"port":(\d+)[^\n]*"msg":"fn-pinner webhook listening"/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`serve exited: ${out}`)));
  });
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(certDir, 'ca.crt'), 'utf8') } });
  const res = await request(`https://127.0.0.1:${port}/healthz`, { dispatcher });
  await res.body.text();
  const elapsed = performance.now() - started;
  await dispatcher.close();
  child.kill('SIGKILL');
  rmSync(certDir, { recursive: true, force: true });
  return elapsed;
}

/** Other Node releases to compare, e.g. the production image's: BENCH_NODES=/path/to/node26 (colon-separated). */
const NODES = [process.execPath, ...(process.env.BENCH_NODES ?? '').split(':').filter(Boolean)];

function version(node: string): string {
  return spawnSync(node, ['--version']).stdout.toString().trim();
}

interface NodeRow {
  node: string;
  base: number;
  resolve: number;
}

/** Interleaved runs of `node -e ''` and `fn-pinner resolve` on one Node; the compile cache is warmed first. */
function measure(node: string, image: string, host: string, env: NodeJS.ProcessEnv): NodeRow {
  const resolveArgs = [BIN, 'resolve', image, '--json', '--insecure-registry', host];
  timeRun(node, resolveArgs, env);
  const base: number[] = [];
  const resolve: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    base.push(timeRun(node, ['-e', ''], env));
    resolve.push(timeRun(node, resolveArgs, env));
  }
  return { node: version(node), base: median(base), resolve: median(resolve) };
}

const registry = await startRegistry('plain');
const home = mkdtempSync(join(tmpdir(), 'fn-pinner-bench-home-'));
const env = { PATH: process.env.PATH, HOME: home };
try {
  await imagePusher(registry).pushImage('fn/app', 'v1', { entrypoint: ['/app'], cmd: ['--serve'] });
  const image = `${registry.host}/fn/app:v1`;
  const perNode = NODES.map((node) => measure(node, image, registry.host, env));
  const skopeo: number[] = [];
  if (spawnSync('skopeo', ['--version']).status === 0) {
    for (let i = 0; i < RUNS; i++)
      skopeo.push(timeRun('skopeo', ['inspect', '--tls-verify=false', `docker://${image}`], env));
  }
  const serve: number[] = [];
  for (let i = 0; i < 5; i++) serve.push(await serveReadyMs(env));
  const base = perNode[0]!.base;
  const rows = [
    ...perNode.flatMap((r) => [
      [`Node ${r.node}: node -e ''`, ms(r.base), '1.00×'],
      [`Node ${r.node}: fn-pinner resolve`, ms(r.resolve), `${(r.resolve / r.base).toFixed(2)}×`],
    ]),
    ...(skopeo.length
      ? [
          [
            'skopeo inspect (Go)',
            ms(median(skopeo)),
            `${(median(skopeo) / base).toFixed(2)}× (of the first node -e '')`,
          ],
        ]
      : []),
    [
      `Node ${perNode[0]!.node}: fn-pinner serve → /healthz ready`,
      ms(median(serve)),
      `${(median(serve) / base).toFixed(2)}×`,
    ],
  ];
  const report = [
    '# CLI start-up (generated by `npm run bench:cli`)',
    '',
    `${RUNS} interleaved runs per row (serve: 5), medians; each ratio is against \`node -e ''\` on the same Node in the same run.`,
    'fn-pinner runs as installed (bin/fn-pinner.js over the esbuild bundle); the registry is docker-registry on 127.0.0.1.',
    '',
    table(['command', 'median wall time', 'ratio'], rows),
    '',
  ].join('\n');
  writeFileSync(join(ROOT, 'docs', 'benchmarks.cli.md'), report);
  console.log(report);
} finally {
  await registry.stop();
  rmSync(home, { recursive: true, force: true });
}
