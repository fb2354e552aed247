import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';

import { FnPinnerError } from '../../../src/errors.js';
import { parseDockerConfig } from '../../../src/registry/auth/docker-config.js';
import { anyText, checkProperty, fuzzTimeout, mutated } from '../../support/fuzz.js';

/**
 * Docker config files hold passwords, and a malformed one is exactly when its content would end up in a
 * log. Properties: parseDockerConfig fails only with BAD_DOCKER_CONFIG, and no message, warning or
 * serialised result ever contains a secret from the file (passwords, auth strings, tokens, the password
 * half of a `user:pass@` in a key).
 */
const FILE = '/var/tmp/config-secret/.dockerconfigjson';

/** Distinctive, so a hit is a leak and not a coincidence with words of a message. */
const secret = fc
  .tuple(
    fc.constantFrom('pw', 'tok', 'S3cr3t'),
    fc.string({ unit: fc.constantFrom(...'abcdef0123456789'), minLength: 8, maxLength: 16 }),
    fc.string({ unit: fc.constantFrom(...'!:%+=~ éß'), maxLength: 3 }),
  )
  .map(([a, b, c]) => `${a}-${b}${c}`);

const host = fc.constantFrom(
  'registry.example.com',
  'registry.example.com:5000',
  'https://index.docker.io/v1/',
  'http://127.0.0.1:5000/v2/',
  '*.example.com',
  'ghcr.io/team/',
  'localhost',
  '[::1]:5000',
  'not a host',
  '',
  'ftp://x.example.com',
);

const b64 = (s: string): string => Buffer.from(s).toString('base64');

interface Secrets {
  values: string[];
}

/** One entry's fields, with its secrets recorded; some fields are of the wrong type or malformed. */
function entry(s: Secrets): fc.Arbitrary<unknown> {
  const remember = (v: string): string => (s.values.push(v), v);
  return fc.oneof(
    fc.record(
      {
        auth: fc.oneof(
          fc.tuple(fc.string({ maxLength: 8 }), secret).map(([u, p]) => remember(b64(`${u}:${remember(p)}`))),
          secret.map((p) => remember(b64(remember(p)))), // no colon
          secret.map(remember), // not base64, or base64 of bytes that are not UTF-8
          secret.map((p) =>
            remember(
              Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`:${remember(p)}`)]).toString('base64'),
            ),
          ),
        ),
        username: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
        password: fc.oneof(
          secret.map(remember),
          secret.map((p) => [remember(p)]),
          secret.map((p) => ({ p: remember(p) })),
        ),
        Password: secret.map(remember),
        identitytoken: fc.oneof(secret.map(remember), fc.constant(null)),
        identityToken: secret.map(remember),
        registrytoken: fc.oneof(secret.map(remember), fc.integer()),
        email: fc.string({ maxLength: 10 }),
      },
      { requiredKeys: [] },
    ),
    secret.map(remember), // an entry that is a bare string
    secret.map((p) => [remember(p)]),
    fc.constant(null),
  );
}

/** A config, legacy or current, and every secret in it. */
const config: fc.Arbitrary<{ text: string; secrets: string[] }> = fc.constant(null).chain(() => {
  const s: Secrets = { values: [] };
  const userinfoKey = fc
    .tuple(fc.constantFrom('', 'https://', ' https://', '\thttp://'), secret, fc.constantFrom('', '/x'), host)
    .map(([scheme, p, slash, h]) => `${scheme}robot:${remember(p + slash)}@${h}`);
  const remember = (v: string): string => (s.values.push(v), v);
  const auths = fc.dictionary(fc.oneof({ weight: 4, arbitrary: host }, userinfoKey), entry(s), {
    maxKeys: 4,
  });
  return fc
    .oneof(
      auths.map((a) => ({ auths: a })),
      auths.map((a) => ({ auths: a, credsStore: 'desktop', credHelpers: { 'gcr.io': 'gcloud' } })),
      auths, // legacy .dockercfg
      secret.map((p) => ({ auths: remember(p) })),
    )
    .map((root) => ({ text: JSON.stringify(root), secrets: s.values }));
});

/**
 * Secrets found in the outputs. Keys are named in messages on purpose, so a secret that a mutation turned
 * into a key is exempt; the password of a `user:pass@host` key is not: keys are named with it redacted.
 */
function leaks(text: string, secrets: string[], outputs: string[]): string[] {
  let keys: string[] = [];
  try {
    keys = allKeys(JSON.parse(text));
  } catch {
    keys = [];
  }
  const exempt = (v: string): boolean => keys.some((k) => k.includes(v) && !k.includes(`:${v}@`));
  return secrets.filter((v) => !exempt(v) && outputs.some((o) => o.includes(v)));
}

function allKeys(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(allKeys);
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [k, ...allKeys(x)]);
  return [];
}

function parseChecked(text: string, secrets: string[]): void {
  let outputs: string[];
  try {
    const parsed = parseDockerConfig(text, FILE);
    outputs = [JSON.stringify(parsed), ...parsed.warnings];
  } catch (err) {
    expect(err).toBeInstanceOf(FnPinnerError);
    expect((err as FnPinnerError).code).toBe('BAD_DOCKER_CONFIG');
    expect((err as FnPinnerError).message.startsWith(`load Docker config ${FILE}: `)).toBe(true);
    outputs = [(err as Error).message, String((err as Error).stack)];
  }
  expect(leaks(text, secrets, outputs)).toEqual([]);
}

describe('Docker config parser under arbitrary files', () => {
  it(
    'fails only with BAD_DOCKER_CONFIG and never names a secret, for generated configs',
    async () => {
      await checkProperty(
        'docker config: generated configs',
        fc.property(config, ({ text, secrets }) => parseChecked(text, secrets)),
      );
    },
    fuzzTimeout(),
  );

  it(
    'does the same for mutated configs and arbitrary text',
    async () => {
      const input = fc.oneof(
        config.chain((c) =>
          mutated(fc.constant(c.text), '{}[]":,\\ ').map((text) => ({ text, secrets: c.secrets })),
        ),
        anyText(200).map((text) => ({ text, secrets: [] as string[] })),
      );
      await checkProperty(
        'docker config: mutated and arbitrary text',
        fc.property(input, ({ text, secrets }) => parseChecked(text, secrets)),
      );
    },
    fuzzTimeout(),
  );
});
