import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * Everything the node suite changes on the host, saved before it starts and put back when it stops, or by
 * the next run when a run was killed (the state file outlives the process). The suite needs root.
 *
 * - sysctls the kubelet sets (setupKernelTunables) and the CNI bridge could set;
 * - the `kubepods` and `k8s.io` cgroups in every hierarchy;
 * - the CNI bridge;
 * - fixed paths that the kubelet and containerd use whatever their root dirs are;
 * - mounts under the suite's dirs (the kubelet bind-mounts its root onto itself, pod volumes, rootfs,
 *   network namespaces), and the processes it started (by PID, checked against their start time).
 */

/** The suite's own directories: fixed, so a later run can clean up after a killed one. */
export const NODE_ROOT = '/var/lib/fn-pinner-node-suite';
export const NODE_RUN = '/run/fn-pinner-node-suite';
export const BRIDGE = 'fnpinner0';
const STATE_FILE = '/run/fn-pinner-node-suite.state.json';
const LOCK_FILE = '/run/fn-pinner-node-suite.lock';

const SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/ipv4/ip_forward',
];
const FIXED_PATHS = [
  '/var/lib/kubelet',
  '/var/log/pods',
  '/var/log/containers',
  '/var/lib/cni',
  '/run/containerd',
  '/opt/containerd',
];
const CGROUPS = ['kubepods', 'k8s.io'];
const CGROUP_ROOT = '/sys/fs/cgroup';

export interface HostState {
  sysctls: Record<string, string>;
  /** path → its entries before the run, or null when it did not exist. */
  paths: Record<string, string[] | null>;
  /** cgroup dirs that existed before the run (left alone). */
  cgroups: string[];
  bridgeExisted: boolean;
  /** Processes the suite started: killed only when their start time still matches. */
  pids: Array<{ pid: number; start: string; name: string }>;
}

// ---------------------------------------------------------------------------------------------------------
// One node suite per machine at a time

/**
 * Holds a machine-wide lock (flock) in a small shell that lets go as soon as this process is gone, so a
 * killed run never blocks the next one. Resolves once the lock is held.
 */
export async function lockHost(): Promise<{ release(): void }> {
  const holder: ChildProcess = spawn(
    'flock',
    [LOCK_FILE, 'sh', '-c', `echo locked; while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`],
    { stdio: ['ignore', 'pipe', 'inherit'], detached: true },
  );
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject);
    holder.once('exit', (code) => reject(new Error(`flock ${LOCK_FILE} exited (${code})`)));
    holder.stdout!.once('data', () => resolve());
  });
  holder.removeAllListeners('exit');
  holder.stdout!.destroy();
  holder.unref();
  return { release: () => void holder.kill('SIGKILL') };
}

// ---------------------------------------------------------------------------------------------------------
// Save

export function saveHost(): HostState {
  const state: HostState = {
    sysctls: Object.fromEntries(
      SYSCTLS.filter((k) => existsSync(`/proc/sys/${k}`)).map((k) => [k, readText(`/proc/sys/${k}`)]),
    ),
    paths: Object.fromEntries(
      FIXED_PATHS.map((p) => [p, existsSync(p) ? readdirSync(p).sort() : null] as const),
    ),
    cgroups: cgroupDirs().filter((d) => existsSync(d)),
    bridgeExisted: existsSync(`/sys/class/net/${BRIDGE}`),
    pids: [],
  };
  writeState(state);
  return state;
}

/** Records a started process, so a later run can stop it if this one is killed. */
export function recordPid(state: HostState, pid: number | undefined, name: string): void {
  if (pid === undefined) return;
  state.pids.push({ pid, start: startTime(pid) ?? '', name });
  writeState(state);
}

