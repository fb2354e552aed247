import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';

import { isFnPinnerError, type FnPinnerError } from '../../src/errors.js';
import { credentialKind, type Credential } from '../../src/registry/auth/credentials.js';
import { parseDockerConfig } from '../../src/registry/auth/docker-config.js';

const FILE = '/etc/auth/config.json';
const SECRET = 'S3cr3t:pa55';
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unpadded = (s: string): string => b64(s).replace(/=+$/, '');

function only(json: unknown): Credential {
  const { entries } = parseDockerConfig(JSON.stringify(json), FILE);
  expect(entries).toHaveLength(1);
  return entries[0]!.credential;
}

function failure(text: string): FnPinnerError {
  try {
    parseDockerConfig(text, FILE);
  } catch (err) {
    expect(isFnPinnerError(err, 'BAD_DOCKER_CONFIG')).toBe(true);
    return err as FnPinnerError;
  }
  throw new Error('expected parseDockerConfig to throw');
}

describe('parseDockerConfig entries', () => {
  it('decodes a padded auth field; the password keeps its colons', () => {
    const cred = only({ auths: { 'ghcr.io': { auth: b64(`alice:${SECRET}`) } } });
    expect(cred).toEqual({ username: 'alice', password: SECRET, source: `${FILE} auths["ghcr.io"]` });
  });

  it('decodes an unpadded auth field', () => {
    const auth = unpadded('bob:x');
    expect(auth.endsWith('=')).toBe(false);
    expect(b64('bob:x').endsWith('=')).toBe(true);
    expect(only({ auths: { 'ghcr.io': { auth } } })).toMatchObject({ username: 'bob', password: 'x' });
  });

  it('decodes base64 split over lines', () => {
    const auth = b64('carol:longer-password-value');
    const wrapped = `${auth.slice(0, 8)}\n${auth.slice(8)}`;
    expect(only({ auths: { 'ghcr.io': { auth: wrapped } } })).toMatchObject({ username: 'carol' });
  });

  it('reads username and password fields', () => {
    expect(only({ auths: { 'quay.io': { username: 'u', password: 'p', email: 'u@example.com' } } })).toEqual({
      username: 'u',
      password: 'p',
      source: `${FILE} auths["quay.io"]`,
    });
  });

  it('lets auth win over separate username/password fields, as docker does', () => {
    const cred = only({
      auths: { 'quay.io': { auth: b64('from-auth:p1'), username: 'field', password: 'p2' } },
    });
    expect(cred).toMatchObject({ username: 'from-auth', password: 'p1' });
  });

  it('reads identity and registry tokens', () => {
    const cred = only({ auths: { 'acr.example.io': { username: '0000', identitytoken: 'id-tok' } } });
    expect(cred).toMatchObject({ username: '0000', identityToken: 'id-tok' });
    expect(credentialKind(cred)).toBe('identity-token');
    const token = only({ auths: { 'r.example.io': { registrytoken: 'reg-tok' } } });
    expect(token).toMatchObject({ registryToken: 'reg-tok' });
    expect(credentialKind(token)).toBe('registry-token');
  });

  it('matches field names case-insensitively, like Go encoding/json', () => {
    const cred = only({ auths: { 'ghcr.io': { Auth: b64('a:b'), identityToken: 'tok' } } });
    expect(cred).toMatchObject({ username: 'a', password: 'b', identityToken: 'tok' });
  });

  it('accepts the legacy .dockercfg form with entries at the top level', () => {
    const { entries } = parseDockerConfig(
      JSON.stringify({
        'https://index.docker.io/v1/': { auth: b64('hub:pw'), email: 'x@y' },
        'localhost:5000': { auth: b64('l:p') },
      }),
      '/secrets/.dockercfg',
    );
    expect(entries.map((e) => [e.key.host, e.credential.username, e.credential.source])).toEqual([
      ['docker.io', 'hub', '/secrets/.dockercfg ["https://index.docker.io/v1/"]'],
      ['localhost:5000', 'l', '/secrets/.dockercfg ["localhost:5000"]'],
    ]);
  });

  it('treats an empty object, a config without auths and null auths as no credentials', () => {
    for (const text of ['{}', '{"psFormat":"table"}', '{"auths":null}', '{"auths":{}}']) {
      expect(parseDockerConfig(text, FILE)).toEqual({ entries: [], warnings: [] });
    }
  });

  it('skips entries without credentials with a warning (what docker login writes next to a credsStore)', () => {
    const parsed = parseDockerConfig(
      JSON.stringify({ auths: { 'ghcr.io': {}, 'quay.io': { email: 'e' } } }),
      FILE,
    );
    expect(parsed.entries).toEqual([]);
    expect(parsed.warnings).toEqual([
      `load Docker config ${FILE}: auths["ghcr.io"] has no credentials; ignored`,
      `load Docker config ${FILE}: auths["quay.io"] has no credentials; ignored`,
    ]);
  });
});

