import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

import { runCli } from '../support/cli.js';
import { imagePusher } from '../support/images.js';
import type { PushedImage } from '../support/images.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';

let reg: TestRegistry;
let app: PushedImage;
const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-mutate-'));

beforeAll(async () => {
  reg = await startRegistry('plain');
  app = await imagePusher(reg).pushImage('fn/app', 'v1', { entrypoint: ['/app'], cmd: ['--serve'] });
});

afterAll(async () => {
  await reg.stop();
});

function pod(name: string, image: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'porch-fn-system' },
    spec: { containers: [{ name: 'function', image }] },
  };
}

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('fn-pinner mutate', () => {
  it('pins a Pod in YAML and writes YAML back', async () => {
    const file = write(
      'pod.yaml',
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: fn\nspec:\n  containers:\n    - name: function\n      image: ${reg.host}/fn/app:v1\n`,
    );
    const r = await runCli(['mutate', '-f', file, '--insecure-registry', reg.host]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [doc] = parseAllDocuments(r.stdout);
    expect(doc!.toJS()).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'fn',
        annotations: {
          'fn-pinner.io/original-images': JSON.stringify({ function: `${reg.host}/fn/app:v1` }),
        },
        labels: { 'fn-pinner.io/pinned': 'true' },
      },
      spec: {
        containers: [
          {
            name: 'function',
            image: `${reg.host}/fn/app:v1@${app.digest}`,
            command: ['/app'],
            args: ['--serve'],
          },
        ],
      },
    });
  });

  it('pins every Pod of a JSON List, leaves other objects alone, and writes JSON back', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } };
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [pod('a', `${reg.host}/fn/app:v1`), cm, pod('b', `${reg.host}/fn/app:v1`)],
    };
    const r = await runCli([
      'mutate',
      '-f',
      write('list.json', JSON.stringify(list)),
      '--insecure-registry',
      reg.host,
      '--command-prefix',
      '["/wrap","--"]',
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.items[1]).toEqual(cm);
    for (const i of [0, 2]) {
      expect(out.items[i].spec.containers[0]).toMatchObject({
        image: `${reg.host}/fn/app:v1@${app.digest}`,
        command: ['/wrap', '--', '/app'],
        args: ['--serve'],
      });
    }
  });

  it('is idempotent: mutating its own output changes nothing', async () => {
    const first = await runCli([
      'mutate',
      '-f',
      write('p.json', JSON.stringify(pod('a', `${reg.host}/fn/app:v1`))),
      '--insecure-registry',
      reg.host,
    ]);
    const second = await runCli([
      'mutate',
      '-f',
      write('p2.json', first.stdout),
      '--insecure-registry',
      reg.host,
    ]);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
  });

  it('writes nothing and exits non-zero when one pod cannot be pinned, naming the pod and image', async () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [pod('ok', `${reg.host}/fn/app:v1`), pod('bad', `${reg.host}/fn/app:missing`)],
    };
    const r = await runCli([
      'mutate',
      '-f',
      write('bad.json', JSON.stringify(list)),
      '--insecure-registry',
      reg.host,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('pod bad:');
    expect(r.stderr).toContain(`${reg.host}/fn/app:missing`);
    expect(r.stderr).toContain('not found');
  });

  it('admits unresolvable pods unmutated with a warning under --failure-policy Ignore', async () => {
    const p = pod('bad', `${reg.host}/fn/app:missing`);
    const r = await runCli([
      'mutate',
      '-f',
      write('ign.json', JSON.stringify(p)),
      '--insecure-registry',
      reg.host,
      '--failure-policy',
      'Ignore',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(p);
    expect(r.stderr).toContain('warning: pod bad: fn-pinner: not found');
  });

  it.each([
    ['invalid JSON', '{"kind": ', /read .*broken.json: invalid JSON/],
    ['invalid YAML', 'kind: Pod\n  bad: : indent', /read .*broken.json: document 1: invalid YAML/],
    ['an empty file', '', /read .*broken.json: empty input/],
  ])('rejects %s with a clear error', async (_n, text, message) => {
    const r = await runCli(['mutate', '-f', write('broken.json', text)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  it('rejects invalid flags listing every problem', async () => {
    const r = await runCli([
      'mutate',
      '-f',
      '-',
      '--failure-policy',
      'Sometimes',
      '--command-prefix',
      'wrap',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('2 problem(s)');
    expect(r.stderr).toContain(
      '--failure-policy (FN_PINNER_FAILURE_POLICY): want one of Fail, Ignore, got "Sometimes"',
    );
    expect(r.stderr).toContain('--command-prefix (FN_PINNER_COMMAND_PREFIX): want a JSON array of strings');
  });
});
