import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { Agent, request } from 'undici';

import { track } from './kube.js';

/**
 * `fn-pinner serve` as its own process (test/support/cli-entry.ts under tsx's loader: the CLI's own code path,
 * signals included), for tests about what a pod sees: SIGTERM, exit codes, separate event loops. Its pino
 * lines (stdout) are parsed as they come, so tests wait for log events rather than for time.
 */

const CLI_ENTRY = join(import.meta.dirname, 'cli-entry.ts');
const ROOT = join(import.meta.dirname, '..', '..');
const LISTENING = 'fn-pinner webhook listening';

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

export interface ServeProcess {
  pid: number;
  port: number;
  url: string;
  certDir: string;
  /** Every log line so far. */
  logs: LogLine[];
  /** Resolves with the first line (past or future) that `match` accepts. */
  waitForLog(match: (line: LogLine) => boolean): Promise<LogLine>;
  /** GET /readyz as a kubelet probe does it: HTTPS without verifying the certificate. */
  readyz(): Promise<{ status: number; body: string }>;
  /** Resolves once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then resolves on exit with the time it took (ms, measured here). */
  terminate(): Promise<{ code: number | null; ms: number }>;
  /** SIGKILL if still running, close the probe agent, remove the cert dir (if this helper made it). */
  cleanup(): Promise<void>;
}

/**
 * Starts `fn-pinner serve --host 127.0.0.1 --port 0 --cert-dir DIR ARGS` and resolves once it listens. DIR
 * is `opts.certDir`, or a fresh directory (like an emptyDir) that cleanup() removes.
 */
export async function startServeProcess(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; certDir?: string } = {},
): Promise<ServeProcess> {
  const certDir = opts.certDir ?? mkdtempSync(join(tmpdir(), 'fn-pinner-certs-'));
  const ownDir = opts.certDir === undefined ? certDir : undefined;
  const home = mkdtempSync(join(tmpdir(), 'fn-pinner-home-'));
  // node --import tsx rather than the tsx launcher, so SIGTERM reaches fn-pinner itself, not a wrapper.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      CLI_ENTRY,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--cert-dir',
      certDir,
      ...args,
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: home, ...opts.env },
    },
  );
  track(child);
  const logs: LogLine[] = [];
  const waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    for (const w of [...waiters]) {
      if (!w.match(line)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitForLog = (match: (line: LogLine) => boolean): Promise<LogLine> => {
    const past = logs.find(match);
    if (past) return Promise.resolve(past);
    return new Promise((resolve) => waiters.push({ match, resolve }));
  };
  const listening = await Promise.race([
    waitForLog((l) => l.msg === LISTENING),
    exited.then(({ code, signal }) => {
      throw new Error(
        `fn-pinner serve exited (${code ?? signal}) before listening:\n${stderr}\n${tail(logs)}`,
      );
    }),
  ]);
  const port = Number(listening.port);
  const url = `https://127.0.0.1:${port}`;
  const probe = new Agent({ connect: { rejectUnauthorized: false } });
  return {
    pid: child.pid!,
    port,
    url,
    certDir,
    logs,
    waitForLog,
    exited,
    async readyz() {
      const res = await request(`${url}/readyz`, { dispatcher: probe, headersTimeout: 5_000 });
      return { status: res.statusCode, body: await res.body.text() };
    },
    async terminate() {
      const started = performance.now();
      child.kill('SIGTERM');
      const { code } = await exited;
      return { code, ms: performance.now() - started };
    },
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await probe.close();
      rmSync(home, { recursive: true, force: true });
      if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    },
  };
}

function tail(logs: LogLine[]): string {
  return logs
    .slice(-20)
    .map((l) => JSON.stringify(l))
    .join('\n');
}
