import { z } from 'zod';

import { FnPinnerError } from '../errors.js';
import type { Platform } from '../reference/platform.js';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/**
 * Every manifest kind we understand. Without a matching Accept header, distribution answers 404 for OCI
 * content ("OCI manifest found, but accept header does not support OCI manifests"), and the digest a HEAD
 * returns must be the digest of what the kubelet will pull, so indexes are always accepted too.
 */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerList,
  MediaType.dockerManifest,
].join(', ');

const INDEX_TYPES = new Set<string>([MediaType.ociIndex, MediaType.dockerList]);
const IMAGE_TYPES = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);

const descriptor = z.object({
  mediaType: z.string().optional(),
  digest: z.string().regex(/^sha256:[a-f0-9]{64}$/, 'a sha256 digest'),
  size: z.number().int().nonnegative().optional(),
});

const indexSchema = z.object({
  manifests: z.array(
    descriptor.extend({
      platform: z
        .object({ os: z.string(), architecture: z.string(), variant: z.string().optional() })
        .optional(),
    }),
  ),
});

const imageSchema = z.object({ config: descriptor });

export interface IndexChild {
  digest: string;
  mediaType: string | undefined;
  platform: Platform | undefined;
}

export type Manifest =
  | { kind: 'index'; mediaType: string; children: IndexChild[] }
  | { kind: 'image'; mediaType: string; configDigest: string };

function kindOf(mediaType: string, body: Record<string, unknown>): 'index' | 'image' | undefined {
  if (INDEX_TYPES.has(mediaType)) return 'index';
  if (IMAGE_TYPES.has(mediaType)) return 'image';
  // OCI allows mediaType to be omitted from the body and some registries send a generic Content-Type.
  if (mediaType === '' || mediaType === 'application/json') {
    if (Array.isArray(body.manifests)) return 'index';
    if (body.config !== undefined) return 'image';
  }
  return undefined;
}

function toChild(m: z.infer<typeof indexSchema>['manifests'][number]): IndexChild {
  const p = m.platform;
  const platform = p && (p.variant ? { ...p } : { os: p.os, architecture: p.architecture });
  return { digest: m.digest, mediaType: m.mediaType, platform };
}

/** Parses manifest bytes. `contentType` is the response header; the body's own mediaType wins when present. */
export function parseManifest(bytes: Buffer, contentType: string, what: string): Manifest {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new FnPinnerError('BAD_MANIFEST', `parse manifest of ${what}: not JSON`, { cause: err });
  }
  const mediaType =
    typeof body.mediaType === 'string' ? body.mediaType : (contentType.split(';')[0] ?? '').trim();
  const kind = kindOf(mediaType, body);
  if (!kind) {
    throw new FnPinnerError(
      'UNSUPPORTED_MEDIA_TYPE',
      `parse manifest of ${what}: unsupported media type ${JSON.stringify(mediaType)} (schema 1 and non-image artifacts are not supported)`,
    );
  }
  const parsed = (kind === 'index' ? indexSchema : imageSchema).safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') ?? '';
    throw new FnPinnerError(
      'BAD_MANIFEST',
      `parse manifest of ${what}: ${where} ${issue?.message ?? ''}`.trim(),
    );
  }
  if (kind === 'index') {
    return { kind, mediaType, children: (parsed.data as z.infer<typeof indexSchema>).manifests.map(toChild) };
  }
  return { kind, mediaType, configDigest: (parsed.data as z.infer<typeof imageSchema>).config.digest };
}

const configSchema = z.object({
  os: z.string().optional(),
  architecture: z.string().optional(),
  variant: z.string().optional(),
  config: z
    .object({
      Entrypoint: z.array(z.string()).nullish(),
      Cmd: z.array(z.string()).nullish(),
    })
    .loose()
    .nullish(),
});

function platformOf({ os, architecture, variant }: z.infer<typeof configSchema>): Platform | undefined {
  if (!os || !architecture) return undefined;
  return variant ? { os, architecture, variant } : { os, architecture };
}

export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  platform: Platform | undefined;
}

/** Extracts Entrypoint and Cmd as separate arrays (empty when absent) and the platform from a config blob. */
export function parseImageConfig(bytes: Buffer, what: string): ImageConfig {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new FnPinnerError('BAD_MANIFEST', `parse image config of ${what}: not JSON`, { cause: err });
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FnPinnerError(
      'BAD_MANIFEST',
      `parse image config of ${what}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    );
  }
  const { config } = parsed.data;
  return { entrypoint: config?.Entrypoint ?? [], cmd: config?.Cmd ?? [], platform: platformOf(parsed.data) };
}
