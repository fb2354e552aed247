import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';

import { FnPinnerError } from '../../../src/errors.js';
import type { ImageReference } from '../../../src/reference/reference.js';
import { parseImageReference } from '../../../src/reference/reference.js';
import { anyText, checkProperty, fuzzTimeout, mutated } from '../../support/fuzz.js';

/**
 * Image references are the first thing a pod spec controls. Properties: the parser never fails with
 * anything but BAD_REFERENCE, and what it accepts it keeps whole: `parse(ref.format())` is `ref` again.
 */

const lower = 'abcdefghijklmnopqrstuvwxyz0123456789';
const alnum = (chars: string, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...chars), minLength: 1, maxLength: max });

/** `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` */
const pathComponent = fc
  .tuple(
    alnum(lower, 8),
    fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--', '---'), alnum(lower, 6)), { maxLength: 3 }),
  )
  .map(([head, rest]) => head + rest.map(([sep, part]) => sep + part).join(''));

const label = fc
  .tuple(alnum(`${lower}ABCXYZ`, 6), fc.option(alnum(`${lower}-ABC`, 6)), fc.option(alnum(lower, 3)))
  .map(([a, mid, end]) => (mid && end ? `${a}${mid}${end}` : a));
const port = fc.integer({ min: 1, max: 65535 }).map((p) => `:${p}`);
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const ipv6 = fc
  .array(fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 1, maxLength: 4 }), {
    minLength: 2,
    maxLength: 8,
  })
  .map((groups) => `[${groups.join(':')}]`);

/** Hosts the parser must recognise as a registry: a dot, a port, localhost or an IPv6 literal. */
const host = fc.oneof(
  fc
    .tuple(fc.array(label, { minLength: 2, maxLength: 4 }), fc.option(port))
    .map(([l, p]) => l.join('.') + (p ?? '')),
  fc.tuple(label, port).map(([l, p]) => l + p),
  fc.tuple(ipv4, fc.option(port)).map(([a, p]) => a + (p ?? '')),
  fc.tuple(ipv6, fc.option(port)).map(([a, p]) => a + (p ?? '')),
  fc.tuple(fc.constantFrom('localhost', 'LocalHost'), fc.option(port)).map(([h, p]) => h + (p ?? '')),
  fc.constantFrom('docker.io', 'index.docker.io', 'registry-1.docker.io', 'Docker.IO'),
);

const tag = fc
  .tuple(
    fc.constantFrom(...`${lower}ABCXYZ_`),
    fc.string({ unit: fc.constantFrom(...`${lower}AZ_.-`), maxLength: 127 }),
  )
  .map(([first, rest]) => first + rest);
const hex = (length: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const digest = fc.oneof(
  hex(64).map((h) => `sha256:${h}`),
  hex(128).map((h) => `sha512:${h}`),
);

interface Parts {
  host: string | null;
  path: string[];
  tag: string | null;
  digest: string | null;
}

const parts: fc.Arbitrary<Parts> = fc
  .record({
    host: fc.option(host),
    path: fc.array(pathComponent, { minLength: 1, maxLength: 4 }),
    tag: fc.option(tag),
    digest: fc.option(digest),
  })
  // Without a host, a first component that looks like one (a dot, or localhost) would be read as a host.
  .filter((p) => p.host !== null || p.path.length === 1 || !/\.|^localhost$/.test(p.path[0]!))
  .filter((p) => (p.host ? `${p.host}/` : '').length + p.path.join('/').length <= 255);

function write(p: Parts): string {
  const name = `${p.host ? `${p.host}/` : ''}${p.path.join('/')}`;
  return `${name}${p.tag ? `:${p.tag}` : ''}${p.digest ? `@${p.digest}` : ''}`;
}

const HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

function expected(p: Parts): { registry: string; repository: string } {
  const registry = p.host === null || HUB.has(p.host.toLowerCase()) ? 'docker.io' : p.host.toLowerCase();
  const path = p.path.join('/');
  return { registry, repository: registry === 'docker.io' && p.path.length === 1 ? `library/${path}` : path };
}

function fields(ref: ImageReference): Record<string, unknown> {
  const { original, registry, repository, writtenName, tag: t, digest: d } = ref;
  return { original, registry, repository, writtenName, tag: t, digest: d };
}

/** Parses, or proves the failure is a BAD_REFERENCE naming the operation; never anything else. */
function parseOrBadReference(input: string): ImageReference | undefined {
  try {
    return parseImageReference(input);
  } catch (err) {
    expect(err).toBeInstanceOf(FnPinnerError);
    expect((err as FnPinnerError).code).toBe('BAD_REFERENCE');
    expect((err as FnPinnerError).message.startsWith('parse image reference ')).toBe(true);
    return undefined;
  }
}

function roundTrips(input: string, ref: ImageReference): void {
  expect(ref.format()).toBe(input);
  expect(fields(parseImageReference(ref.format()))).toEqual(fields(ref));
  // Pinning keeps the name and tag as written and replaces any digest.
  const pin = `sha256:${'0'.repeat(64)}`;
  const pinned = parseImageReference(ref.pin(pin));
  expect({ name: pinned.name, tag: pinned.tag, digest: pinned.digest }).toEqual({
    name: ref.name,
    tag: ref.tag,
    digest: pin,
  });
}

const validText = parts.map(write);
const SPECIAL = ':/@.-_[]%+ \t\nAZaz09';

describe('image reference parser under arbitrary input', () => {
  it(
    'fails only with BAD_REFERENCE, and round-trips whatever it accepts',
    async () => {
      const input = fc.oneof(anyText(300), mutated(validText, SPECIAL), validText);
      await checkProperty(
        'reference: arbitrary and mutated strings',
        fc.property(input, (text) => {
          const ref = parseOrBadReference(text);
          if (ref) roundTrips(text, ref);
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'reads every part of a valid reference: parse(format(parts)) gives those parts',
    async () => {
      await checkProperty(
        'reference: generated valid references',
        fc.property(parts, (p) => {
          const text = write(p);
          const ref = parseImageReference(text);
          expect({ registry: ref.registry, repository: ref.repository }).toEqual(expected(p));
          expect(ref.tag).toBe(p.tag ?? undefined);
          expect(ref.digest).toBe(p.digest ?? undefined);
          roundTrips(text, ref);
          // The canonical form names the same image; written again, it is stable.
          const canonical = parseImageReference(ref.canonical);
          expect(canonical.canonical).toBe(ref.canonical);
          expect({ name: canonical.name, digest: canonical.digest }).toEqual({
            name: ref.name,
            digest: ref.digest,
          });
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'refuses names longer than 255 characters, however they are built',
    async () => {
      await checkProperty(
        'reference: over-long names',
        fc.property(fc.array(pathComponent, { minLength: 40, maxLength: 80 }), fc.option(tag), (path, t) => {
          const name = `example.com/${path.join('/')}`;
          fc.pre(name.length > 255);
          const text = `${name}${t ? `:${t}` : ''}`;
          expect(() => parseImageReference(text)).toThrow(/longer than 255 characters/);
        }),
      );
    },
    fuzzTimeout(),
  );
});
