import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';

import { FnPinnerError } from '../../../src/errors.js';
import { MediaType, parseImageConfig, parseManifest } from '../../../src/registry/manifest.js';
import { anyText, checkProperty, fuzzTimeout, mutated } from '../../support/fuzz.js';
import { REGISTRY_OPTIONS } from '../../support/limits.js';

/**
 * Manifests, indexes and config blobs come from the registry, which may be hostile. Properties: the
 * parsers fail only with BAD_MANIFEST or UNSUPPORTED_MEDIA_TYPE, and read a valid document exactly
 * (every index child, the config digest, Entrypoint, Cmd and platform).
 */
const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
const digest = hex64.map((h) => `sha256:${h}`);
const str = anyText(20);
const platform = fc.record(
  { os: str, architecture: str, variant: str },
  { requiredKeys: ['os', 'architecture'] },
);

const child = fc.record(
  {
    mediaType: fc.constantFrom(
      MediaType.ociManifest,
      MediaType.dockerManifest,
      'application/vnd.in-toto+json',
    ),
    digest,
    size: fc.nat(),
    platform,
  },
  { requiredKeys: ['digest'] },
);
const indexDoc = fc.record(
  {
    schemaVersion: fc.constant(2),
    mediaType: fc.constantFrom(MediaType.ociIndex, MediaType.dockerList),
    manifests: fc.array(child, { maxLength: 8 }),
  },
  { requiredKeys: ['manifests'] },
);
const imageDoc = fc.record(
  {
    schemaVersion: fc.constant(2),
    mediaType: fc.constantFrom(MediaType.ociManifest, MediaType.dockerManifest),
    config: fc.record(
      { mediaType: fc.constant('application/vnd.oci.image.config.v1+json'), digest, size: fc.nat() },
      { requiredKeys: ['digest'] },
    ),
    layers: fc.array(fc.record({ digest, size: fc.nat() }), { maxLength: 3 }),
  },
  { requiredKeys: ['config'] },
);
const contentType = fc.constantFrom(
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerList,
  MediaType.dockerManifest,
  'application/json',
  'application/json; charset=utf-8',
  '',
  'text/html',
);
const argv = fc.option(fc.array(str, { maxLength: 4 }), { nil: null });
const configDoc = fc.record(
  {
    os: str,
    architecture: str,
    variant: str,
    config: fc.option(
      fc.record({ Entrypoint: argv, Cmd: argv, Env: fc.array(str, { maxLength: 2 }) }, { requiredKeys: [] }),
      { nil: null },
    ),
  },
  { requiredKeys: [] },
);

const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v) ?? 'null');
const WHAT = '127.0.0.1:5000/fn/app@sha256:…';

function expectFailure(err: unknown, codes: string[]): void {
  expect(err).toBeInstanceOf(FnPinnerError);
  expect(codes).toContain((err as FnPinnerError).code);
}

/** Anything a registry could send as a manifest body: JSON of any shape, broken JSON, raw bytes. */
const hostileBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map(bytes),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc
    .oneof(indexDoc, imageDoc)
    .chain((d) => mutated(fc.constant(JSON.stringify(d)), '{}[]":,0'))
    .map((s) => Buffer.from(s)),
  anyText(100).map((s) => Buffer.from(s)),
  fc.constantFrom('null', '[]', '{}', '""', '0', 'true').map((s) => Buffer.from(s)),
);

describe('manifest and image config parsers under arbitrary documents', () => {
  it(
    'read every child of a valid index and the config digest of a valid manifest',
    async () => {
      await checkProperty(
        'manifest: valid indexes and manifests',
        fc.property(fc.oneof(indexDoc, imageDoc), contentType, fc.boolean(), (doc, type, dropMediaType) => {
          const body = dropMediaType ? { ...doc, mediaType: undefined } : doc;
          const isIndex = 'manifests' in doc;
          const typeFits =
            body.mediaType !== undefined ||
            ['application/json', '', 'application/json; charset=utf-8'].includes(type) ||
            type === (isIndex ? MediaType.ociIndex : MediaType.ociManifest) ||
            type === (isIndex ? MediaType.dockerList : MediaType.dockerManifest);
          fc.pre(typeFits);
          const m = parseManifest(bytes(body), type, WHAT, REGISTRY_OPTIONS);
          if (isIndex) {
            expect(m).toMatchObject({ kind: 'index' });
            expect(m.kind === 'index' && m.children.map((c) => c.digest)).toEqual(
              doc.manifests.map((c) => c.digest),
            );
            expect(m.kind === 'index' && m.children.map((c) => c.platform)).toEqual(
              doc.manifests.map(
                (c) =>
                  c.platform &&
                  (c.platform.variant
                    ? c.platform
                    : { os: c.platform.os, architecture: c.platform.architecture }),
              ),
            );
          } else {
            expect(m).toEqual({
              kind: 'image',
              mediaType: expect.any(String),
              configDigest: doc.config.digest,
            });
          }
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'fail only with BAD_MANIFEST or UNSUPPORTED_MEDIA_TYPE on anything a registry could send',
    async () => {
      await checkProperty(
        'manifest: hostile bodies',
        fc.property(hostileBody, contentType, (body, type) => {
          try {
            parseManifest(body, type, WHAT, REGISTRY_OPTIONS);
          } catch (err) {
            expectFailure(err, ['BAD_MANIFEST', 'UNSUPPORTED_MEDIA_TYPE']);
          }
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'read Entrypoint, Cmd and platform of a valid config, and fail only with BAD_MANIFEST otherwise',
    async () => {
      await checkProperty(
        'image config: valid and hostile blobs',
        fc.property(
          fc.oneof(
            configDoc.map((c) => ({ c })),
            hostileBody.map((b) => ({ b })),
          ),
          (input) => {
            if ('c' in input) {
              const cfg = parseImageConfig(bytes(input.c), WHAT, REGISTRY_OPTIONS);
              expect(cfg.entrypoint).toEqual(input.c.config?.Entrypoint ?? []);
              expect(cfg.cmd).toEqual(input.c.config?.Cmd ?? []);
              const { os, architecture, variant } = input.c;
              expect(cfg.platform).toEqual(
                os && architecture ? { os, architecture, ...(variant ? { variant } : {}) } : undefined,
              );
              return;
            }
            try {
              parseImageConfig(input.b, WHAT, REGISTRY_OPTIONS);
            } catch (err) {
              expectFailure(err, ['BAD_MANIFEST']);
            }
          },
        ),
      );
    },
    fuzzTimeout(),
  );
});
