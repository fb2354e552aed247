import { readdirSync, readFileSync } from 'node:fs';

import type { SoakServer } from './serve.js';

/**
 * What the soak watches in the server while it runs: RSS, CPU time and open file descriptors from /proc
 * every second, and every few seconds a /metrics scrape, as Prometheus would do it. prom-client's
 * event-loop figures come from perf_hooks.monitorEventLoopDelay and are reset by each scrape, so each
 * scrape covers the seconds since the last one.
 */

export interface ProcSample {
  /** ms since the sampler started */
  t: number;
  rssBytes: number;
  cpuSeconds: number;
  fds: number;
}

export interface MetricsSample {
  t: number;
  /** Seconds, over the interval since the previous scrape. */
  eventLoop: { p50: number; p99: number; max: number };
  cacheBytes: number;
  heapUsedBytes: number;
}

export interface Sampler {
  proc: ProcSample[];
  metrics: MetricsSample[];
  /** The last scrape's text. */
  lastMetrics(): string;
  /** Samples right now (a scrape too) and stops. */
  stop(): Promise<void>;
}

const PROC_MS = 1_000;
const SCRAPE_MS = 5_000;
const CLOCK_TICKS_PER_S = 100;

export function readProc(pid: number): Omit<ProcSample, 't'> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    rssBytes: rssKb * 1024,
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S,
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}

/** One series of a Prometheus text exposition: `name{labels} value`, every line whose name matches. */
export function series(text: string, name: string): Array<{ labels: string; value: number }> {
  const out: Array<{ labels: string; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) out.push({ labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}

export function value(text: string, name: string): number {
  return series(text, name).reduce((n, s) => n + s.value, 0);
}

export function startSampler(server: SoakServer): Sampler {
  const started = performance.now();
  const proc: ProcSample[] = [];
  const metrics: MetricsSample[] = [];
  let last = '';
  const sampleProc = (): void => {
    if (server.alive()) proc.push({ t: performance.now() - started, ...readProc(server.pid) });
  };
  const scrape = async (): Promise<void> => {
    const res = await server.get('/metrics').catch(() => undefined);
    if (res?.status !== 200) return;
    last = res.text;
    metrics.push({
      t: performance.now() - started,
      eventLoop: {
        p50: value(last, 'nodejs_eventloop_lag_p50_seconds'),
        p99: value(last, 'nodejs_eventloop_lag_p99_seconds'),
        max: value(last, 'nodejs_eventloop_lag_max_seconds'),
      },
      cacheBytes: value(last, 'fn_pinner_cache_bytes'),
      heapUsedBytes: value(last, 'nodejs_heap_size_used_bytes'),
    });
  };
  sampleProc();
  const procTimer = setInterval(sampleProc, PROC_MS);
  const scrapeTimer = setInterval(() => void scrape(), SCRAPE_MS);
  return {
    proc,
    metrics,
    lastMetrics: () => last,
    stop: async () => {
      clearInterval(procTimer);
      clearInterval(scrapeTimer);
      sampleProc();
      await scrape();
    },
  };
}
