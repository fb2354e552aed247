import { describe, expect, it } from '@jest/globals';

import { FnPinnerError } from '../../src/errors.js';
import { parseImageReference } from '../../src/reference/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference', () => {
  it.each([
    // input, registry, repository, tag, digest, canonical
    ['nginx', 'docker.io', 'library/nginx', undefined, undefined, 'docker.io/library/nginx:latest'],
    ['nginx:1.25', 'docker.io', 'library/nginx', '1.25', undefined, 'docker.io/library/nginx:1.25'],
    ['docker.io/nginx', 'docker.io', 'library/nginx', undefined, undefined, 'docker.io/library/nginx:latest'],
    [
      'index.docker.io/library/nginx',
      'docker.io',
      'library/nginx',
      undefined,
      undefined,
      'docker.io/library/nginx:latest',
    ],
    [
      'registry-1.docker.io/bitnami/redis:7',
      'docker.io',
      'bitnami/redis',
      '7',
      undefined,
      'docker.io/bitnami/redis:7',
    ],
    ['bitnami/redis', 'docker.io', 'bitnami/redis', undefined, undefined, 'docker.io/bitnami/redis:latest'],
    [
      'gcr.io/kpt-fn/set-namespace:v0.4',
      'gcr.io',
      'kpt-fn/set-namespace',
      'v0.4',
      undefined,
      'gcr.io/kpt-fn/set-namespace:v0.4',
    ],
    ['localhost/app', 'localhost', 'app', undefined, undefined, 'localhost/app:latest'],
    ['localhost:5000/a/b/c:v1', 'localhost:5000', 'a/b/c', 'v1', undefined, 'localhost:5000/a/b/c:v1'],
    [
      '127.0.0.1:5000/test/app:v1',
      '127.0.0.1:5000',
      'test/app',
      'v1',
      undefined,
      '127.0.0.1:5000/test/app:v1',
    ],
    ['[::1]:5000/app:v1', '[::1]:5000', 'app', 'v1', undefined, '[::1]:5000/app:v1'],
    ['[fe80::1]/app', '[fe80::1]', 'app', undefined, undefined, '[fe80::1]/app:latest'],
    ['Example.COM/app', 'example.com', 'app', undefined, undefined, 'example.com/app:latest'],
    [`ghcr.io/o/app@${D}`, 'ghcr.io', 'o/app', undefined, D, `ghcr.io/o/app@${D}`],
    [`ghcr.io/o/app:v2@${D}`, 'ghcr.io', 'o/app', 'v2', D, `ghcr.io/o/app:v2@${D}`],
    [
      'my.reg/a_b/c__d/e--f.g:T_1.x-y',
      'my.reg',
      'a_b/c__d/e--f.g',
      'T_1.x-y',
      undefined,
      'my.reg/a_b/c__d/e--f.g:T_1.x-y',
    ],
  ])('parses %s', (input, registry, repository, tag, digest, canonical) => {
    const ref = parseImageReference(input);
    expect({ registry: ref.registry, repository: ref.repository, tag: ref.tag, digest: ref.digest }).toEqual({
      registry,
      repository,
      tag,
      digest,
    });
    expect(ref.canonical).toBe(canonical);
    expect(ref.original).toBe(input);
  });

  it.each([
    ['', /empty image name/],
    ['   ', /empty image name/],
    [' nginx', /whitespace/],
    ['Nginx', /lower case/],
    ['docker.io/Library/nginx', /lower case/],
    ['repo:tag:extra', /invalid tag "tag:extra"/],
    ['repo:', /invalid tag ""/],
    ['repo@sha256:abc', /malformed digest "sha256:abc"/],
    [`repo@md5:${'a'.repeat(32)}`, /malformed digest/],
    [`repo@sha256:${'A'.repeat(64)}`, /malformed digest/],
    ['repo@', /malformed digest/],
    [':tag', /empty image name/],
    ['a//b', /invalid repository path component ""/],
    ['-bad/x', /invalid repository path component "-bad"/],
    ['bad_host_:5000/x', /invalid registry host "bad_host_:5000"/],
    ['host:abc/x', /invalid registry host "host:abc"/],
    [`x/${'a'.repeat(260)}`, /longer than 255/],
    ['ends/with/', /invalid repository path component ""/],
  ])('rejects %j with a clear error naming it', (input, message) => {
    let caught: unknown;
    try {
      parseImageReference(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FnPinnerError);
    expect((caught as FnPinnerError).code).toBe('BAD_REFERENCE');
    expect((caught as FnPinnerError).message).toMatch(message);
    expect((caught as FnPinnerError).message).toContain(`parse image reference ${JSON.stringify(input)}`);
  });

  it('treats docker.io and index.docker.io as the same repository', () => {
    expect(parseImageReference('docker.io/library/nginx').name).toBe(
      parseImageReference('index.docker.io/nginx').name,
    );
    expect(parseImageReference('nginx').apiHost).toBe('index.docker.io');
  });

  it('pins keeping the spelling as written and the tag', () => {
    expect(parseImageReference('nginx:1.25').pin(D)).toBe(`nginx:1.25@${D}`);
    expect(parseImageReference('nginx').pin(D)).toBe(`nginx@${D}`);
    expect(parseImageReference('Index.Docker.io/x/y:v1').pin(D)).toBe(`Index.Docker.io/x/y:v1@${D}`);
    const other = `sha256:${'b'.repeat(64)}`;
    expect(parseImageReference(`r.io/a:v1@${D}`).pin(other)).toBe(`r.io/a:v1@${other}`);
  });

  it('asks the registry for the digest when there is one, else the tag or latest', () => {
    expect(parseImageReference(`r.io/a:v1@${D}`).identifier).toBe(D);
    expect(parseImageReference('r.io/a:v1').identifier).toBe('v1');
    expect(parseImageReference('r.io/a').identifier).toBe('latest');
  });
});
