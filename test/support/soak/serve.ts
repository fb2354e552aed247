import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

import { Agent, request } from 'undici';

import { freePort } from '../ports.js';

/**
 * `fn-pinner serve` as the image runs it: `node bin/fn-pinner.js` (the esbuild bundle in dist/, which
 * `npm test` and `npm run bench:soak` build first), NODE_ENV=production, in its own process so that its
 * RSS, CPU and event loop are its own. Its pino lines are counted by level as they come; the text is kept
 * only when asked (the leak scan reads it), else a short tail.
 */

const ROOT = join(import.meta.dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'fn-pinner.js');
const READY_TIMEOUT_MS = 60_000;
const TAIL = 40;

export interface SoakServer {
  pid: number;
  url: string;
  caPem: string;
  /** Trusts the server's CA; keep-alive connections, as the API server keeps them. */
  dispatcher: Agent;
  /** Log lines by level (info, warn, error, fatal, …) and by message. */
  levels: Map<string, number>;
  messages: Map<string, number>;
  /** Every line (when keepLogs), else the last few. */
  lines: string[];
  stderr(): string;
  alive(): boolean;
  get(path: string): Promise<{ status: number; text: string }>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startSoakServer(
  flags: string[],
  opts: { keepLogs?: boolean } = {},
): Promise<SoakServer> {
  if (!existsSync(join(ROOT, 'dist', 'cli'))) {
    throw new Error(`${join(ROOT, 'dist')} is missing: run npm run build (npm test does it first)`);
  }
  const certDir = mkdtempSync(join(tmpdir(), 'fn-pinner-soak-certs-'));
  const home = mkdtempSync(join(tmpdir(), 'fn-pinner-soak-home-'));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--host', '127.0.0.1', '--port', String(port), '--cert-dir', certDir, ...flags],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: home, NODE_ENV: 'production' },
    },
  );
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const levels = new Map<string, number>();
  const messages = new Map<string, number>();
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-8_000)));
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = parse(text);
    const level = typeof line.level === 'string' ? line.level : 'unparsed';
    levels.set(level, (levels.get(level) ?? 0) + 1);
    const msg = typeof line.msg === 'string' ? line.msg : '';
    messages.set(msg, (messages.get(msg) ?? 0) + 1);
    lines.push(text);
    if (!opts.keepLogs && lines.length > TAIL) lines.shift();
  });
  const url = `https://127.0.0.1:${port}`;
  const cleanup = (): void => {
    process.removeListener('exit', killOnExit);
    rmSync(certDir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  };
  try {
    await waitReady(child, url, () => `${stderr}\n${lines.slice(-10).join('\n')}`);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    cleanup();
    throw err;
  }
  const caPem = readFileSync(join(certDir, 'ca.crt'), 'utf8');
  const dispatcher = new Agent({ connect: { ca: caPem }, keepAliveTimeout: 60_000 });
  return {
    pid: child.pid!,
    url,
    caPem,
    dispatcher,
    levels,
    messages,
    lines,
    stderr: () => stderr,
    alive: () => child.exitCode === null && child.signalCode === null,
    get: async (path) => {
      const res = await request(`${url}${path}`, { dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000 });
      return { status: res.statusCode, text: await res.body.text() };
    },
    stop: async () => {
      await dispatcher.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const result = await exited;
      clearTimeout(timer);
      cleanup();
      return result;
    },
  };
}

function parse(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { msg: text };
  }
}

/** Until /readyz answers 200 (certificate served, pull Secret synced through the fake API). */
async function waitReady(child: ChildProcess, url: string, tail: () => string): Promise<void> {
  const probe = new Agent({ connect: { rejectUnauthorized: false } });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`fn-pinner serve exited (${child.exitCode ?? child.signalCode}):\n${tail()}`);
      }
      const status = await request(`${url}/readyz`, { dispatcher: probe })
        .then(async (res) => (await res.body.dump(), res.statusCode))
        .catch(() => 0);
      if (status === 200) return;
      if (Date.now() > deadline)
        throw new Error(`fn-pinner serve not ready in ${READY_TIMEOUT_MS} ms:\n${tail()}`);
      await sleep(100);
    }
  } finally {
    await probe.close();
  }
}
