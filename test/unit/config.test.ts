import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Command } from 'commander';

import { addSettings } from '../../src/config/commander.js';
import { loadConfig, optionKey } from '../../src/config/load.js';
import { SETTINGS } from '../../src/config/settings.js';
import type { Setting } from '../../src/config/settings.js';
import { admissionOptions, registryOptions } from '../../src/config/options.js';
import { generateCa } from '../../src/tls/certs.js';

const all = SETTINGS as readonly Setting[];
const dir = (): string => mkdtempSync(join(tmpdir(), 'fn-pinner-config-'));
const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message.split('\n').slice(1);
  }
  return [];
};

describe('the settings table', () => {
  it('declares each flag, environment variable and destination once', () => {
    const unique = (values: string[]): boolean => new Set(values).size === values.length;
    expect(unique(all.map((s) => s.flag.split(' ')[0]!))).toBe(true);
    expect(unique(all.map((s) => s.env))).toBe(true);
    expect(unique(all.map((s) => s.to.join('.')))).toBe(true);
  });

  it('parses every default with its own schema', () => {
    for (const s of all) {
      const raw = s.default === undefined ? undefined : s.repeatable ? s.default.split(',') : s.default;
      expect({ flag: s.flag, ok: s.schema.safeParse(raw).success }).toEqual({ flag: s.flag, ok: true });
    }
  });

  it('registers exactly the settings a command takes as commander options', () => {
    const cmd = addSettings(new Command('serve'), 'serve');
    const names = cmd.options.map((o) => o.attributeName());
    expect(names).toEqual(all.filter((s) => s.commands.includes('serve')).map(optionKey));
    expect(names).not.toContain('dockerConfig');
  });
});

describe('loadConfig', () => {
  it('takes the flag over the environment over the default, and converts units', () => {
    const env = { FN_PINNER_TAG_TTL: '60', FN_PINNER_RESOLVE_TIMEOUT: '3' };
    const config = loadConfig('resolve', { tagTtl: '10' }, env);
    expect(config.cache.tagTtlMs).toBe(10_000);
    expect(config.resolver.deadlineMs).toBe(3_000);
    expect(config.registry.requestTimeoutMs).toBe(5_000);
  });

  it('splits repeatable environment variables on commas, and takes repeated flags as given', () => {
    const env = { FN_PINNER_INSECURE_REGISTRIES: ' a.example:5000, ,B.example ' };
    expect(loadConfig('resolve', {}, env).registry.insecureRegistries).toEqual([
      'a.example:5000',
      'b.example',
    ]);
    const flags = { insecureRegistry: ['c.example', 'd.example:1'] };
    expect(loadConfig('resolve', flags, env).registry.insecureRegistries).toEqual([
      'c.example',
      'd.example:1',
    ]);
  });

  it('ignores the environment of settings the command does not take', () => {
    const config = loadConfig('resolve', {}, { FN_PINNER_FAILURE_POLICY: 'bogus', FN_PINNER_PORT: 'x' });
    expect(config.admission.failurePolicy).toBe('Fail');
  });

  it('keeps one-shot commands quiet unless a log level is asked for', () => {
    expect(loadConfig('resolve', {}, {}).log.level).toBe('error');
    expect(loadConfig('resolve', {}, { LOG_LEVEL: 'debug' }).log.level).toBe('debug');
    expect(loadConfig('serve', {}, {}).log.level).toBe('info');
  });

  it('lists every problem at once, each naming its flag and variable', () => {
    const problems = problemsOf(() =>
      loadConfig(
        'serve',
        { port: '70000', failurePolicy: 'Never', resolveTimeout: '20', platform: 'linux' },
        { FN_PINNER_COMMAND_PREFIX: 'not-json', FN_PINNER_INSECURE_REGISTRIES: 'bad host' },
      ),
    );
    expect(problems).toEqual([
      '  - --platform (FN_PINNER_PLATFORM): parse platform "linux": want OS/ARCH[/VARIANT]',
      '  - --insecure-registry (FN_PINNER_INSECURE_REGISTRIES): "bad host" is not a registry host: want HOST[:PORT]',
      '  - --command-prefix (FN_PINNER_COMMAND_PREFIX): want a JSON array of strings, got "not-json"',
      '  - --failure-policy (FN_PINNER_FAILURE_POLICY): want one of Fail, Ignore, got "Never"',
      '  - --port (FN_PINNER_PORT): want an integer ≥ 0 and ≤ 65535, got "70000"',
      '  - --resolve-timeout (FN_PINNER_RESOLVE_TIMEOUT): must be shorter than --review-timeout (9 s) so a registry error is reported before the review deadline',
    ]);
  });

  it('throws BAD_CONFIG with the count of problems', () => {
    expect(() => loadConfig('mutate', { failurePolicy: 'x' }, {})).toThrow(
      expect.objectContaining({
        code: 'BAD_CONFIG',
        message: expect.stringMatching(/^load configuration: 1 problem\(s\):/),
      }),
    );
  });
});

