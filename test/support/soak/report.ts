import type { Outcome } from './driver.js';
import type { SoakResult } from './run.js';
import { series } from './sampler.js';
import { KINDS } from './scenarios.js';

/** The soak's figures, and its one verdict: how many unexpected errors (goal 0), each with its reason. */

export interface Latency {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface SoakSummary {
  reviews: number;
  /** Every unexpected thing: wrong answers, failed requests, error log lines, a dead server, the canary. */
  unexpected: string[];
  all: Latency;
  byKind: Record<string, Latency>;
  byScenario: Array<{ name: string; kind: string; latency: Latency; unexpected: number }>;
  rss: SoakResult['rss'] & { growth: number; bound: number };
  /**
   * Seconds beyond the 10 ms sampling interval (perf_hooks records whole intervals: an idle loop shows
   * ~10.1 ms): the median of the scrapes' p50, the worst scrape's p99, the worst single delay.
   */
  eventLoop: { p50: number; p99: number; max: number };
  cpuMsPerReview: number;
  cacheBytes: number;
  /** V8 heap in use at the first and the last scrape (what RSS growth is made of, or not). */
  heapUsed: { first: number; last: number };
}

/** manifests/base/03-deployment.yaml: resources.limits.memory. */
export const DEPLOYMENT_MEMORY_LIMIT = 256 * 1024 * 1024;

/** prom-client's monitorEventLoopDelay resolution (and the driver's): what an idle loop reports. */
const SAMPLING_S = 0.01;

export function latency(values: number[]): Latency {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number =>
    s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s.at(-1) ?? NaN };
}

function unexpected(r: SoakResult): string[] {
  const out: string[] = [];
  const describe = (o: Outcome, phase: string): string => `${phase}: ${o.scenario}: ${o.problem}`;
  for (const o of r.warmUp) if (o.problem) out.push(describe(o, 'warm-up'));
  for (const o of r.load.outcomes) if (o.problem) out.push(describe(o, 'load'));
  const sent = Math.round(r.options.seconds * r.options.ratePerSecond);
  if (r.load.outcomes.length !== sent) out.push(`${sent} reviews sent, ${r.load.outcomes.length} answered`);
  for (const level of ['error', 'fatal', 'unparsed']) {
    const n = r.server.levels.get(level) ?? 0;
    if (n) out.push(`${n} log lines at level ${level}`);
  }
  if (!r.server.alive) out.push(`the server died: ${r.server.stderr.slice(-500)}`);
  if (r.server.healthz !== 200 || r.server.readyz !== 200) {
    out.push(`at the end /healthz ${r.server.healthz}, /readyz ${r.server.readyz}`);
  }
  if (r.server.exit.code !== 0) out.push(`SIGTERM: exit ${r.server.exit.code ?? r.server.exit.signal}`);
  if (r.canaryConnections) out.push(`the untrusted realm's target got ${r.canaryConnections} connections`);
  return out;
}

export function summarize(r: SoakResult): SoakSummary {
  const outcomes = r.load.outcomes;
  const byKind: Record<string, Latency> = {};
  for (const kind of KINDS) byKind[kind] = latency(outcomes.filter((o) => o.kind === kind).map((o) => o.ms));
  const byScenario = r.scenarios.map((s) => {
    const mine = outcomes.filter((o) => o.scenario === s.name);
    return {
      name: s.name,
      kind: s.kind,
      latency: latency(mine.map((o) => o.ms)),
      unexpected: mine.filter((o) => o.problem).length,
    };
  });
  const scrapes = r.sampler.metrics;
  const delay = (v: number): number => Math.max(0, v - SAMPLING_S);
  const p50s = scrapes.map((m) => delay(m.eventLoop.p50)).sort((a, b) => a - b);
  return {
    reviews: outcomes.length,
    unexpected: unexpected(r),
    all: latency(outcomes.map((o) => o.ms)),
    byKind,
    byScenario,
    rss: { ...r.rss, growth: r.rss.end - r.rss.loadStart, bound: r.options.cacheMaxBytes },
    eventLoop: {
      p50: p50s[Math.floor(p50s.length / 2)] ?? NaN,
      p99: delay(Math.max(...scrapes.map((m) => m.eventLoop.p99))),
      max: delay(Math.max(...scrapes.map((m) => m.eventLoop.max))),
    },
    cpuMsPerReview: (r.cpuSeconds * 1000) / Math.max(1, outcomes.length),
    cacheBytes: scrapes.at(-1)?.cacheBytes ?? NaN,
    heapUsed: { first: scrapes[0]?.heapUsedBytes ?? NaN, last: scrapes.at(-1)?.heapUsedBytes ?? NaN },
  };
}

