import { startFakeKube } from '../fake-kube.js';
import type { FakeKube } from '../fake-kube.js';
import { drive, sendReview } from './driver.js';
import type { DriveResult, Outcome } from './driver.js';
import { startHostileSide } from './hostile.js';
import type { HostileSide } from './hostile.js';
import { startRealSide } from './registries.js';
import type { RealSide } from './registries.js';
import { readProc, startSampler } from './sampler.js';
import type { ProcSample, Sampler } from './sampler.js';
import { coldNeeded, picker, scenarios } from './scenarios.js';
import type { Scenario } from './scenarios.js';
import { startSoakServer } from './serve.js';
import type { SoakServer } from './serve.js';

/**
 * The soak (issue 8): `fn-pinner serve` from the bundle, with the Deployment's flags (private registries
 * with their mounted Docker config and CA, the pull Secret synced through a stand-in Kubernetes API),
 * under a steady rate of reviews over a mix of cached, uncached, failing and hostile images, on loopback.
 * Bounded: `seconds` of load, then a SIGTERM.
 */

export interface SoakOptions {
  seconds: number;
  ratePerSecond: number;
  /** Keep every log line of the server (the leak scan reads them); the bench keeps counts only. */
  keepLogs?: boolean;
  /** Called with the server once it is ready (e.g. to register its logs with the leak scan). */
  onServer?: (server: SoakServer) => void;
  progress?: (line: string) => void;
  seed?: number;
}

export interface SoakResult {
  options: { seconds: number; ratePerSecond: number; cacheMaxBytes: number };
  scenarios: Scenario[];
  /** One review of each scenario before the load (fills the cache, checks every expectation once). */
  warmUp: Outcome[];
  load: DriveResult;
  rss: { idle: number; loadStart: number; end: number; peak: number };
  proc: ProcSample[];
  sampler: Sampler;
  /** CPU seconds the server used during the load. */
  cpuSeconds: number;
  fds: { loadStart: number; end: number; max: number };
  server: {
    levels: Map<string, number>;
    messages: Map<string, number>;
    healthz: number;
    readyz: number;
    /** At the end, before SIGTERM. */
    alive: boolean;
    exit: { code: number | null; signal: NodeJS.Signals | null };
    stderr: string;
  };
  /** Connections the untrusted token realm's target received: must stay 0. */
  canaryConnections: number;
}

/** The shipped default of --cache-max-bytes (src/config/settings.ts): the soak runs with it. */
export const CACHE_MAX_BYTES = 32 * 1024 * 1024;

function serveFlags(real: RealSide, hostile: HostileSide, kube: FakeKube): string[] {
  const insecure = [
    real.plain.host,
    real.token.host,
    real.downHost,
    hostile.content.host,
    hostile.realm.host,
    hostile.token.host,
  ];
  return [
    // As manifests/base/03-deployment.yaml runs it (no webhook configuration to publish to here).
    '--pod-namespace=porch-fn-system',
    '--enable-private-registries=true',
    `--registry-auth-secret-path=${real.dockerConfigPath}`,
    '--registry-auth-secret-name=auth-secret',
    '--enable-private-registries-tls=true',
    `--tls-secret-path=${real.caDir}`,
    `--kubeconfig=${kube.kubeconfigPath}`,
    ...insecure.map((h) => `--insecure-registry=${h}`),
    '--registry-deny=blocked.invalid',
    // Tags are revalidated during the run (the default is 5 minutes), so the HEAD path and the outage
    // back-off are part of it.
    '--tag-ttl=10',
  ];
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const say = opts.progress ?? (() => undefined);
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const reviews = Math.round(opts.seconds * opts.ratePerSecond);
    const hostile = await startHostileSide();
    stops.push(() => hostile.stop());
    const pushStarted = performance.now();
    const real = await startRealSide(coldNeeded(reviews));
    stops.push(() => real.stop());
    const cold = real.cold.plain.length + real.cold.priv.length + real.cold.token.length;
    say(`registries up, ${cold} cold images pushed in ${Math.round(performance.now() - pushStarted)} ms`);
    const kube = await startFakeKube();
    stops.push(() => kube.stop());
    const server = await startSoakServer(serveFlags(real, hostile, kube), {
      keepLogs: opts.keepLogs ?? false,
    });
    let exit: SoakResult['server']['exit'] | undefined;
    stops.push(async () => void (exit ??= await server.stop()));
    opts.onServer?.(server);
    const idle = readProc(server.pid);
    const list = scenarios(real, hostile);
    const warmUp: Outcome[] = [];
    for (const s of list) warmUp.push(await sendReview(server, s));
    hostile.takeStaleDown();
    say(`warm-up: ${list.length} scenarios, ${warmUp.filter((o) => o.problem).length} unexpected`);
    const sampler = startSampler(server);
    const loadStart = readProc(server.pid);
    const load = await drive({
      server,
      next: picker(list, opts.seed ?? 1),
      ratePerSecond: opts.ratePerSecond,
      seconds: opts.seconds,
      onSecond: (ms) => {
        if (Math.round(ms / 1000) % 10 !== 0) return;
        hostile.trim();
        const rss = sampler.proc.at(-1)?.rssBytes ?? 0;
        say(`${Math.round(ms / 1000)} s: RSS ${(rss / 2 ** 20).toFixed(1)} MiB`);
      },
    });
    await sampler.stop();
    const end = readProc(server.pid);
    const healthz = (await server.get('/healthz')).status;
    const readyz = (await server.get('/readyz')).status;
    const alive = server.alive();
    exit = await server.stop();
    const all = [...sampler.proc.map((p) => p.rssBytes), end.rssBytes];
    return {
      options: { seconds: opts.seconds, ratePerSecond: opts.ratePerSecond, cacheMaxBytes: CACHE_MAX_BYTES },
      scenarios: list,
      warmUp,
      load,
      rss: { idle: idle.rssBytes, loadStart: loadStart.rssBytes, end: end.rssBytes, peak: Math.max(...all) },
      proc: sampler.proc,
      sampler,
      cpuSeconds: end.cpuSeconds - loadStart.cpuSeconds,
      fds: { loadStart: loadStart.fds, end: end.fds, max: Math.max(...sampler.proc.map((p) => p.fds)) },
      server: {
        levels: server.levels,
        messages: server.messages,
        healthz,
        readyz,
        alive,
        exit,
        stderr: server.stderr(),
      },
      canaryConnections: hostile.canary.connections,
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}