describe('loadConfig: the files settings point at', () => {
  it('reads the registry CA from ca.crt, else ca.pem, in --tls-secret-path', () => {
    const d = dir();
    const pem = generateCa().certPem;
    writeFileSync(join(d, 'ca.pem'), pem);
    const opts = { enablePrivateRegistriesTls: true, tlsSecretPath: d };
    expect(loadConfig('serve', opts, {}).inputs.ca).toEqual({ pem, source: join(d, 'ca.pem') });
    writeFileSync(join(d, 'ca.crt'), pem);
    expect(registryOptions(loadConfig('mutate', opts, {})).caSource).toBe(join(d, 'ca.crt'));
  });

  it('rejects a CA file that only looks like PEM, and a folder with no CA', () => {
    const d = dir();
    writeFileSync(join(d, 'ca.crt'), '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n');
    const opts = { enablePrivateRegistriesTls: true, tlsSecretPath: d };
    expect(problemsOf(() => loadConfig('serve', opts, {}))).toEqual([
      expect.stringMatching(
        /^ {2}- --tls-secret-path \(FN_PINNER_TLS_SECRET_PATH\): .*\/ca\.crt: certificate 1 of 1 cannot be parsed \(/,
      ),
    ]);
    expect(
      problemsOf(() => loadConfig('serve', { enablePrivateRegistriesTls: true, tlsSecretPath: dir() }, {})),
    ).toEqual([
      expect.stringMatching(
        /--tls-secret-path \(FN_PINNER_TLS_SECRET_PATH\): neither ca.crt nor ca.pem found in /,
      ),
    ]);
  });

  it('uses the mounted Docker config for custom registries only with private registries enabled', () => {
    const file = join(dir(), '.dockerconfigjson');
    writeFileSync(file, '{"auths":{"r.example":{"auth":"dTpw"}}}');
    const off = loadConfig('serve', { registryAuthSecretPath: file }, {});
    expect(off.inputs.customDockerConfig).toBeUndefined();
    expect(admissionOptions(off).mutation.pullSecret).toBeUndefined();
    const on = loadConfig('serve', { registryAuthSecretPath: file, enablePrivateRegistries: true }, {});
    expect(on.inputs.customDockerConfig).toBe(file);
    expect(admissionOptions(on).mutation.pullSecret?.name).toBe('auth-secret');
  });

  it('names a mounted Docker config that is not there', () => {
    expect(
      problemsOf(() =>
        loadConfig('serve', { enablePrivateRegistries: 'true', registryAuthSecretPath: '/nope/x' }, {}),
      ),
    ).toEqual([
      '  - --registry-auth-secret-path (FN_PINNER_REGISTRY_AUTH_SECRET_PATH): /nope/x does not exist (is the Secret mounted?)',
    ]);
  });

  it('finds the default keychain files from the environment, and notices a pod', () => {
    const config = loadConfig('resolve', {}, { HOME: '/h', KUBERNETES_SERVICE_HOST: '10.0.0.1' });
    expect(config.inputs.defaultDockerConfigs).toEqual(['/h/.docker/config.json']);
    expect(config.inputs.inCluster).toBe(true);
  });
});
