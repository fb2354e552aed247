import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';
import { parseAllDocuments } from 'yaml';

import { imagePusher } from '../support/images.js';
import type { PushedImage } from '../support/images.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';

/**
 * The installed entry point, as a user runs it: `node bin/fn-pinner.js` (the compiled dist/, which
 * `npm test` rebuilds first), in its own process, with real signals, stdin and exit codes.
 */
const BIN = new URL('../../bin/fn-pinner.js', import.meta.url).pathname;

interface Spawned {
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  pid: number;
  waitFor(re: RegExp): Promise<string>;
}

function run(args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Spawned {
  const home = mkdtempSync(join(tmpdir(), 'fn-pinner-bin-home-'));
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: home, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Spawned = {
    stdout: '',
    stderr: '',
    pid: child.pid!,
    exited: new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        rmSync(home, { recursive: true, force: true });
        resolve({ code, signal });
      }),
    ),
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(out.stdout + out.stderr);
          if (m) resolve(m[0]);
        };
        child.stdout.on('data', check);
        child.stderr.on('data', check);
        void out.exited.then(() => reject(new Error(`exited before ${re}: ${out.stderr}`)));
        check();
      }),
  };
  child.stdout.on('data', (d: Buffer) => void (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => void (out.stderr += d.toString()));
  child.stdin.end(opts.stdin ?? '');
  return out;
}

let reg: TestRegistry;
let app: PushedImage;

beforeAll(async () => {
  reg = await startRegistry('plain');
  app = await imagePusher(reg).pushImage('fn/app', 'v1', { entrypoint: ['/app'], cmd: ['--serve'] });
});

afterAll(async () => {
  await reg.stop();
});

describe('bin/fn-pinner.js', () => {
  it('prints its version', async () => {
    const p = run(['--version']);
    expect(await p.exited).toEqual({ code: 0, signal: null });
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(p.stdout).toBe(`${pkg.version}\n`);
  });

  it('serve: takes flags and environment, serves, and on SIGTERM drains and exits 0', async () => {
    const certDir = mkdtempSync(join(tmpdir(), 'fn-pinner-bin-certs-'));
    const p = run(['serve', '--host', '127.0.0.1', '--port', '0', '--cert-dir', certDir], {
      env: { FN_PINNER_FAILURE_POLICY: 'Ignore', LOG_LEVEL: 'info' },
    });
    const listening = await p.waitFor(/^.*"msg":"fn-pinner webhook listening".*$/m);
    expect(listening).toContain('"failurePolicy":"Ignore"');
    const port = Number(/"port":(\d+)/.exec(listening)?.[1]);
    const dispatcher = new Agent({ connect: { ca: readFileSync(join(certDir, 'ca.crt'), 'utf8') } });
    const res = await request(`https://127.0.0.1:${port}/healthz`, { dispatcher });
    expect(await res.body.text()).toBe('ok');
    await dispatcher.close();
    process.kill(p.pid, 'SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stdout).toContain('"msg":"shutting down: draining in-flight reviews"');
    expect(p.stdout).toMatch(/"msg":"stopped"\}\n$/);
    rmSync(certDir, { recursive: true, force: true });
  }, 60_000);

  it('serve: exits 1 naming the problem when the port is taken', async () => {
    const certDir = mkdtempSync(join(tmpdir(), 'fn-pinner-bin-certs-'));
    const first = run(['serve', '--host', '127.0.0.1', '--port', '0', '--cert-dir', certDir]);
    const port = /"port":(\d+)/.exec(await first.waitFor(/^.*"msg":"fn-pinner webhook listening".*$/m))?.[1];
    const second = run(['serve', '--host', '127.0.0.1', '--port', port!, '--cert-dir', certDir]);
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.stdout).toContain(`listen on 127.0.0.1:${port}: EADDRINUSE`);
    expect(second.stdout).toContain('"code":"LISTEN"');
    process.kill(first.pid, 'SIGTERM');
    await first.exited;
    rmSync(certDir, { recursive: true, force: true });
  }, 60_000);

  it('mutate -f -: pins every pod of a multi-document YAML read from stdin', async () => {
    const yaml = ['first', 'second']
      .map(
        (name) =>
          `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: f\n    image: ${reg.host}/fn/app:v1\n`,
      )
      .join('---\n');
    const p = run(['mutate', '-f', '-', '--insecure-registry', reg.host], { stdin: yaml });
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stderr).toBe('');
    const docs = parseAllDocuments(p.stdout).map((d) => d.toJS() as { spec: { containers: unknown[] } });
    expect(docs.map((d) => d.spec.containers)).toEqual([
      [{ name: 'f', image: `${reg.host}/fn/app:v1@${app.digest}`, command: ['/app'], args: ['--serve'] }],
      [{ name: 'f', image: `${reg.host}/fn/app:v1@${app.digest}`, command: ['/app'], args: ['--serve'] }],
    ]);
  });

  it('mutate -f -: reports an empty stdin and exits 1', async () => {
    const p = run(['mutate', '-f', '-']);
    expect(await p.exited).toEqual({ code: 1, signal: null });
    expect(p.stderr).toBe('fn-pinner mutate: read stdin: empty input\n');
  });

  it('exits 2 on an unknown command or flag, naming it', async () => {
    const p = run(['resolve', 'x', '--no-such-flag']);
    expect(await p.exited).toEqual({ code: 2, signal: null });
    expect(p.stderr).toContain("unknown option '--no-such-flag'");
  });
});
