import { describe, expect, it } from '@jest/globals';

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
    const parsed = parseImageConfig(buf({ architecture: 'amd64', os: 'linux', config }), 'x');
    expect(parsed).toEqual({ entrypoint, cmd, platform: { os: 'linux', architecture: 'amd64' } });
  });

  it('handles a config with no config section at all', () => {
    expect(parseImageConfig(buf({ os: 'linux', architecture: 'arm64', variant: 'v8' }), 'x')).toEqual({
      entrypoint: [],
      cmd: [],
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    });
  });

  it.each([
    ['not JSON', Buffer.from('{'), /parse image config of r\/a@x: not JSON/],
    ['a string Entrypoint', buf({ config: { Entrypoint: '/bin/sh' } }), /config.Entrypoint/],
  ])('rejects %s with BAD_MANIFEST', (_n, bytes, message) => {
    expect(() => parseImageConfig(bytes, 'r/a@x')).toThrow(message);
  });
});

describe('parseManifest', () => {
  it('reads an OCI image manifest', () => {
    const m = parseManifest(
      buf({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { digest: D1, size: 1 } }),
      '',
      'x',
    );
    expect(m).toEqual({ kind: 'image', mediaType: MediaType.ociManifest, configDigest: D1 });
  });

  it('takes the media type from Content-Type when the body omits it', () => {
    const m = parseManifest(
      buf({ schemaVersion: 2, config: { digest: D1 } }),
      `${MediaType.dockerManifest}; charset=utf-8`,
      'x',
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
    expect(() => parseManifest(buf(body), '', 'x')).toThrow(message);
  });
});
