import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import autocannon from 'autocannon';
import type { Options } from 'autocannon';
import { Pool } from 'undici';

import { UID_PLACEHOLDER } from './admission-review.js';
import type { ServerProcess } from './admission-servers.js';
import { quantile } from './stats.js';

/** One load run against one server: what autocannon (or the paced client) saw, plus both processes' CPU. */
export interface LoadRun {
  server: string;
  mode: 'max' | 'rate' | 'paced';
  /** Wall seconds of the run. */
  seconds: number;
  /** Responses received (any status). */
  responses: number;
  ok: number;
  /** Reviews answered per second. */
  rps: number;
  /** Milliseconds, from every response's own timing (sub-millisecond resolution). */
  p50: number;
  p99: number;
  max: number;
  /** autocannon's own p99 (its histogram records whole milliseconds); undefined for the paced client. */
  acP99?: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Responses whose body failed the check (expected patch, allowed: true). */
  mismatches: number;
  /** CPU seconds the server process used during the run. */
  serverCpu: number;
  /** CPU seconds this process (the load generator) used during the run. */
  clientCpu: number;
  /** Paced client only: how late the latest request left against its schedule, in ms. */
  maxLagMs?: number;
  /** Paced client only: p99 measured from each request's scheduled time (coordinated omission included). */
  p99FromSchedule?: number;
}

export interface Target {
  server: ServerProcess;
  /** The review JSON with UID_PLACEHOLDER where the uid goes. */
  template: string;
  /** True when a response body carries the expected answer. */
  verify: (body: string) => boolean;
}

function cpuNow(server: ServerProcess): { server: number; client: number } {
  const u = process.cpuUsage();
  return { server: server.cpuSeconds(), client: (u.user + u.system) / 1e6 };
}

/** Nearest-rank percentiles over one sorted copy (a max-throughput run holds 100k+ samples: no spreading). */
function latencies(samples: number[]): { p50: number; p99: number; max: number } {
  if (samples.length === 0) return { p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

export interface AutocannonLoad {
  connections: number;
  seconds: number;
  /** Requests per second over all connections; 0 = as fast as the server answers. */
  overallRate?: number;
}

export function autocannonOptions(t: Target, load: AutocannonLoad): Options {
  return {
    url: `${t.server.url}/mutate?timeout=10s`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: t.template,
    idReplacement: true,
    connections: load.connections,
    pipelining: 1,
    duration: load.seconds,
    timeout: 10,
    ...(load.overallRate ? { overallRate: load.overallRate } : {}),
    verifyBody: t.verify,
    // Ignored for verification: autocannon 9 sets rejectUnauthorized: false after spreading tlsOptions.
    tlsOptions: { ca: t.server.caPem },
  };
}

/** autocannon over HTTPS keep-alive (HTTP/1.1, pipelining 1), a fresh uid per review. */
export async function runAutocannon(t: Target, load: AutocannonLoad): Promise<LoadRun> {
  const samples: number[] = [];
  const before = cpuNow(t.server);
  const instance = autocannon(autocannonOptions(t, load));
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
    samples.push(ms);
  });
  const r = await instance;
  const after = cpuNow(t.server);
  return {
    server: t.server.label,
    mode: load.overallRate ? 'rate' : 'max',
    seconds: r.duration,
    responses: samples.length,
    ok: r['2xx'],
    rps: samples.length / r.duration,
    ...latencies(samples),
    acP99: r.latency.p99,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    mismatches: r.mismatches,
    serverCpu: after.server - before.server,
    clientCpu: after.client - before.client,
  };
}

export interface PacedLoad {
  rate: number;
  seconds: number;
  /** Keep-alive connections in the client's pool (requests queue in the client when all are busy). */
  connections: number;
}

/**
 * Open-loop load at an even rate: request i is due at start + i/rate, whatever happened to earlier ones,
 * the way independent pod creations reach the API server. A 1 ms timer releases whatever is due (so requests
 * leave one or two at a time). undici Pool, keep-alive, certificate verified against the CA.
 */
export async function runPaced(t: Target, load: PacedLoad): Promise<LoadRun> {
  const pool = new Pool(t.server.url, {
    connections: load.connections,
    pipelining: 1,
    connect: { ca: t.server.caPem },
  });
  const [head, tail] = t.template.split(UID_PLACEHOLDER) as [string, string];
  const counts = { ok: 0, non2xx: 0, errors: 0, mismatches: 0 };
  const samples: number[] = [];
  const fromSchedule: number[] = [];
  const send = async (scheduled: number): Promise<void> => {
    const sent = performance.now();
    try {
      const res = await pool.request({
        path: '/mutate?timeout=10s',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: head + randomUUID() + tail,
      });
      const body = await res.body.text();
      const done = performance.now();
      samples.push(done - sent);
      fromSchedule.push(done - scheduled);
      if (res.statusCode < 200 || res.statusCode > 299) counts.non2xx++;
      else counts.ok++;
      if (!t.verify(body)) counts.mismatches++;
    } catch {
      counts.errors++;
    }
  };
  try {
    // Open the pool's connections (TLS handshakes) before the clock starts.
    await Promise.all(Array.from({ length: load.connections }, () => send(performance.now())));
    samples.length = 0;
    fromSchedule.length = 0;
    Object.assign(counts, { ok: 0, non2xx: 0, errors: 0, mismatches: 0 });

    const total = Math.round(load.rate * load.seconds);
    const interval = 1000 / load.rate;
    const inFlight: Array<Promise<void>> = [];
    let maxLagMs = 0;
    const before = cpuNow(t.server);
    const start = performance.now();
    for (let i = 0; i < total;) {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      if (due > i) maxLagMs = Math.max(maxLagMs, now - (start + i * interval));
      for (; i < due; i++) inFlight.push(send(start + i * interval));
      await sleep(1);
    }
    await Promise.all(inFlight);
    const seconds = (performance.now() - start) / 1000;
    const after = cpuNow(t.server);
    return {
      server: t.server.label,
      mode: 'paced',
      seconds,
      responses: samples.length,
      ok: counts.ok,
      rps: samples.length / seconds,
      ...latencies(samples),
      errors: counts.errors,
      timeouts: 0,
      non2xx: counts.non2xx,
      mismatches: counts.mismatches,
      serverCpu: after.server - before.server,
      clientCpu: after.client - before.client,
      maxLagMs,
      p99FromSchedule: quantile(fromSchedule, 0.99),
    };
  } finally {
    await pool.close();
  }
}
