import { execFile } from 'node:child_process';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from '@jest/globals';

import { captureLogger } from '../support/capture-logger.js';
import { writeDockerConfig } from '../support/cli.js';
import { captureMark, dropCapturesSince, knownToken, scanForLeaks } from '../support/leak-scan.js';

/** The credential-leak scan itself: it finds a planted secret, and a hit fails the test file. */
const ROOT = join(import.meta.dirname, '..', '..');
let mark = captureMark();

afterEach(() => {
  // What these tests planted must not fail this file.
  dropCapturesSince(mark);
});

describe('credential-leak scan', () => {
  it('finds a planted password, base64 auth and token in captured logs, masking them in the report', () => {
    mark = captureMark();
    const password = `hunter2-${Date.now()}`;
    writeDockerConfig({ 'registry.example.com:5000': ['robot', password] });
    const token = knownToken(`eyJhbGciOi.eyJzdWIiOi.${'s1gnature'.repeat(4)}`, 'planted token');
    const { log } = captureLogger('info');
    log.warn({ detail: `GET /v2/: 401 with password ${password}` }, 'one');
    log.warn({ header: `Basic ${Buffer.from(`robot:${password}`).toString('base64')}` }, 'two');
    log.warn({ detail: `token …${token.slice(20)}` }, 'three'); // its start cut off: the signature still shows

    const leaks = scanForLeaks();

    expect(leaks.map((l) => l.secret).sort()).toEqual([
      'Docker config entry registry.example.com:5000 base64 auth',
      'Docker config entry registry.example.com:5000 password',
      'planted token (signature)',
    ]);
    expect(leaks.every((l) => l.where === 'captureLogger lines')).toBe(true);
    for (const l of leaks) {
      expect(l.context).toContain('***');
      expect(l.context).not.toContain(password);
    }
  });

  it('finds nothing in the same logs without the secret, nor for a short password it cannot tell from text', () => {
    mark = captureMark();
    writeDockerConfig({ 'registry.example.com': ['robot', 'wrong'] });
    const { log } = captureLogger('info');
    log.warn({ detail: 'the registry said the password was wrong' }, 'one');
    expect(scanForLeaks()).toEqual([]);
  });

  it.each([
    ['with a planted password, fails the file, naming the secret and where it was', '1', 1],
    ['without it, passes', '0', 0],
  ])(
    'runs as a test environment: a test file %s',
    async (_label, plant, code) => {
      const { default: config } = (await import(join(ROOT, 'jest.config.js'))) as {
        default: { projects: Array<Record<string, unknown>> };
      };
      const integration = config.projects.find((p) => p.displayName === 'integration')!;
      const fixture = {
        ...integration,
        rootDir: ROOT,
        displayName: 'leak-scan-fixture',
        testMatch: ['<rootDir>/test/fixtures/leak-scan/planted.fixture.ts'],
      };
      const run = await jest([`--config=${JSON.stringify(fixture)}`, '--ci'], { PLANT_LEAK: plant });
      expect({ code: run.code, output: run.output }).toMatchObject({ code });
      if (code === 1) {
        expect(run.output).toContain("credential leak scan: 1 secret(s) found in fn-pinner's output");
        expect(run.output).toContain(
          'Docker config entry registry.example.com password in captureLogger lines',
        );
        expect(run.output).toMatch(/retrying with \*\*\*/);
        expect(run.output).not.toMatch(/planted-\d+-password/);
      }
    },
    120_000,
  );
});

function jest(args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  const bin = join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--experimental-vm-modules', '--disable-warning=ExperimentalWarning', bin, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 110_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}