function writeState(state: HostState): void {
  writeFileSync(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------------------
// Restore

/** A killed run left its state file: put the host back before anything else. Returns what was done. */
export function recoverHost(): string[] {
  if (!existsSync(STATE_FILE)) return [];
  const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as HostState;
  return restoreHost(state);
}

/** Puts everything back; each step is best effort and reported, so one failure does not stop the rest. */
export function restoreHost(state: HostState): string[] {
  const done: string[] = [];
  const step = (what: string, fn: () => number | void): void => {
    try {
      const n = fn();
      if (n !== 0) done.push(n === undefined ? what : `${what}: ${n}`);
    } catch (err) {
      done.push(`${what} FAILED: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  step('killed recorded processes', () => killRecorded(state));
  step('killed processes left in the kubepods cgroups', () => killCgroupProcs(state));
  step('killed leftover containerd shims', () => killShims());
  step('unmounted', () => unmountUnder([NODE_ROOT, NODE_RUN, ...createdPaths(state)]));
  step('removed cgroups', () => removeCgroups(state));
  step('deleted the CNI bridge', () => deleteBridge(state));
  step('restored sysctls', () => restoreSysctls(state));
  step('restored fixed paths', () => restorePaths(state));
  step('removed the suite dirs', () => {
    rmSync(NODE_ROOT, { recursive: true, force: true });
    rmSync(NODE_RUN, { recursive: true, force: true });
  });
  rmSync(STATE_FILE, { force: true });
  return done;
}

function killRecorded(state: HostState): number {
  let n = 0;
  for (const { pid, start } of state.pids) {
    if (start !== '' && startTime(pid) === start) {
      process.kill(pid, 'SIGKILL');
      n++;
    }
  }
  return n;
}

function killCgroupProcs(state: HostState): number {
  let n = 0;
  for (const dir of cgroupDirs()) {
    if (state.cgroups.includes(dir)) continue;
    for (const sub of walkDirs(dir)) {
      for (const pid of readText(join(sub, 'cgroup.procs')).split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
          n++;
        } catch {
          // already gone
        }
      }
    }
  }
  return n;
}

/** Shims are daemons of their own; ours name our containerd socket (under NODE_RUN) on their command line. */
function killShims(): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = readText(`/proc/${entry}/cmdline`).split('\0');
    if (cmdline[0]?.includes('containerd-shim') && cmdline.some((a) => a.startsWith(NODE_RUN))) {
      try {
        process.kill(Number(entry), 'SIGKILL');
        n++;
      } catch {
        // already gone
      }
    }
  }
  return n;
}

/** Mount points under the given dirs, deepest first (lazy: a busy mount goes once its users are gone). */
export function unmountUnder(dirs: string[]): number {
  const points = readText('/proc/self/mountinfo')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && dirs.some((d) => p === d || p.startsWith(`${d}/`)))
    .map((p) => p.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  for (const p of points) execFileSync('umount', ['-l', p], { stdio: 'ignore' });
  return points.length;
}

function removeCgroups(state: HostState): number {
  let n = 0;
  for (const dir of cgroupDirs()) {
    if (state.cgroups.includes(dir) || !existsSync(dir)) continue;
    for (const sub of walkDirs(dir).reverse()) {
      rmdirSync(sub);
      n++;
    }
  }
  return n;
}

function deleteBridge(state: HostState): number {
  if (state.bridgeExisted || !existsSync(`/sys/class/net/${BRIDGE}`)) return 0;
  execFileSync('ip', ['link', 'delete', BRIDGE]);
  return 1;
}

function restoreSysctls(state: HostState): number {
  let n = 0;
  for (const [key, value] of Object.entries(state.sysctls)) {
    if (readText(`/proc/sys/${key}`) === value) continue;
    writeFileSync(`/proc/sys/${key}`, value);
    n++;
  }
  return n;
}

function createdPaths(state: HostState): string[] {
  return Object.entries(state.paths).flatMap(([path, before]) =>
    before === null
      ? [path]
      : (safeReaddir(path) ?? []).filter((e) => !before.includes(e)).map((e) => join(path, e)),
  );
}

function restorePaths(state: HostState): number {
  const created = createdPaths(state);
  for (const path of created) rmSync(path, { recursive: true, force: true });
  return created.length;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

/** Every hierarchy's kubepods and k8s.io dir, once per real directory (cpu and cpuacct may be one). */
function cgroupDirs(): string[] {
  const seen = new Set<string>();
  for (const h of safeReaddir(CGROUP_ROOT) ?? []) {
    let real: string;
    try {
      real = realpathSync(join(CGROUP_ROOT, h));
    } catch {
      continue;
    }
    for (const name of CGROUPS) seen.add(join(real, name));
  }
  return [...seen];
}

/** dir and every directory below it, parents before children. */
function walkDirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out = [dir];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...walkDirs(join(dir, e.name)));
  }
  return out;
}

function startTime(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // Field 22; the command name (field 2) may hold spaces, so count from its closing parenthesis.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

function safeReaddir(path: string): string[] | undefined {
  try {
    return readdirSync(path);
  } catch {
    return undefined;
  }
}

export function ensureDirs(...dirs: string[]): void {
  for (const d of dirs) mkdirSync(d, { recursive: true });
}