const ms = (v: number): string =>
  v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v).toLocaleString('en')} ms`;
const mib = (v: number): string => `${(v / 2 ** 20).toFixed(1)} MiB`;
const lat = (l: Latency): string => `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.max)}`;

/** The counters of the server's last /metrics scrape that say what the load did. */
function metricRows(text: string): string[] {
  const sum = (name: string, label?: string): string => {
    const totals = new Map<string, number>();
    for (const s of series(text, name)) {
      const key = label ? (new RegExp(`${label}="([^"]*)"`).exec(s.labels)?.[1] ?? '') : '';
      totals.set(key, (totals.get(key) ?? 0) + s.value);
    }
    return [...totals]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => (label ? `${k} ${v.toLocaleString('en')}` : v.toLocaleString('en')))
      .join(', ');
  };
  return [
    `| reviews by decision (metrics) | ${sum('fn_pinner_admission_reviews_total', 'reason')} | |`,
    `| cache lookups by result | ${sum('fn_pinner_cache_lookups_total', 'result')} | |`,
    `| cache entries by tier | ${sum('fn_pinner_cache_entries', 'tier')} | |`,
    `| registry requests by kind | ${sum('fn_pinner_registry_requests_total', 'kind')} | |`,
    `| resolutions by outcome | ${sum('fn_pinner_resolutions_total', 'outcome')} | |`,
    `| single-flight joins | ${sum('fn_pinner_singleflight_joins_total')} | |`,
  ];
}

function rssOverTime(r: SoakResult): string {
  const samples = r.proc;
  const steps = 10;
  const picks = Array.from(
    { length: steps + 1 },
    (_, i) => samples[Math.round((i * (samples.length - 1)) / steps)],
  );
  return picks
    .filter((p) => p !== undefined)
    .map((p) => `${Math.round(p.t / 1000)} s: ${mib(p.rssBytes)}`)
    .join(' · ');
}

export function markdown(r: SoakResult, s: SoakSummary): string {
  const rate = r.options.ratePerSecond;
  const lines = [
    `${r.options.seconds} s at ${rate} reviews/s (${s.reviews.toLocaleString('en')} reviews, open loop, ` +
      `${r.scenarios.length} scenarios); Node ${process.version}; ${new Date().toISOString().slice(0, 16)}Z.`,
    '',
    '| measure | value | goal |',
    '|---|---|---|',
    `| unexpected errors | **${s.unexpected.length}** | 0 |`,
    `| latency p50 / p99 / max, all reviews | ${lat(s.all)} | |`,
    ...Object.entries(s.byKind).map(([k, l]) => `| … ${k} (${l.n.toLocaleString('en')}) | ${lat(l)} | |`),
    `| RSS: idle → load start → end (peak) | ${mib(s.rss.idle)} → ${mib(s.rss.loadStart)} → ` +
      `${mib(s.rss.end)} (${mib(s.rss.peak)}) | |`,
    `| RSS growth over the load | ${mib(s.rss.growth)} | ≤ ${mib(s.rss.bound)} (--cache-max-bytes) |`,
    `| RSS peak | ${mib(s.rss.peak)} | < ${mib(DEPLOYMENT_MEMORY_LIMIT)} (the Deployment's limit) |`,
    `| metadata cache at the end | ${mib(s.cacheBytes)} | ≤ ${mib(s.rss.bound)} |`,
    `| V8 heap in use: first → last scrape | ${mib(s.heapUsed.first)} → ${mib(s.heapUsed.last)} | |`,
    `| event-loop delay beyond the 10 ms sampling: median p50 / worst p99 / max (5 s scrapes) | ` +
      `${ms(s.eventLoop.p50 * 1000)} / ${ms(s.eventLoop.p99 * 1000)} / ${ms(s.eventLoop.max * 1000)} | |`,
    `| server CPU per review | ${s.cpuMsPerReview.toFixed(2)} ms (${((r.cpuSeconds / (r.load.wallMs / 1000)) * 100).toFixed(0)} % of a core) | |`,
    `| open file descriptors: load start → end (max) | ${r.fds.loadStart} → ${r.fds.end} (${r.fds.max}) | |`,
    `| log lines by level | ${[...r.server.levels].map(([k, v]) => `${k} ${v}`).join(', ')} | no error |`,
    `| untrusted realm's target: connections | ${r.canaryConnections} | 0 |`,
    `| load generator: latest send, own event-loop p99 | ${ms(r.load.sendLagMaxMs)}, ${ms(Math.max(0, r.load.driverLoop.p99Ms - SAMPLING_S * 1000))} | |`,
    ...metricRows(r.sampler.lastMetrics()),
    '',
    `RSS over the load: ${rssOverTime(r)}.`,
    '',
    '| scenario | kind | reviews | unexpected | p50 | p99 | max |',
    '|---|---|---|---|---|---|---|',
    ...s.byScenario.map(
      (x) =>
        `| ${x.name} | ${x.kind} | ${x.latency.n} | ${x.unexpected} | ${ms(x.latency.p50)} | ${ms(x.latency.p99)} | ${ms(x.latency.max)} |`,
    ),
  ];
  if (s.unexpected.length) {
    lines.push('', 'Unexpected (first 20):', '', ...s.unexpected.slice(0, 20).map((u) => `- ${u}`));
  }
  return `${lines.join('\n')}\n`;
}
