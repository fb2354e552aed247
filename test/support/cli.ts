import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { run } from '../../src/cli/main.js';
import { captured, knownCredential } from './leak-scan.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the CLI in-process with a clean environment (a fresh HOME, so no real ~/.docker/config.json leaks in). */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const home = mkdtempSync(join(tmpdir(), 'fn-pinner-home-'));
  const started = performance.now();
  const code = await run(['node', 'fn-pinner', ...args], {
    env: { HOME: home, ...env },
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    stderrStream: new Writable({
      write(chunk: Buffer, _enc, cb): void {
        stderr += chunk.toString();
        cb();
      },
    }),
  });
  const ms = performance.now() - started;
  rmSync(home, { recursive: true, force: true });
  captured(`fn-pinner ${args.join(' ')} (stdout and stderr)`, () => stdout + stderr);
  return { code, stdout, stderr, ms };
}

/** Writes a Docker config with `auths` entries (host → user:pass) and returns its path. */
export function writeDockerConfig(entries: Record<string, [string, string]>, dir?: string): string {
  const folder = dir ?? mkdtempSync(join(tmpdir(), 'fn-pinner-auth-'));
  for (const [host, [u, p]] of Object.entries(entries)) knownCredential(u, p, `Docker config entry ${host}`);
  const auths = Object.fromEntries(
    Object.entries(entries).map(([host, [u, p]]) => [
      host,
      { auth: Buffer.from(`${u}:${p}`).toString('base64') },
    ]),
  );
  const file = join(folder, 'config.json');
  writeFileSync(file, JSON.stringify({ auths }));
  return file;
}
