import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { Agent, request } from 'undici';

import { freePort } from '../test/support/ports.js';

/**
 * The two servers under load, each in its own process so that neither shares an event loop with the load
 * generator: `fn-pinner serve` from source (test/support/cli-entry.ts under tsx, exactly the CLI's code
 * path, logging its decision lines to stdout = /dev/null), and a bare node:https server with the same
 * certificate that answers every POST with a constant AdmissionReview.
 */

const CLI_ENTRY = fileURLToPath(new URL('../test/support/cli-entry.ts', import.meta.url));
const BARE_ENTRY = fileURLToPath(new URL('./bare-server.ts', import.meta.url));
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
/** /proc/<pid>/stat counts CPU time in clock ticks; Linux's USER_HZ is 100 everywhere that matters. */
const CLOCK_TICKS_PER_S = 100;

export interface ServerProcess {
  label: string;
  url: string;
  pid: number;
  /** The CA that signed the serving certificate (both servers serve fn-pinner's). */
  caPem: string;
  /** Trusts the fn-pinner CA (the bare server serves the same certificate). */
  dispatcher: Agent;
  /** CPU seconds (user + system) the process has used so far. */
  cpuSeconds(): number;
  /** The last lines of its stderr, for failures. */
  stderrTail(): string;
  /** SIGTERM, wait for the exit (a --cpu-prof profile is written then), SIGKILL after 10 s. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

/**
 * The child node runs under the same loader as this process (tsx's --require/--import), plus `extraArgs`;
 * a plain .js/.mjs script (a compiled CLI) runs without the loader.
 */
function spawnNode(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  extraArgs: string[],
): ChildProcess {
  const loader = /\.m?js$/.test(script) ? [] : process.execArgv;
  const child = spawn(process.execPath, [...loader, ...extraArgs, script, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH, NODE_ENV: 'production', ...env },
  });
  track(child);
  return child;
}

function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14 and stime 15 (1-based over the whole line).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

async function waitReady(
  child: ChildProcess,
  url: string,
  dispatcher: Agent,
  tail: () => string,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${url}: server exited (${child.exitCode ?? child.signalCode}):\n${tail()}`);
    }
    try {
      const res = await request(`${url}/readyz`, { dispatcher });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url}: not ready after ${START_TIMEOUT_MS} ms:\n${tail()}`);
    await sleep(100);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

async function startChild(
  label: string,
  script: string,
  args: (port: number) => string[],
  opts: { env: NodeJS.ProcessEnv; caPem: () => string; nodeArgs?: string[] },
): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawnNode(script, args(port), opts.env, opts.nodeArgs ?? []);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const tail = (): string => stderr;
  const url = `https://127.0.0.1:${port}`;
  let dispatcher: Agent | undefined;
  try {
    // The CA exists once the server has written its cert dir; until then, connect without trusting anything.
    const probe = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      await waitReady(child, url, probe, tail);
    } finally {
      await probe.close();
    }
    dispatcher = new Agent({ connect: { ca: opts.caPem() }, pipelining: 1 });
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  const agent = dispatcher;
  return {
    label,
    url,
    pid: child.pid!,
    caPem: opts.caPem(),
    dispatcher: agent,
    cpuSeconds: () => procCpuSeconds(child.pid!),
    stderrTail: tail,
    stop: async () => {
      await agent.close();
      await stopChild(child);
    },
  };
}

export interface FnPinnerProcess extends ServerProcess {
  certDir: string;
}

/**
 * `fn-pinner serve` with the given flags (host, port and cert dir are added); `nodeArgs` e.g. --cpu-prof.
 * `entry` is the CLI entry point: by default the source under tsx, or e.g. bin/fn-pinner.js (compiled dist/).
 */
export async function startFnPinner(
  flags: string[],
  opts: { nodeArgs?: string[]; entry?: string } = {},
): Promise<FnPinnerProcess> {
  const certDir = mkdtempSync(join(tmpdir(), 'fn-pinner-bench-certs-'));
  const home = mkdtempSync(join(tmpdir(), 'fn-pinner-bench-home-'));
  const caPem = (): string => readFileSync(join(certDir, 'ca.crt'), 'utf8');
  try {
    const server = await startChild(
      'fn-pinner',
      opts.entry ?? CLI_ENTRY,
      (port) => ['serve', '--host', '127.0.0.1', '--port', String(port), '--cert-dir', certDir, ...flags],
      { env: { HOME: home }, caPem, nodeArgs: opts.nodeArgs ?? [] },
    );
    return {
      ...server,
      certDir,
      stop: async () => {
        await server.stop();
        rmSync(certDir, { recursive: true, force: true });
        rmSync(home, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(certDir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
}

/** The bare node:https server on fn-pinner's serving certificate, answering every POST with `body`. */
export async function startBare(certDir: string, caPem: string, bodyFile: string): Promise<ServerProcess> {
  return startChild('bare node:https', BARE_ENTRY, (port) => [String(port), certDir, bodyFile], {
    env: {},
    caPem: () => caPem,
  });
}
