/**
 * Admission benchmark: warm-cache AdmissionReviews per second and latency of `fn-pinner serve` over HTTPS
 * keep-alive, against a bare node:https server on the same certificate that answers with a constant
 * AdmissionReview. Max throughput (autocannon, 10 connections) and a fixed 1,000 reviews/s (an open-loop
 * paced client, and autocannon `overallRate`), each run twice in alternation (A B A B), medians reported.
 * Loopback only, about 80 s, stops by itself; prints a markdown report to stdout and writes it to
 * docs/benchmarks.admission.md. Exits 1 if a correctness check fails (wrong patch, errors, non-2xx, a
 * registry request during the load); the throughput and latency goals are reported, not enforced.
 *
 *   npm run bench:admission
 *   FN_PINNER_BENCH_CPU_PROF=/tmp/prof npm run bench:admission     (fn-pinner runs with --cpu-prof)
 *   FN_PINNER_BENCH_ENTRY=bin/fn-pinner.js npm run bench:admission  (compiled dist/ instead of src/ under tsx)
 */
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { request } from 'undici';

import { applyPatch } from '../src/admission/patch.js';
import { writeDockerConfig } from '../test/support/cli.js';
import { imagePusher } from '../test/support/images.js';
import type { PushedImage } from '../test/support/images.js';
import { startRegistry } from '../test/support/registry.js';
import type { TestRegistry } from '../test/support/registry.js';
import {
  COMMAND_PREFIX,
  PULL_SECRET,
  admissionReview,
  functionPod,
  reviewTemplate,
} from './admission-review.js';
import { startBare, startFnPinner } from './admission-servers.js';
import type { FnPinnerProcess, ServerProcess } from './admission-servers.js';
import { startFakeKube } from '../test/support/fake-kube.js';
import type { FakeKube } from '../test/support/fake-kube.js';
import { autocannonOptions, runAutocannon, runPaced } from './load.js';
import type { AutocannonLoad, LoadRun, PacedLoad, Target } from './load.js';
import { check, median, ms, table } from './stats.js';

const REPORT = fileURLToPath(new URL('../docs/benchmarks.admission.md', import.meta.url));
/** Hard stop: the run takes about 80 s; anything past this is a hang. */
const BUDGET_MS = 150_000;
const ROUNDS = 2;
const MAX_LOAD: AutocannonLoad = { connections: 10, seconds: 8 };
const PRIVATE_LOAD: AutocannonLoad = { connections: 10, seconds: 4 };
const RATE_LOAD: AutocannonLoad = { connections: 10, seconds: 4, overallRate: 1000 };
const PACED_LOAD: PacedLoad = { rate: 1000, seconds: 4, connections: 10 };
const WARMUP: AutocannonLoad = { connections: 10, seconds: 2 };
const GOAL_RATIO = 0.5;
const GOAL_P99_MS = 5;
const ENTRYPOINT = ['/usr/local/bin/function'];
const PRIVATE_ENTRYPOINT = ['/team/fn'];
const PRIVATE_CMD = ['--serve'];