describe('parseDockerConfig credential helpers', () => {
  it('ignores credsStore and credHelpers with warnings that say why', () => {
    const parsed = parseDockerConfig(
      JSON.stringify({
        auths: { 'ghcr.io': { auth: b64('a:b') } },
        credsStore: 'desktop',
        credHelpers: { 'gcr.io': 'gcloud', '123.dkr.ecr.us-east-1.amazonaws.com': 'ecr-login' },
      }),
      FILE,
    );
    expect(parsed.entries).toHaveLength(1);
    expect(parsed.warnings).toHaveLength(2);
    expect(parsed.warnings[0]).toContain('ignoring "credsStore"');
    expect(parsed.warnings[1]).toContain(
      'ignoring "credHelpers" for "gcr.io", "123.dkr.ecr.us-east-1.amazonaws.com"',
    );
    for (const warning of parsed.warnings) {
      expect(warning).toContain(FILE);
      expect(warning).toContain('do not exist inside the webhook container');
      expect(warning).toContain('security risk');
      expect(warning).toContain('Put the credentials into "auths" instead');
    }
  });

  it('does not mistake a credHelpers-only config for the legacy format', () => {
    const parsed = parseDockerConfig(JSON.stringify({ credHelpers: { 'gcr.io': 'gcloud' } }), FILE);
    expect(parsed.entries).toEqual([]);
    expect(parsed.warnings).toHaveLength(1);
  });
});

describe('parseDockerConfig errors name the file and key, never the secret', () => {
  const cases: [name: string, text: string, want: string][] = [
    [
      'invalid JSON',
      `{"auths":{"ghcr.io":{"auth":"${b64(`u:${SECRET}`)}"}}} trailing ${SECRET}`,
      'not valid JSON',
    ],
    ['a top-level array', `["${SECRET}"]`, 'top level must be a JSON object'],
    ['auths that is not an object', `{"auths":["${SECRET}"]}`, '"auths" must be an object'],
    ['an entry that is a string', `{"auths":{"ghcr.io":"${SECRET}"}}`, 'auths["ghcr.io"] must be an object'],
    [
      'auth that is not base64',
      `{"auths":{"ghcr.io":{"auth":"${SECRET}!"}}}`,
      'auths["ghcr.io"].auth is not valid base64',
    ],
    [
      'auth with a bad length',
      `{"auths":{"ghcr.io":{"auth":"QUJDRE"}}}`.replace('QUJDRE', 'QUJDREVGR'),
      'auths["ghcr.io"].auth is not valid base64',
    ],
    [
      'auth without a colon',
      `{"auths":{"ghcr.io":{"auth":"${b64(SECRET.replace(':', ''))}"}}}`,
      'auths["ghcr.io"].auth must be base64 of "username:password"',
    ],
    [
      'auth that is not UTF-8',
      `{"auths":{"ghcr.io":{"auth":"${Buffer.from([0xff, 0xfe, 0x3a]).toString('base64')}"}}}`,
      'does not decode to UTF-8',
    ],
    [
      'a password that is a number',
      `{"auths":{"ghcr.io":{"username":"u","password":12345}}}`,
      'auths["ghcr.io"].password must be a string',
    ],
    [
      'an identity token that is an object',
      `{"auths":{"ghcr.io":{"identitytoken":{"t":"${SECRET}"}}}}`,
      'auths["ghcr.io"].identitytoken must be a string',
    ],
    [
      'a key that is not a registry',
      `{"auths":{"bad host!":{"auth":"${b64(`u:${SECRET}`)}"}}}`,
      'registry key "bad host!": invalid registry host',
    ],
    ['a legacy entry that is not an object', `{"ghcr.io":"${SECRET}"}`, '["ghcr.io"] must be an object'],
  ];

  it.each(cases)('%s', (_name, text, want) => {
    const err = failure(text);
    expect(err.message).toMatch(new RegExp(`^load Docker config ${FILE}: `));
    expect(err.message).toContain(want);
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain(b64(`u:${SECRET}`));
    expect(err.message).not.toContain('12345');
    expect(err.cause).toBeUndefined();
  });

  it('redacts user info written into a key', () => {
    const err = failure(`{"auths":{"https://u:${SECRET}@ghcr.io":{"auth":"${b64('a:b')}"}}}`);
    expect(err.message).toContain('https://***@ghcr.io');
    expect(err.message).not.toContain(SECRET);
  });
});

describe('credentials never leak through logging', () => {
  const cred = only({
    auths: { 'ghcr.io': { auth: b64(`alice:${SECRET}`), identitytoken: 'ID-TOKEN-VALUE' } },
  });

  it('keeps secrets out of the source', () => {
    expect(cred.source).toBe(`${FILE} auths["ghcr.io"]`);
  });

  it('redacts JSON.stringify and util.inspect output', () => {
    for (const text of [
      JSON.stringify(cred),
      JSON.stringify({ nested: [cred] }),
      inspect(cred),
      inspect({ cred }),
    ]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('ID-TOKEN-VALUE');
      expect(text).toContain('ghcr.io');
    }
    expect(JSON.parse(JSON.stringify(cred))).toEqual({
      kind: 'identity-token',
      source: `${FILE} auths["ghcr.io"]`,
      username: 'alice',
    });
  });
});
