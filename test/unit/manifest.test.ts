import { describe, expect, it } from '@jest/globals';

import { REGISTRY_OPTIONS as LIMITS } from '../support/limits.js';
import { MediaType, parseImageConfig, parseManifest } from '../../src/registry/manifest.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const buf = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

describe('parseImageConfig (entrypoint extraction)', () => {
  it.each([
    [
      'Entrypoint and Cmd',
      { Entrypoint: ['/bin/app', '--flag'], Cmd: ['serve'] },
      ['/bin/app', '--flag'],
      ['serve'],
    ],
    ['only Cmd', { Cmd: ['/bin/sh', '-c', 'echo hi'] }, [], ['/bin/sh', '-c', 'echo hi']],
    ['only Entrypoint', { Entrypoint: ['/fn'] }, ['/fn'], []],
    ['neither', { Env: ['PATH=/bin'] }, [], []],
    ['null values (as Docker writes them)', { Entrypoint: null, Cmd: null }, [], []],
    ['empty arrays', { Entrypoint: [], Cmd: [] }, [], []],
  ])('%s', (_name, config, entrypoint, cmd) => {
    const parsed = parseImageConfig(buf({ architecture: 'amd64', os: 'linux', config }), 'x', LIMITS);
    expect(parsed).toEqual({ entrypoint, cmd, platform: { os: 'linux', architecture: 'amd64' } });
  });

  it('handles a config with no config section at all', () => {
    expect(parseImageConfig(buf({ os: 'linux', architecture: 'arm64', variant: 'v8' }), 'x', LIMITS)).toEqual(
      {
        entrypoint: [],
        cmd: [],
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
    );
  });

  it.each([
    ['not JSON', Buffer.from('{'), /parse image config of r\/a@x: not JSON/],
    ['a string Entrypoint', buf({ config: { Entrypoint: '/bin/sh' } }), /config.Entrypoint/],
  ])('rejects %s with BAD_MANIFEST', (_n, bytes, message) => {
    expect(() => parseImageConfig(bytes, 'r/a@x', LIMITS)).toThrow(message);
  });
});

describe('parseManifest', () => {
  it('reads an OCI image manifest', () => {
    const m = parseManifest(
      buf({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { digest: D1, size: 1 } }),
      '',
      'x',
      LIMITS,
    );
    expect(m).toEqual({ kind: 'image', mediaType: MediaType.ociManifest, configDigest: D1 });
  });

  it('takes the media type from Content-Type when the body omits it', () => {
    const m = parseManifest(
      buf({ schemaVersion: 2, config: { digest: D1 } }),
      `${MediaType.dockerManifest}; charset=utf-8`,
      'x',
      LIMITS,
    );
    expect(m.kind).toBe('image');
    expect(m.mediaType).toBe(MediaType.dockerManifest);
  });

  it('reads a Docker manifest list with platforms', () => {
    const m = parseManifest(
      buf({
        mediaType: MediaType.dockerList,
        manifests: [
          { digest: D1, platform: { os: 'linux', architecture: 'amd64' } },
          { digest: D2, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
      '',
      'x',
      LIMITS,
    );
    expect(m).toEqual({
      kind: 'index',
      mediaType: MediaType.dockerList,
      children: [
        { digest: D1, mediaType: undefined, platform: { os: 'linux', architecture: 'amd64' } },
        { digest: D2, mediaType: undefined, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    });
  });

  it.each([
    [
      'schema 1',
      { schemaVersion: 1, mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' },
      /unsupported media type/,
    ],
    [
      'an artifact',
      { mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip' },
      /unsupported media type/,
    ],
    [
      'a bad config digest',
      { mediaType: MediaType.ociManifest, config: { digest: 'md5:x' } },
      /config.digest/,
    ],
  ])('rejects %s', (_n, body, message) => {
    expect(() => parseManifest(buf(body), '', 'x', LIMITS)).toThrow(message);
  });

  it('refuses an index listing more manifests than maxIndexEntries, before validating them', () => {
    const manifests = Array.from({ length: 4_000 }, () => ({
      digest: D1,
      platform: { os: 'linux', architecture: 'x' },
    }));
    expect(() =>
      parseManifest(buf({ mediaType: MediaType.ociIndex, manifests }), '', 'r/a@x', LIMITS),
    ).toThrow(
      expect.objectContaining({
        code: 'INDEX_TOO_LARGE',
        message: 'parse manifest of r/a@x: the index lists 4000 manifests, more than 256',
      }),
    );
  });

  it.each([['null'], ['[]'], ['"text"'], ['5']])('rejects the JSON value %s as not an object', (text) => {
    expect(() => parseManifest(Buffer.from(text), '', 'x', LIMITS)).toThrow(
      expect.objectContaining({ code: 'BAD_MANIFEST', message: 'parse manifest of x: not a JSON object' }),
    );
  });

  it('quotes a hostile media type only up to a bound', () => {
    const mediaType = 'x'.repeat(100_000);
    let message = '';
    try {
      parseManifest(buf({ mediaType }), '', 'x', LIMITS);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('(100000 characters)');
    expect(message.length).toBeLessThan(400);
  });
});

describe('parseImageConfig limits', () => {
  it('refuses an Entrypoint and Cmd larger than maxCommandBytes (they would be kept and put into pods)', () => {
    const config = { Entrypoint: ['/app'], Cmd: ['x'.repeat(70_000)] };
    expect(() => parseImageConfig(buf({ config }), 'r/a@x', LIMITS)).toThrow(
      expect.objectContaining({ code: 'COMMAND_TOO_LARGE' }),
    );
  });
});
