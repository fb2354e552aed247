import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { runCli, writeDockerConfig } from '../support/cli.js';
import { imagePusher } from '../support/images.js';
import type { PushedImage, PushedIndex } from '../support/images.js';
import { startRegistry } from '../support/registry.js';
import type { RegistryKind, TestRegistry } from '../support/registry.js';

/**
 * `fn-pinner resolve` end to end against real distribution registries: every image kind on every registry
 * kind, and the exact --json contract.
 */
interface Pushed {
  both: PushedImage;
  cmdOnly: PushedImage;
  epOnly: PushedImage;
  neither: PushedImage;
  docker: PushedImage;
  ociIndex: PushedIndex;
  dockerList: PushedIndex;
}

const kinds: RegistryKind[] = ['plain', 'basic', 'tls', 'token'];
const registries = new Map<RegistryKind, TestRegistry>();
const pushed = new Map<RegistryKind, Pushed>();

async function pushAll(reg: TestRegistry): Promise<Pushed> {
  const p = imagePusher(reg);
  const platforms = [
    { os: 'linux', arch: 'amd64', entrypoint: ['/amd64/fn'], cmd: ['--amd'] },
    { os: 'linux', arch: 'arm64', variant: 'v8', entrypoint: ['/arm64/fn'], cmd: ['--arm'] },
  ];
  return {
    both: await p.pushImage('fn/both', 'v1', {
      entrypoint: ['/bin/fn', '--flag'],
      cmd: ['serve', '--port=8080'],
    }),
    cmdOnly: await p.pushImage('fn/cmd-only', 'v1', { cmd: ['/bin/sh', '-c', 'run'] }),
    epOnly: await p.pushImage('fn/ep-only', 'v1', { entrypoint: ['/fn'] }),
    neither: await p.pushImage('fn/neither', 'v1', {}),
    docker: await p.pushImage('fn/docker', 'v1', { entrypoint: ['/docker/fn'], format: 'docker' }),
    ociIndex: await p.pushIndex('fn/multi', 'v1', platforms),
    dockerList: await p.pushIndex('fn/list', 'v1', platforms, { format: 'docker' }),
  };
}

/** The flags each registry kind needs: plain HTTP opt-in, credentials, or the CA. */
function flagsFor(reg: TestRegistry): string[] {
  const flags: string[] = [];
  if (!reg.url.startsWith('https')) flags.push('--insecure-registry', reg.host);
  if (reg.kind === 'basic' || reg.kind === 'token') {
    flags.push('--docker-config', writeDockerConfig({ [reg.host]: [reg.username, reg.password] }));
  }
  if (reg.caDir) flags.push('--ca-file', join(reg.caDir, 'ca.crt'));
  return flags;
}

beforeAll(async () => {
  for (const kind of kinds) {
    const reg = await startRegistry(kind);
    registries.set(kind, reg);
    pushed.set(kind, await pushAll(reg));
  }
});

afterAll(async () => {
  await Promise.all([...registries.values()].map((r) => r.stop()));
});

describe.each(kinds)('fn-pinner resolve --json on a %s registry', (kind) => {
  const reg = (): TestRegistry => registries.get(kind)!;
  const img = (): Pushed => pushed.get(kind)!;

  async function resolveJson(repo: string, extra: string[] = []): Promise<Record<string, unknown>> {
    const image = `${reg().host}/${repo}:v1`;
    const r = await runCli(['resolve', image, '--json', ...flagsFor(reg()), ...extra]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    return JSON.parse(lines[0]!) as Record<string, unknown>;
  }

  it.each([
    ['Entrypoint and Cmd', 'fn/both', 'both', ['/bin/fn', '--flag'], ['serve', '--port=8080']],
    ['only Cmd', 'fn/cmd-only', 'cmdOnly', [], ['/bin/sh', '-c', 'run']],
    ['only Entrypoint', 'fn/ep-only', 'epOnly', ['/fn'], []],
    ['neither', 'fn/neither', 'neither', [], []],
    ['a Docker schema2 manifest', 'fn/docker', 'docker', ['/docker/fn'], []],
  ] as const)(
    'reports digest, entrypoint and cmd of an image with %s',
    async (_n, repo, key, entrypoint, cmd) => {
      const out = await resolveJson(repo);
      const digest = img()[key].digest;
      expect(out).toMatchObject({
        image: `${reg().host}/${repo}:v1`,
        digest,
        resolved: `${reg().host}/${repo}:v1@${digest}`,
        entrypoint,
        cmd,
        platform: 'linux/amd64',
        manifestDigest: digest,
        platforms: null,
      });
    },
  );

  it.each([
    ['an OCI index', 'fn/multi', 'ociIndex'],
    ['a Docker manifest list', 'fn/list', 'dockerList'],
  ] as const)(
    'pins %s by its index digest and takes the argv from the chosen platform',
    async (_n, repo, key) => {
      const index = img()[key];
      const amd = await resolveJson(repo);
      expect(amd).toMatchObject({
        digest: index.digest,
        resolved: `${reg().host}/${repo}:v1@${index.digest}`,
        entrypoint: ['/amd64/fn'],
        cmd: ['--amd'],
        platform: 'linux/amd64',
        manifestDigest: index.children[0]!.digest,
        platforms: ['linux/amd64', 'linux/arm64/v8'],
      });
      const arm = await resolveJson(repo, ['--platform', 'linux/arm64']);
      expect(arm).toMatchObject({
        digest: index.digest,
        entrypoint: ['/arm64/fn'],
        cmd: ['--arm'],
        platform: 'linux/arm64/v8',
        manifestDigest: index.children[1]!.digest,
      });
    },
  );

  it('resolves a reference that is already pinned by digest', async () => {
    const { digest } = img().both;
    const image = `${reg().host}/fn/both@${digest}`;
    const r = await runCli(['resolve', image, '--json', ...flagsFor(reg())]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      digest,
      resolved: image,
      entrypoint: ['/bin/fn', '--flag'],
    });
  });
});

describe('fn-pinner resolve output', () => {
  it('prints a short human-readable form without --json', async () => {
    const reg = registries.get('plain')!;
    const index = pushed.get('plain')!.ociIndex;
    const r = await runCli(['resolve', `${reg.host}/fn/multi:v1`, '--insecure-registry', reg.host]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `${reg.host}/fn/multi:v1`,
        `  resolved:   ${reg.host}/fn/multi:v1@${index.digest}`,
        '  platform:   linux/amd64 (index of 2)',
        '  entrypoint: ["/amd64/fn"]',
        '  cmd:        ["--amd"]',
        '',
      ].join('\n'),
    );
  });

  it('reads the Docker config afresh on every run', async () => {
    const reg = registries.get('basic')!;
    const file = writeDockerConfig({ [reg.host]: [reg.username, 'wrong'] });
    const args = [
      'resolve',
      `${reg.host}/fn/both:v1`,
      '--json',
      '--insecure-registry',
      reg.host,
      '--docker-config',
      file,
    ];
    expect((await runCli(args)).code).toBe(1);
    writeFileSync(
      file,
      JSON.stringify({ auths: { [reg.host]: { username: reg.username, password: reg.password } } }),
    );
    expect((await runCli(args)).code).toBe(0);
  });
});
