import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';

import { parseWwwAuthenticate } from '../../../src/registry/auth/challenge.js';
import type { Challenge } from '../../../src/registry/auth/challenge.js';
import { anyText, checkProperty, fuzzTimeout, mutated } from '../../support/fuzz.js';

/**
 * `WWW-Authenticate` comes from the registry, which may be hostile. Properties: the parser never throws
 * and returns only well-formed challenges; what a server writes by RFC 9110, with any spacing, any
 * parameter values (quoted and escaped) and any number of challenges, is read back exactly.
 */
const TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const token = fc.string({ unit: fc.constantFrom(...TOKEN), minLength: 1, maxLength: 12 });
const space = fc.constantFrom('', ' ', '  ', '\t');

const challenge = fc.record({
  scheme: token,
  params: fc.uniqueArray(fc.tuple(token, fc.oneof(anyText(40), token, fc.webUrl())), {
    maxLength: 5,
    selector: ([name]) => name.toLowerCase(),
  }),
});

interface Written {
  header: string;
  expected: Challenge[];
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Writes challenges as a server might: quoted or bare token values, optional whitespace, extra commas. */
const written: fc.Arbitrary<Written> = fc
  .array(
    fc.tuple(
      challenge,
      fc.array(fc.tuple(space, space, fc.boolean()), { minLength: 5, maxLength: 5 }),
      fc.constantFrom(', ', ',', ' , ', ',, '),
    ),
    {
      minLength: 1,
      maxLength: 3,
    },
  )
  .map((list) => {
    const parts = list.map(([c, styles, comma], i) => {
      const params = c.params.map(([name, value], j) => {
        const [before, after, bare] = styles[j % styles.length]!;
        const isToken = value.length > 0 && [...value].every((ch) => TOKEN.includes(ch));
        return `${name}${before}=${after}${bare && isToken ? value : quote(value)}`;
      });
      return `${c.scheme}${params.length ? ` ${params.join(comma)}` : ''}${i < list.length - 1 ? comma : ''}`;
    });
    const expected = list.map(([c]) => ({
      scheme: c.scheme.toLowerCase(),
      params: Object.fromEntries(c.params.map(([n, v]) => [n.toLowerCase(), v])),
    }));
    return { header: parts.join(''), expected };
  });

function wellFormed(challenges: Challenge[]): void {
  for (const c of challenges) {
    expect(c.scheme).toMatch(/^[!#$%&'*+\-.^_`|~0-9a-z]+$/);
    for (const [name, value] of Object.entries(c.params)) {
      expect(name).toMatch(/^[!#$%&'*+\-.^_`|~0-9a-z]+$/);
      expect(typeof value).toBe('string');
    }
  }
}

describe('WWW-Authenticate parser under arbitrary headers', () => {
  it(
    'reads back exactly what a server wrote, whatever the values and the spacing',
    async () => {
      await checkProperty(
        'www-authenticate: written challenges',
        fc.property(written, ({ header, expected }) => {
          expect(parseWwwAuthenticate(header)).toEqual(expected);
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'never throws on arbitrary or mutated headers, or repeated headers, and returns well-formed challenges',
    async () => {
      const header = fc.oneof(
        anyText(300),
        written.chain((w) => mutated(fc.constant(w.header), '"\\=, \t')),
        fc.constant(undefined),
      );
      await checkProperty(
        'www-authenticate: arbitrary and mutated headers',
        fc.property(fc.oneof(header, fc.array(header, { maxLength: 3 })), (h) => {
          const values = Array.isArray(h) ? h.filter((v): v is string => v !== undefined) : h;
          const challenges = parseWwwAuthenticate(values);
          wellFormed(challenges);
          if (Array.isArray(values)) {
            expect(challenges).toEqual(values.flatMap((v) => parseWwwAuthenticate(v)));
          }
        }),
      );
    },
    fuzzTimeout(),
  );
});
