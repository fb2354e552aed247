import { describe, expect, it } from '@jest/globals';

import { isFnPinnerError } from '../../src/errors.js';
import {
  compareSpecificity,
  keyMatches,
  matchingEntries,
  parseRegistryKey,
} from '../../src/registry/auth/host-match.js';
import { ImageReference } from '../../src/reference/reference.js';

describe('parseRegistryKey normalisation', () => {
  it.each([
    ['ghcr.io', 'ghcr.io', ''],
    ['GHCR.IO', 'ghcr.io', ''],
    ['https://ghcr.io', 'ghcr.io', ''],
    ['http://ghcr.io/', 'ghcr.io', ''],
    ['HTTPS://quay.io/v1/', 'quay.io', ''],
    ['quay.io/v2/', 'quay.io', ''],
    ['quay.io/v2', 'quay.io', ''],
    ['quay.io/v1', 'quay.io', ''],
    ['quay.io//', 'quay.io', ''],
    ['quay.io/v2/org/', 'quay.io', 'org'],
    ['ghcr.io/org/sub/', 'ghcr.io', 'org/sub'],
    ['localhost:5000', 'localhost:5000', ''],
    ['https://registry.example.com:8443/v2/', 'registry.example.com:8443', ''],
    ['[::1]:5000', '[::1]:5000', ''],
    ['*.example.com', '*.example.com', ''],
  ])('%s → host %s, path %j', (raw, host, path) => {
    const key = parseRegistryKey(raw);
    expect(key.host).toBe(host);
    expect(key.path).toBe(path);
  });

  it.each([
    'docker.io',
    'index.docker.io',
    'registry-1.docker.io',
    'https://index.docker.io/v1/',
    'INDEX.DOCKER.IO',
  ])('maps the Docker Hub spelling %s to docker.io', (raw) => {
    expect(parseRegistryKey(raw).host).toBe('docker.io');
  });

  it.each([
    ['', 'no registry host'],
    ['https://', 'no registry host'],
    ['ghcr.io:port', 'invalid port'],
    ['bad host!/x', 'invalid registry host'],
    ['oci://ghcr.io', 'only https:// and http://'],
  ])('rejects %j (%s)', (raw, why) => {
    expect(() => parseRegistryKey(raw)).toThrow(why);
  });

  it('rejects user info in a key without echoing it', () => {
    let caught: unknown;
    try {
      parseRegistryKey('https://alice:hunter2@ghcr.io');
    } catch (err) {
      caught = err;
    }
    expect(isFnPinnerError(caught, 'BAD_DOCKER_CONFIG')).toBe(true);
    expect((caught as Error).message).not.toContain('hunter2');
    expect((caught as Error).message).toContain('https://***@ghcr.io');
  });
});

const ref = (image: string): ImageReference => ImageReference.parse(image);

describe('keyMatches (kubelet URLsMatch rules)', () => {
  it.each([
    // exact hosts
    ['ghcr.io', 'ghcr.io/org/app:1', true],
    ['ghcr.io', 'gcr.io/org/app', false],
    ['https://ghcr.io/v2/', 'ghcr.io/org/app', true],
    // Docker Hub in all its spellings
    ['https://index.docker.io/v1/', 'nginx', true],
    ['index.docker.io', 'docker.io/library/nginx', true],
    ['docker.io', 'index.docker.io/user/app', true],
    ['registry-1.docker.io', 'user/app', true],
    ['docker.io/library', 'nginx:1.27', true],
    ['docker.io/user', 'nginx', false],
    // ports must be equal
    ['localhost:5000', 'localhost:5000/app', true],
    ['localhost', 'localhost:5000/app', false],
    ['localhost:5000', 'localhost/app', false],
    ['localhost:5001', 'localhost:5000/app', false],
    ['registry.example.com:443', 'registry.example.com/app', false],
    ['[::1]:5000', '[::1]:5000/app', true],
    // globs: one label per *
    ['*.example.com', 'a.example.com/app', true],
    ['*.example.com', 'a.b.example.com/app', false],
    ['*.example.com', 'example.com/app', false],
    ['*.*.example.com', 'a.b.example.com/app', true],
    ['reg*.example.com', 'registry.example.com/app', true],
    ['reg*.example.com', 'mirror.example.com/app', false],
    ['registry-?.example.com', 'registry-1.example.com/app', true],
    ['*.example.com:5000', 'a.example.com:5000/app', true],
    ['*.example.com', 'a.example.com:5000/app', false],
    ['*.example.com/team', 'a.example.com/team/app', true],
    ['*.example.com/team', 'a.example.com/other/app', false],
    // path prefixes on segment boundaries
    ['ghcr.io/org', 'ghcr.io/org/app', true],
    ['ghcr.io/org', 'ghcr.io/org/sub/app', true],
    ['ghcr.io/org/', 'ghcr.io/org/app', true],
    ['ghcr.io/org', 'ghcr.io/organisation/app', false],
    ['ghcr.io/org/app', 'ghcr.io/org/app:tag', true],
    ['ghcr.io/org/app', 'ghcr.io/org/application', false],
    ['ghcr.io/org/sub', 'ghcr.io/org/app', false],
    ['quay.io/v2/org', 'quay.io/org/app', true],
  ])('%s vs %s → %s', (key, image, want) => {
    expect(keyMatches(parseRegistryKey(key), ref(image))).toBe(want);
  });
});

describe('matchingEntries ordering', () => {
  const entries = [
    'ghcr.io',
    '*.io',
    'ghcr.io/org',
    'gcr.io',
    'ghcr.io/org/app',
    'https://ghcr.io/v2/',
    'ghcr.io/other',
  ].map((raw) => ({ raw, key: parseRegistryKey(raw) }));

  it('returns every match, most specific first, ties in input order', () => {
    const got = matchingEntries(entries, ref('ghcr.io/org/app:v1')).map((e) => e.raw);
    expect(got).toEqual(['ghcr.io/org/app', 'ghcr.io/org', 'ghcr.io', 'https://ghcr.io/v2/', '*.io']);
  });

  it('puts an exact host before a glob even when the glob has a longer path', () => {
    const a = parseRegistryKey('a.example.com');
    const b = parseRegistryKey('*.example.com/team/app');
    expect(compareSpecificity(a, b)).toBeLessThan(0);
    expect(compareSpecificity(b, a)).toBeGreaterThan(0);
  });

  it('prefers the glob with more literal characters', () => {
    const narrow = parseRegistryKey('*.corp.example.com');
    const wide = parseRegistryKey('*.*.example.com');
    expect(compareSpecificity(narrow, wide)).toBeLessThan(0);
  });

  it('returns nothing when no key matches', () => {
    expect(matchingEntries(entries, ref('registry.example.com/org/app'))).toEqual([]);
  });
});
