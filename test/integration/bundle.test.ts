import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { Agent, request } from 'undici';

import { imagePusher } from '../support/images.js';
import type { PushedImage } from '../support/images.js';
import { startEcrEndpoint, startMetadataServer } from '../support/cloud-emulators.js';
import { freePort } from '../support/ports.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';

/**
 * The esbuild bundle the image ships (scripts/bundle.ts), laid out as the Dockerfile lays it out: package.json,
 * bin/ and the bundle as dist/, with no node_modules anywhere. Every command runs from it.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const APP_LAYER_LIMIT = 15e6;
let app: string;
let reg: TestRegistry;
let fn: PushedImage;

function exec(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(
      cmd,
      args,
      { cwd: app, env: { PATH: process.env.PATH, HOME: app, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

const cli = (args: string[]): ReturnType<typeof exec> =>
  exec(process.execPath, ['bin/fn-pinner.js', ...args]);

/** The files a chunk imports statically (`import … from "./x.js"`), transitively: what loading it loads. */
function staticClosure(dir: string, entry: string): Set<string> {
  const seen = new Set([entry]);
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s*(?:[^'"()]*?from\s*)?["'](\.[^"']+)["']/g)) {
      const dep = join(dirname(file), m[1]!);
      if (!seen.has(dep)) {
        seen.add(dep);
        todo.push(dep);
      }
    }
  }
  return seen;
}

function sizeOf(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile())
    .reduce((sum, f) => sum + statSync(join(f.parentPath, f.name)).size, 0);
}

beforeAll(async () => {
  app = mkdtempSync(join(tmpdir(), 'fn-pinner-bundle-'));
  const out = join(app, 'out');
  const built = await exec(join(ROOT, 'node_modules', '.bin', 'tsx'), [
    join(ROOT, 'scripts', 'bundle.ts'),
    out,
  ]);
  expect(built.stderr).toBe('');
  cpSync(join(out, 'cli'), join(app, 'dist', 'cli'), { recursive: true });
  rmSync(out, { recursive: true });
  cpSync(join(ROOT, 'bin'), join(app, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
  reg = await startRegistry('plain');
  fn = await imagePusher(reg).pushImage('fn/app', 'v1', { entrypoint: ['/app'], cmd: ['--serve'] });
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  rmSync(app, { recursive: true, force: true });
});

describe('the bundled CLI (what the image runs)', () => {
  it('is one entry file with lazily loaded chunks, well under the app layer budget', () => {
    const files = readdirSync(join(app, 'dist', 'cli'), { recursive: true }).map(String);
    expect(files).toContain('main.js');
    expect(files.some((f) => /^chunks\/serve-.*\.js$/.test(f))).toBe(true);
    expect(sizeOf(app)).toBeLessThan(APP_LAYER_LIMIT);
  });

  it('keeps the cloud SDKs in chunks that only an image from their hosts loads', () => {
    const dir = join(app, 'dist', 'cli');
    const files = readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.js'));
    // Strings only the SDKs hold: the ECR JSON protocol's target prefix, gcp-metadata's host name.
    const markers = ['AmazonEC2ContainerRegistry_V20150921', 'metadata.google.internal'];
    const holds = (f: string, marker: string): boolean => readFileSync(join(dir, f), 'utf8').includes(marker);
    for (const marker of markers) expect(files.filter((f) => holds(f, marker)).length).toBeGreaterThan(0);
    const entries = files.filter((f) => f === 'main.js' || /^chunks\/(serve|resolve|mutate|audit)-/.test(f));
    expect(entries).toHaveLength(5);
    for (const entry of entries) {
      const loaded = [...staticClosure(dir, entry)];
      for (const marker of markers)
        expect([entry, loaded.filter((f) => holds(f, marker))]).toEqual([entry, []]);
    }
  });

  it('loads each cloud SDK from its chunk and gets a token from it (registry denied before any DNS lookup)', async () => {
    const [metadata, ecr] = await Promise.all([startMetadataServer(), startEcrEndpoint()]);
    try {
      const env = {
        GCE_METADATA_HOST: metadata.host,
        AWS_ENDPOINT_URL_ECR: ecr.url,
        AWS_ACCESS_KEY_ID: 'AKIAEMULATEDBUNDLE01',
        AWS_SECRET_ACCESS_KEY: 'emulated-bundle-secret',
        AWS_EC2_METADATA_DISABLED: 'true',
      };
      for (const image of [
        'europe-docker.pkg.dev/proj/fn/app:v1',
        '123456789012.dkr.ecr.us-east-1.amazonaws.com/fn/app:v1',
      ]) {
        const host = image.split('/')[0]!;
        const r = await exec(
          process.execPath,
          ['bin/fn-pinner.js', 'resolve', image, '--registry-deny', host],
          env,
        );
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`resolve ${image} failed`);
      }
      expect(metadata.tokens).toHaveLength(1);
      expect(ecr.calls.map((c) => [c.region, c.status])).toEqual([['us-east-1', 200]]);
    } finally {
      await Promise.all([metadata.stop(), ecr.stop()]);
    }
  });

  it('prints its version from package.json', async () => {
    const r = await cli(['--version']);
    expect(r).toEqual({
      code: 0,
      stdout: `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`,
      stderr: '',
    });
  });

  it('resolve: digest, entrypoint and cmd from a real registry', async () => {
    const r = await cli(['resolve', `${reg.host}/fn/app:v1`, '--insecure-registry', reg.host, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ digest: fn.digest, entrypoint: ['/app'], cmd: ['--serve'] });
  });

  it('mutate: pins a pod', async () => {
    const file = join(app, 'pod.json');
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'fn' },
        spec: { containers: [{ name: 'f', image: `${reg.host}/fn/app:v1` }] },
      }),
    );
    const r = await cli(['mutate', '-f', file, '--insecure-registry', reg.host]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).spec.containers[0]).toEqual({
      name: 'f',
      image: `${reg.host}/fn/app:v1@${fn.digest}`,
      command: ['/app'],
      args: ['--serve'],
    });
  });

  it('gen-certs: writes the serving certificate', async () => {
    const dir = join(app, 'certs');
    const r = await cli(['gen-certs', '--cert-dir', dir]);
    expect(r.code).toBe(0);
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['ca.crt', 'tls.crt', 'tls.key']));
  });

  it('serve: answers /healthz over HTTPS and stops on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        'bin/fn-pinner.js',
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--cert-dir',
        join(app, 'serve-certs'),
      ],
      {
        cwd: app,
        env: { PATH: process.env.PATH, HOME: app },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const spawned = performance.now();
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not listen: ${out}`)), 30_000);
        child.stdout.on('data', () => {
          if (out.includes('fn-pinner webhook listening')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      // A figure for docs/benchmarks.md, not a bound: process start → listening (certificates generated).
      console.info(`bundled serve: listening ${Math.round(performance.now() - spawned)} ms after spawn`);
      const ca = readFileSync(join(app, 'serve-certs', 'ca.crt'), 'utf8');
      const dispatcher = new Agent({ connect: { ca } });
      const res = await request(`https://127.0.0.1:${port}/healthz`, { dispatcher });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      await dispatcher.close();
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);
});