function quiet(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

interface Fixture {
  catalog: TestRegistry;
  privateReg: TestRegistry;
  fn: PushedImage;
  privateFn: PushedImage;
  catalogImage: string;
  privateImage: string;
  authFile: string;
  kube: FakeKube;
}

async function startRegistries(): Promise<Fixture> {
  const [catalog, privateReg, kube] = await Promise.all([
    startRegistry('plain'),
    startRegistry('basic'),
    startFakeKube(),
  ]);
  const fn = await imagePusher(catalog).pushImage('catalog/set-namespace', 'v0.4', {
    entrypoint: ENTRYPOINT,
  });
  const privateFn = await imagePusher(privateReg).pushImage('team/fn', 'v1', {
    entrypoint: PRIVATE_ENTRYPOINT,
    cmd: PRIVATE_CMD,
  });
  return {
    catalog,
    privateReg,
    fn,
    privateFn,
    catalogImage: `${catalog.host}/catalog/set-namespace:v0.4`,
    privateImage: `${privateReg.host}/team/fn:v1`,
    authFile: writeDockerConfig({ [privateReg.host]: [privateReg.username, privateReg.password] }),
    kube,
  };
}

/** The flags of a Porch-like deployment: catalog as default registry, a private registry with its secret. */
function serveFlags(f: Fixture): string[] {
  return [
    '--insecure-registry',
    f.catalog.host,
    '--insecure-registry',
    f.privateReg.host,
    '--default-registry',
    `${f.catalog.host}/catalog/`,
    '--enable-private-registries',
    'true',
    '--registry-auth-secret-path',
    f.authFile,
    '--command-prefix',
    JSON.stringify(COMMAND_PREFIX),
    '--kubeconfig',
    f.kube.kubeconfigPath,
  ];
}

interface Answer {
  status: number;
  text: string;
  body: any;
}

async function post(server: ServerProcess, review: unknown): Promise<Answer> {
  const res = await request(`${server.url}/mutate?timeout=10s`, {
    method: 'POST',
    dispatcher: server.dispatcher,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(review),
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, body: JSON.parse(text) };
}

/** Checks recorded for the report: [what, ok]. */
type Checks = Array<[string, boolean]>;

interface Expected {
  image: string;
  pinned: string;
  command: string[];
  args: string[] | undefined;
  pullSecrets: string[];
}

/** POSTs one review (certificate verified), decodes the patch, applies it and checks the pod that results. */
async function admitOnce(
  server: ServerProcess,
  e: Expected,
  checks: Checks,
  what: string,
): Promise<{ patch: string; answer: Answer }> {
  const pod = functionPod(e.image);
  const uid = randomUUID();
  const answer = await post(server, admissionReview(pod, uid));
  const r = answer.body?.response ?? {};
  const ops = typeof r.patch === 'string' ? JSON.parse(Buffer.from(r.patch, 'base64').toString()) : [];
  const out: any = applyPatch(pod, ops);
  const c = out.spec?.containers?.[0] ?? {};
  const ok =
    answer.status === 200 &&
    r.uid === uid &&
    r.allowed === true &&
    r.patchType === 'JSONPatch' &&
    c.image === e.pinned &&
    JSON.stringify(c.command) === JSON.stringify(e.command) &&
    JSON.stringify(c.args) === JSON.stringify(e.args) &&
    JSON.stringify(out.spec.imagePullSecrets.map((s: { name: string }) => s.name)) ===
      JSON.stringify(e.pullSecrets);
  checks.push([
    `${what}: 200, uid echoed, allowed, JSONPatch → image \`…@${e.pinned.split('@')[1]!.slice(0, 19)}…\`, ` +
      `command ${JSON.stringify(c.command)}${e.args ? `, args ${JSON.stringify(e.args)}` : ''}, ` +
      `imagePullSecrets ${JSON.stringify(e.pullSecrets)}`,
    ok,
  ]);
  if (!ok) progress(`unexpected answer for ${what}: ${answer.text}`);
  return { patch: String(r.patch), answer };
}

/** The body check used under load: the expected patch, allowed. Cheap (two substring searches). */
function verifier(patch: string): (body: string) => boolean {
  const needle = `"patch":"${patch}"`;
  return (body) => body.includes(needle) && body.includes('"allowed":true');
}

interface Counters {
  registryRequests: number;
  cacheMisses: number;
  cacheRevalidated: number;
  patched: number;
}

async function counters(server: ServerProcess): Promise<Counters> {
  const res = await request(`${server.url}/metrics`, { dispatcher: server.dispatcher });
  const text = await res.body.text();
  const sum = (re: RegExp): number =>
    text
      .split('\n')
      .filter((l) => re.test(l))
      .reduce((acc, l) => acc + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    registryRequests: sum(/^fn_pinner_registry_requests_total[{ ]/),
    cacheMisses: sum(/^fn_pinner_cache_lookups_total\{.*result="miss"/),
    cacheRevalidated: sum(/^fn_pinner_cache_lookups_total\{.*result="revalidated"/),
    patched: sum(/^fn_pinner_admission_reviews_total\{reason="Patched"\}/),
  };
}

interface Runs {
  max: Record<'fn' | 'bare' | 'private', LoadRun[]>;
  paced: Record<'fn' | 'bare', LoadRun[]>;
  rate: Record<'fn' | 'bare', LoadRun[]>;
}

function describeRun(r: LoadRun): string {
  return (
    `${r.server} ${r.mode}: ${r.rps.toFixed(0)}/s, p50 ${ms(r.p50)}, p99 ${ms(r.p99)}, ` +
    `errors ${r.errors}, non-2xx ${r.non2xx}, mismatches ${r.mismatches}`
  );
}

async function measure(fn: Target, bare: Target, priv: Target): Promise<Runs> {
  const runs: Runs = {
    max: { fn: [], bare: [], private: [] },
    paced: { fn: [], bare: [] },
    rate: { fn: [], bare: [] },
  };
  const note = (r: LoadRun): LoadRun => {
    progress(`  ${describeRun(r)}`);
    return r;
  };
  const pause = (): Promise<void> => sleep(300);
  for (let round = 1; round <= ROUNDS; round++) {
    progress(`round ${round}/${ROUNDS}: max throughput (${MAX_LOAD.connections} connections)`);
    runs.max.fn.push(note(await runAutocannon(fn, MAX_LOAD)));
    await pause();
    runs.max.bare.push(note(await runAutocannon(bare, MAX_LOAD)));
    await pause();
    runs.max.private.push(note(await runAutocannon(priv, PRIVATE_LOAD)));
    await pause();
    progress(`round ${round}/${ROUNDS}: paced ${PACED_LOAD.rate}/s`);
    runs.paced.fn.push(note(await runPaced(fn, PACED_LOAD)));
    await pause();
    runs.paced.bare.push(note(await runPaced(bare, PACED_LOAD)));
    await pause();
    progress(`round ${round}/${ROUNDS}: autocannon overallRate ${RATE_LOAD.overallRate}`);
    runs.rate.fn.push(note(await runAutocannon(fn, RATE_LOAD)));
    await pause();
    runs.rate.bare.push(note(await runAutocannon(bare, RATE_LOAD)));
    await pause();
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------- report

const med = (runs: readonly LoadRun[], pick: (r: LoadRun) => number): number => median(runs.map(pick));
const each = (runs: readonly LoadRun[], fmt: (r: LoadRun) => string): string => runs.map(fmt).join(' / ');
const perSec = (v: number): string => `${Math.round(v).toLocaleString('en')}/s`;
const micros = (seconds: number): string => `${Math.round(seconds * 1e6).toLocaleString('en')} µs`;
const cpuPerReview = (r: LoadRun): number => r.serverCpu / Math.max(1, r.responses);
const clientCores = (r: LoadRun): string => `${(r.clientCpu / r.seconds).toFixed(2)}`;
const serverCores = (r: LoadRun): string => `${(r.serverCpu / r.seconds).toFixed(2)}`;

function maxSection(runs: Runs): { markdown: string; ratio: number } {
  const fnRps = med(runs.max.fn, (r) => r.rps);
  const bareRps = med(runs.max.bare, (r) => r.rps);
  const privRps = med(runs.max.private, (r) => r.rps);
  const ratio = fnRps / bareRps;
  const row = (label: string, rs: LoadRun[]): Array<string | number> => [
    label,
    each(rs, (r) => perSec(r.rps)),
    `**${perSec(med(rs, (r) => r.rps))}**`,
    ms(med(rs, (r) => r.p50)),
    ms(med(rs, (r) => r.p99)),
    `${med(rs, (r) => r.acP99 ?? Number.NaN)} ms`,
    micros(med(rs, cpuPerReview)),
    each(rs, serverCores),
    each(rs, clientCores),
    rs.reduce((a, r) => a + r.responses, 0).toLocaleString('en'),
  ];
  const perRound = runs.max.fn.map((r, i) => (r.rps / runs.max.bare[i]!.rps).toFixed(2)).join(', ');
  const cpuRatio = med(runs.max.fn, cpuPerReview) / med(runs.max.bare, cpuPerReview);
  const markdown = [
    `## 1. Max throughput (${MAX_LOAD.connections} connections, ${MAX_LOAD.seconds} s per run)`,
    '',
    `autocannon, ${MAX_LOAD.connections} keep-alive HTTPS connections, pipelining 1, each connection sending ` +
      'its next review as soon as the previous answer arrives. Runs alternate fn-pinner, bare, fn-pinner, ' +
      `bare; the custom-registry review ran right after each bare run (${PRIVATE_LOAD.seconds} s). ` +
      'Latency percentiles come from every response (sub-ms); "ac p99" is autocannon\'s own (whole ms). ' +
      'Server CPU per review = CPU time of the server process (/proc, user + system) ÷ reviews answered; ' +
      'cores = CPU seconds per wall second, for the server and for the load generator (this process).',
    '',
    table(
      [
        'server',
        'runs',
        'median',
        'p50',
        'p99',
        'ac p99',
        'server CPU / review',
        'server cores',
        'client cores',
        'reviews',
      ],
      [
        row('**fn-pinner** (catalog image, default registry)', runs.max.fn),
        row('bare node:https (constant answer)', runs.max.bare),
        row('fn-pinner, custom registry + pull secret', runs.max.private),
      ],
    ),
    '',
    `- **fn-pinner ÷ bare = ${ratio.toFixed(2)}** (goal ≥ ${GOAL_RATIO}) ${check(ratio >= GOAL_RATIO)}; ` +
      `per round: ${perRound}.`,
    `- Server CPU per review: fn-pinner ${micros(med(runs.max.fn, cpuPerReview))} vs bare ` +
      `${micros(med(runs.max.bare, cpuPerReview))} (${cpuRatio.toFixed(1)}×); the custom-registry review ` +
      `${micros(med(runs.max.private, cpuPerReview))} at ${perSec(privRps)} ` +
      `(${(privRps / bareRps).toFixed(2)} × bare).`,
    '- Both processes share 2 cores with the load generator (and whatever else runs on the machine), so ' +
      'req/s is bounded by the sum of server and client CPU per review; the CPU-per-review column is the ' +
      'less noisy comparison.',
    '',
  ].join('\n');
  return { markdown, ratio };
}

function rateSection(runs: Runs): { markdown: string; p99: number; p99Burst: number } {
  const p99 = med(runs.paced.fn, (r) => r.p99);
  const p99Burst = med(runs.rate.fn, (r) => r.p99);
  const row = (label: string, rs: LoadRun[], extra: (r: LoadRun) => string): Array<string | number> => [
    label,
    each(rs, (r) => perSec(r.rps)),
    each(rs, (r) => ms(r.p50)),
    each(rs, (r) => ms(r.p99)),
    `**${ms(med(rs, (r) => r.p99))}**`,
    ms(med(rs, (r) => r.max)),
    extra(rs[0]!) === '' ? '' : each(rs, extra),
    micros(med(rs, cpuPerReview)),
    each(rs, serverCores),
  ];
  const paced = (r: LoadRun): string =>
    `${ms(r.p99FromSchedule ?? Number.NaN)} (lag ≤ ${ms(r.maxLagMs ?? Number.NaN)})`;
  const ac = (r: LoadRun): string => `ac p99 ${r.acP99} ms`;
  const head = [
    'server',
    'rate',
    'p50',
    'p99',
    'p99 median',
    'max',
    'note',
    'server CPU / review',
    'server cores',
  ];
  const markdown = [
    `## 2. Fixed rate: ${PACED_LOAD.rate.toLocaleString('en')} reviews/s`,
    '',
    `**Paced (open loop)**: one request every ${1000 / PACED_LOAD.rate} ms on schedule whatever the ` +
      `answers do, as independent pod creations arrive, over an undici Pool of ${PACED_LOAD.connections} ` +
      `keep-alive HTTPS connections that verifies the certificate against fn-pinner's CA; ` +
      `${PACED_LOAD.seconds} s per run, connections opened before the clock starts. Latency is send → ` +
      'full answer; "note" gives p99 measured from the scheduled send time instead (it includes the ' +
      "client's timer lag, shown as the worst lag).",
    '',
    table(head, [row('**fn-pinner**', runs.paced.fn, paced), row('bare node:https', runs.paced.bare, paced)]),
    '',
    `**autocannon \`overallRate: ${RATE_LOAD.overallRate}\`**, ${RATE_LOAD.connections} connections, ` +
      `${RATE_LOAD.seconds} s per run. autocannon 9 rate-limits per connection per second: each connection ` +
      `sends its ${(RATE_LOAD.overallRate ?? 0) / RATE_LOAD.connections} reviews back to back at the start ` +
      `of every second and then idles, so this measures bursts at ${RATE_LOAD.connections} concurrent ` +
      'reviews (closed loop), not a steady 1,000/s; shown because it is the usual autocannon recipe.',
    '',
    table(head, [row('**fn-pinner**', runs.rate.fn, ac), row('bare node:https', runs.rate.bare, ac)]),
    '',
    `- **fn-pinner p99 at a paced ${PACED_LOAD.rate.toLocaleString('en')}/s: ${ms(p99)}** (goal < ` +
      `${GOAL_P99_MS} ms) ${check(p99 < GOAL_P99_MS)}; bare ${ms(med(runs.paced.bare, (r) => r.p99))}.`,
    `- In autocannon's 1,000/s bursts: fn-pinner p99 ${ms(p99Burst)} ${check(p99Burst < GOAL_P99_MS)}, ` +
      `bare ${ms(med(runs.rate.bare, (r) => r.p99))}.`,
    '',
  ].join('\n');
  return { markdown, p99, p99Burst };
}

function loadChecks(runs: Runs, checks: Checks): LoadRun[] {
  const all = [
    ...runs.max.fn,
    ...runs.max.bare,
    ...runs.max.private,
    ...runs.paced.fn,
    ...runs.paced.bare,
    ...runs.rate.fn,
    ...runs.rate.bare,
  ];
  const total = (pick: (r: LoadRun) => number): number => all.reduce((a, r) => a + pick(r), 0);
  checks.push([
    `under load, ${total((r) => r.responses).toLocaleString('en')} responses over ${all.length} runs: ` +
      `errors ${total((r) => r.errors)}, timeouts ${total((r) => r.timeouts)}, non-2xx ` +
      `${total((r) => r.non2xx)}, bodies without the expected patch ${total((r) => r.mismatches)}`,
    total((r) => r.errors + r.timeouts + r.non2xx + r.mismatches) === 0,
  ]);
  return all;
}

function commandsSection(
  f: Fixture,
  servers: { fnPinner: FnPinnerProcess; bare: ServerProcess; entry: string | undefined },
  fn: Target,
): string {
  const { fnPinner, bare, entry } = servers;
  const launcher = entry ? `node ${entry}` : 'tsx test/support/cli-entry.ts';
  const flags = serveFlags(f)
    .map((a) => (a.startsWith('--') ? a : `'${a}'`))
    .join(' ')
    .replace(/ --/g, ' \\\n    --');
  const ac = autocannonOptions(fn, MAX_LOAD);
  const shown = {
    url: ac.url,
    method: ac.method,
    headers: ac.headers,
    body: `<${Buffer.byteLength(fn.template)}-byte AdmissionReview, uid "[<id>]">`,
    idReplacement: ac.idReplacement,
    connections: ac.connections,
    pipelining: ac.pipelining,
    duration: ac.duration,
    verifyBody: '<expected patch and "allowed":true>',
  };
  return [
    '## Setup',
    '',
    '```sh',
    'npm run bench:admission        # tsx bench/admission.ts',
    '```',
    '',
    `- fn-pinner (${entry ? 'compiled' : 'from source'}, in its own process; stdout, one decision line per ` +
      'review at the default log level info, goes to /dev/null):',
    '',
    '```sh',
    `NODE_ENV=production ${launcher} serve --host 127.0.0.1 --port ${new URL(fnPinner.url).port} \\`,
    `    --cert-dir <tmp> ${flags}`,
    '```',
    '',
    `- bare: \`NODE_ENV=production tsx bench/bare-server.ts ${new URL(bare.url).port} <fn-pinner cert dir> ` +
      '<answer.json>`: node:https, same certificate, TLS ≥ 1.2 and timeouts as src/server/https.ts, ' +
      "reads the body and answers fn-pinner's own response to the review (same bytes), keep-alive 90 s.",
    `- Registries: docker-registry on 127.0.0.1, plain (\`${f.catalogImage}\`, Entrypoint ` +
      `${JSON.stringify(ENTRYPOINT)}) and htpasswd (\`${f.privateImage}\`, Entrypoint ` +
      `${JSON.stringify(PRIVATE_ENTRYPOINT)}, Cmd ${JSON.stringify(PRIVATE_CMD)}). Each image is resolved ` +
      'once before the load, so every measured review is a cache hit (tag TTL 300 s > run time).',
    '- Kubernetes API: test/support/fake-kube.ts, just the Secret GET/POST/PUT the pull-secret sync needs ' +
      '(plain HTTP on 127.0.0.1); `/readyz` turns 200 once the Secret is synced, so the sync never runs ' +
      'inside a measured review (only its 20 s resync GET runs in the background).',
    `- Review: a Porch function pod as the API server sends it after defaulting (one container, probes, ` +
      `projected service-account volume, tolerations), ${Buffer.byteLength(fn.template)} bytes; a fresh ` +
      'uid per review.',
    '- autocannon (max throughput; the fixed-rate run adds `overallRate: 1000`):',
    '',
    '```json',
    JSON.stringify(shown, null, 2),
    '```',
    '',
    '- TLS: autocannon 9 always connects with `rejectUnauthorized: false` (it spreads `tlsOptions` and then ' +
      'overrides that key), so the load generator does not verify the certificate: the CA is passed but ' +
      'ignored. The correctness requests and the paced client (undici) do verify it against the CA.',
    `- Warm-up: ${WARMUP.seconds} s of autocannon per server before the measured runs (JIT, connection ` +
      'setup), excluded.',
    '',
  ].join('\n');
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const started = performance.now();
  const watchdog = setTimeout(() => {
    progress(`still running after ${BUDGET_MS / 1000} s; giving up`);
    // admission-servers.ts and registry.ts kill their children on exit.
    process.exit(2);
  }, BUDGET_MS);
  watchdog.unref();

  const cpu = cpus();
  const loadAtStart = load();
  const checks: Checks = [];
  const profDir = process.env.FN_PINNER_BENCH_CPU_PROF;
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const entry = process.env.FN_PINNER_BENCH_ENTRY;
  const scratch = mkdtempSync(join(tmpdir(), 'fn-pinner-bench-admission-'));
  progress('starting registries and pushing images');
  const f = await startRegistries();
  let fnPinner: FnPinnerProcess | undefined;
  let bare: ServerProcess | undefined;
  try {
    progress(`starting fn-pinner serve${profDir ? ` with --cpu-prof into ${profDir}` : ''}`);
    fnPinner = await startFnPinner(serveFlags(f), { nodeArgs, ...(entry ? { entry: resolve(entry) } : {}) });
    const catalogExpect: Expected = {
      image: f.catalogImage,
      pinned: `${f.catalogImage}@${f.fn.digest}`,
      command: [...COMMAND_PREFIX, ...ENTRYPOINT],
      args: undefined,
      pullSecrets: ['porch-fn-default'],
    };
    const privateExpect: Expected = {
      image: f.privateImage,
      pinned: `${f.privateImage}@${f.privateFn.digest}`,
      command: [...COMMAND_PREFIX, ...PRIVATE_ENTRYPOINT],
      args: PRIVATE_CMD,
      pullSecrets: ['porch-fn-default', PULL_SECRET],
    };
    await admitOnce(fnPinner, catalogExpect, checks, 'fn-pinner, catalog image, cold');
    const { patch, answer } = await admitOnce(
      fnPinner,
      catalogExpect,
      checks,
      'fn-pinner, catalog image, warm',
    );
    await admitOnce(fnPinner, privateExpect, checks, 'fn-pinner, custom registry, cold');
    const priv = await admitOnce(fnPinner, privateExpect, checks, 'fn-pinner, custom registry, warm');

    const created = f.kube.requests.filter((r) => r.method === 'POST' && r.status === 201).length;
    checks.push([
      `pull secret porch-fn-system/${PULL_SECRET} created in the fake Kubernetes API before /readyz turned 200 ` +
        `(${created} POST)`,
      created === 1,
    ]);
    const bodyFile = join(scratch, 'answer.json');
    writeFileSync(bodyFile, answer.text);
    progress('starting the bare node:https server');
    bare = await startBare(fnPinner.certDir, fnPinner.caPem, bodyFile);
    const bareAnswer = await post(bare, admissionReview(functionPod(f.catalogImage), randomUUID()));
    checks.push([
      "bare: answers fn-pinner's response byte for byte, certificate verified against fn-pinner's CA",
      bareAnswer.status === 200 && bareAnswer.text === answer.text,
    ]);

    const fnTarget: Target = {
      server: fnPinner,
      template: reviewTemplate(f.catalogImage),
      verify: verifier(patch),
    };
    const bareTarget: Target = { server: bare, template: fnTarget.template, verify: fnTarget.verify };
    const privTarget: Target = {
      server: fnPinner,
      template: reviewTemplate(f.privateImage),
      verify: verifier(priv.patch),
    };

    progress(`warm-up: ${WARMUP.seconds} s per server`);
    await runAutocannon(fnTarget, WARMUP);
    await runAutocannon(privTarget, { ...WARMUP, seconds: 1 });
    await runAutocannon(bareTarget, WARMUP);
    const before = await counters(fnPinner);
    const runs = await measure(fnTarget, bareTarget, privTarget);
    const after = await counters(fnPinner);

    const all = loadChecks(runs, checks);
    const fnOk = all.filter((r) => r.server === 'fn-pinner').reduce((a, r) => a + r.ok, 0);
    const fnRuns = all.filter((r) => r.server === 'fn-pinner').length;
    const patched = after.patched - before.patched;
    checks.push([
      `fn-pinner during the load: ${after.registryRequests - before.registryRequests} registry requests, ` +
        `${after.cacheMisses - before.cacheMisses} cache misses, ` +
        `${after.cacheRevalidated - before.cacheRevalidated} revalidations (every review a cache hit)`,
      after.registryRequests === before.registryRequests &&
        after.cacheMisses === before.cacheMisses &&
        after.cacheRevalidated === before.cacheRevalidated,
    ]);
    // autocannon stops with up to one review in flight per connection: answered by the server, not counted.
    checks.push([
      `fn-pinner counted ${patched.toLocaleString('en')} Patched reviews for ` +
        `${fnOk.toLocaleString('en')} 2xx answers received (difference ≤ one in-flight review per connection and run)`,
      patched >= fnOk && patched - fnOk <= fnRuns * MAX_LOAD.connections,
    ]);

    const max = maxSection(runs);
    const rate = rateSection(runs);
    const failures = checks.filter(([, ok]) => !ok);
    const report = [
      '# Admission benchmark',
      '',
      'Generated by `npm run bench:admission` (bench/admission.ts); overwritten on every run. Loopback ' +
        'only: fn-pinner, the bare baseline, the load generator and two registries on one machine.',
      '',
      `- date: ${new Date().toISOString()}`,
      `- commit: ${quiet('git', ['rev-parse', '--short', 'HEAD'])}` +
        (quiet('git', ['status', '--porcelain', '--', 'src']) ? ' (src/ modified)' : ''),
      `- node ${process.version}; nproc ${quiet('nproc', [])}, ${cpu.length} × ` +
        `${cpu[0]?.model.trim() ?? 'unknown CPU'}; load average ${loadAtStart} at start, ${load()} at end`,
      `- servers run with NODE_ENV=production; fn-pinner ${entry ? `from \`${entry}\` (plain node)` : 'from src/ under tsx'}` +
        (profDir ? ', with --cpu-prof (slower)' : ''),
      '',
      '## Summary',
      '',
      table(
        ['goal', 'result', ''],
        [
          [
            `warm-cache throughput ≥ ${GOAL_RATIO} × bare node:https`,
            `${max.ratio.toFixed(2)} × (${perSec(med(runs.max.fn, (r) => r.rps))} vs ${perSec(med(runs.max.bare, (r) => r.rps))})`,
            check(max.ratio >= GOAL_RATIO),
          ],
          [
            `p99 < ${GOAL_P99_MS} ms at ${PACED_LOAD.rate.toLocaleString('en')} reviews/s (paced)`,
            `${ms(rate.p99)} (bare ${ms(med(runs.paced.bare, (r) => r.p99))})`,
            check(rate.p99 < GOAL_P99_MS),
          ],
          [
            `p99 < ${GOAL_P99_MS} ms at autocannon overallRate ${RATE_LOAD.overallRate} (bursts)`,
            `${ms(rate.p99Burst)} (bare ${ms(med(runs.rate.bare, (r) => r.p99))})`,
            check(rate.p99Burst < GOAL_P99_MS),
          ],
          [
            'correctness checks',
            `${checks.length - failures.length}/${checks.length}`,
            check(failures.length === 0),
          ],
        ],
      ),
      '',
      'Figures are medians of the two runs per server (the mean of the two values); each run is listed too.',
      '',
      max.markdown,
      rate.markdown,
      '## Correctness',
      '',
      ...checks.map(([what, ok]) => `- ${check(ok)} ${what}`),
      '',
      commandsSection(f, { fnPinner, bare, entry }, fnTarget),
      `Total run time ${ms(performance.now() - started)}.`,
      '',
    ].join('\n');
    mkdirSync(dirname(REPORT), { recursive: true });
    writeFileSync(REPORT, report);
    process.stdout.write(report);
    progress(`report written to ${REPORT}`);
    if (failures.length > 0) {
      progress(`${failures.length} correctness check(s) failed`);
      process.exitCode = 1;
    }
  } finally {
    await bare?.stop();
    await fnPinner?.stop();
    await Promise.all([f.catalog.stop(), f.privateReg.stop(), f.kube.stop()]);
    rmSync(dirname(f.authFile), { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
}

try {
  await main();
} catch (err) {
  progress(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
}
