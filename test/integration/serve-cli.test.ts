import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runCli } from '../support/cli.js';

describe('fn-pinner gen-certs', () => {
  it('writes ca.crt, tls.crt and tls.key for the Service and prints only the base64 caBundle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-gen-'));
    const r = await runCli([
      'gen-certs',
      '--cert-dir',
      dir,
      '--service-name',
      'pinner',
      '--service-namespace',
      'ops',
    ]);
    expect(r.code).toBe(0);
    const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    expect(r.stdout).toBe(`${Buffer.from(ca).toString('base64')}\n`);
    const leaf = new X509Certificate(readFileSync(join(dir, 'tls.crt')));
    expect(leaf.checkIssued(new X509Certificate(ca))).toBe(true);
    expect(leaf.subjectAltName).toContain('DNS:pinner.ops.svc');
    expect(leaf.subjectAltName).toContain('DNS:pinner.ops.svc.cluster.local');
    expect(readFileSync(join(dir, 'tls.key'), 'utf8')).toContain('PRIVATE KEY');
    expect(r.stderr).toContain(`wrote ${dir}/{ca.crt,tls.crt,tls.key}`);
    // A second run keeps the valid certificate (same caBundle).
    const again = await runCli([
      'gen-certs',
      '--cert-dir',
      dir,
      '--service-name',
      'pinner',
      '--service-namespace',
      'ops',
    ]);
    expect(again.stdout).toBe(r.stdout);
    expect(again.stderr).toContain('kept');
  });
});

describe('fn-pinner serve configuration', () => {
  it('lists every invalid setting at once and exits non-zero without listening', async () => {
    const r = await runCli(
      ['serve', '--port', '70000', '--failure-policy', 'Never', '--resolve-timeout', '20'],
      {
        FN_PINNER_COMMAND_PREFIX: 'not-json',
        FN_PINNER_ENABLE_PRIVATE_REGISTRIES: 'maybe',
      },
    );
    expect(r.code).toBe(1);
    for (const expected of [
      '--port (FN_PINNER_PORT): want an integer ≥ 0 and ≤ 65535, got "70000"',
      '--failure-policy (FN_PINNER_FAILURE_POLICY): want one of Fail, Ignore, got "Never"',
      '--resolve-timeout (FN_PINNER_RESOLVE_TIMEOUT): must be shorter than --review-timeout (9 s)',
      '--command-prefix (FN_PINNER_COMMAND_PREFIX): want a JSON array of strings, got "not-json"',
      '--enable-private-registries (FN_PINNER_ENABLE_PRIVATE_REGISTRIES): want true or false, got "maybe"',
    ]) {
      expect(r.stderr).toContain(expected);
    }
    expect(r.stderr).toContain('5 problem(s)');
  });

  it('refuses private registries without a mounted Docker config, naming the path', async () => {
    const r = await runCli([
      'serve',
      '--enable-private-registries',
      '--registry-auth-secret-path',
      '/nonexistent/.dockerconfigjson',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/nonexistent/.dockerconfigjson does not exist (is the Secret mounted?)');
  });
});
