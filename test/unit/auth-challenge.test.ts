import { describe, expect, it } from '@jest/globals';

import { parseWwwAuthenticate, type Challenge } from '../../src/registry/auth/challenge.js';

const cases: { name: string; header: string | string[] | undefined; want: Challenge[] }[] = [
  {
    name: 'the distribution registry Bearer challenge',
    header:
      'Bearer realm="http://127.0.0.1:5005/token",service="test-registry",scope="repository:test/app:pull"',
    want: [
      {
        scheme: 'bearer',
        params: {
          realm: 'http://127.0.0.1:5005/token',
          service: 'test-registry',
          scope: 'repository:test/app:pull',
        },
      },
    ],
  },
  {
    name: 'the distribution registry Basic challenge',
    header: 'Basic realm="test-realm"',
    want: [{ scheme: 'basic', params: { realm: 'test-realm' } }],
  },
  {
    name: 'an insufficient_scope error on a Bearer challenge',
    header:
      'Bearer realm="https://auth.example.com/token",service="registry",scope="repository:a/b:pull",error="insufficient_scope"',
    want: [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example.com/token',
          service: 'registry',
          scope: 'repository:a/b:pull',
          error: 'insufficient_scope',
        },
      },
    ],
  },
  {
    name: 'commas inside a quoted scope',
    header: 'Bearer realm="r",scope="repository:a:pull,push"',
    want: [{ scheme: 'bearer', params: { realm: 'r', scope: 'repository:a:pull,push' } }],
  },
  {
    name: 'escaped quotes and backslashes inside quoted strings',
    header: 'Basic realm="say \\"hi\\", then \\\\ leave"',
    want: [{ scheme: 'basic', params: { realm: 'say "hi", then \\ leave' } }],
  },
  {
    name: 'unquoted token values',
    header: 'Bearer realm=https://auth.example.com/token, service=registry.example.com',
    want: [
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example.com/token', service: 'registry.example.com' },
      },
    ],
  },
  {
    name: 'extra whitespace around names, "=" and commas',
    header: '  Bearer   realm = "r" ,  service =  "s"  ,scope="x"  ',
    want: [{ scheme: 'bearer', params: { realm: 'r', service: 's', scope: 'x' } }],
  },
  {
    name: 'scheme and parameter names in any case',
    header: 'BEARER Realm="r",SERVICE="s"',
    want: [{ scheme: 'bearer', params: { realm: 'r', service: 's' } }],
  },
  {
    name: 'several challenges in one header',
    header: 'Basic realm="basic-realm", Bearer realm="https://t/token",service="svc"',
    want: [
      { scheme: 'basic', params: { realm: 'basic-realm' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', service: 'svc' } },
    ],
  },
  {
    name: 'a challenge without parameters followed by another',
    header: 'Negotiate, Basic realm="r"',
    want: [
      { scheme: 'negotiate', params: {} },
      { scheme: 'basic', params: { realm: 'r' } },
    ],
  },
  {
    name: 'a token68 challenge (skipped) followed by another',
    header: 'Negotiate YII4bA==, Bearer realm="r"',
    want: [
      { scheme: 'negotiate', params: {} },
      { scheme: 'bearer', params: { realm: 'r' } },
    ],
  },
  {
    name: 'headers repeated by the server (undici gives an array)',
    header: ['Basic realm="one"', 'Bearer realm="two",service="s"'],
    want: [
      { scheme: 'basic', params: { realm: 'one' } },
      { scheme: 'bearer', params: { realm: 'two', service: 's' } },
    ],
  },
  {
    name: 'empty quoted values',
    header: 'Bearer realm="",service="s"',
    want: [{ scheme: 'bearer', params: { realm: '', service: 's' } }],
  },
  {
    name: 'a repeated parameter: the first wins',
    header: 'Bearer realm="first",realm="second"',
    want: [{ scheme: 'bearer', params: { realm: 'first' } }],
  },
  {
    name: 'an unterminated quoted string: keeps what is there',
    header: 'Bearer realm="https://t/token',
    want: [{ scheme: 'bearer', params: { realm: 'https://t/token' } }],
  },
  { name: 'no header', header: undefined, want: [] },
  { name: 'an empty header', header: '', want: [] },
  { name: 'only separators', header: ' , ,', want: [] },
];

describe('parseWwwAuthenticate', () => {
  it.each(cases)('parses $name', ({ header, want }) => {
    expect(parseWwwAuthenticate(header)).toEqual(want);
  });

  it('skips junk characters without losing later challenges', () => {
    expect(parseWwwAuthenticate('@@@ Bearer realm="r"')).toEqual([
      { scheme: 'bearer', params: { realm: 'r' } },
    ]);
  });

  it('never throws on arbitrary input', () => {
    for (const header of ['=', '="', 'a=', '"', '\\', 'Bearer ,,, =x', 'Bearer realm=,', 'x y z = "']) {
      expect(() => parseWwwAuthenticate(header)).not.toThrow();
    }
  });
});
