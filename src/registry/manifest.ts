import * as z from 'zod/mini';

import { FnPinnerError } from '../errors.js';
import type { Platform } from '../reference/platform.js';
import { quote } from '../util/text.js';
import '../util/zod.js';
import { own, word } from './strings.js';

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
/** One shared string per known media type, rather than a copy per cached manifest. */
const INTERNED = new Map<string, string>(Object.values(MediaType).map((t) => [t, t]));
const IMAGE_TYPES = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);

const descriptor = z.object({
  mediaType: z.optional(z.string()),
  digest: z.string().check(z.regex(/^sha256:[a-f0-9]{64}$/, 'a sha256 digest')),
  size: z.optional(z.int().check(z.minimum(0))),
});

const indexSchema = z.object({
  manifests: z.array(
    z.extend(descriptor, {
      platform: z.optional(
        z.object({ os: z.string(), architecture: z.string(), variant: z.optional(z.string()) }),
      ),
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
  const platform =
    p &&
    (p.variant
      ? { os: word(p.os), architecture: word(p.architecture), variant: word(p.variant) }
      : { os: word(p.os), architecture: word(p.architecture) });
  const mediaType = m.mediaType === undefined ? undefined : (INTERNED.get(m.mediaType) ?? m.mediaType);
  return { digest: own(m.digest), mediaType, platform };
}

function parseObject(bytes: Buffer, what: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new FnPinnerError('BAD_MANIFEST', `parse ${what}: not JSON`, { cause: err });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new FnPinnerError('BAD_MANIFEST', `parse ${what}: not a JSON object`);
  }
  return body as Record<string, unknown>;
}

export interface ManifestLimits {
  /** Entries an index may list; a registry could otherwise make every review walk thousands. */
  maxIndexEntries: number;
}

/** Counted before the schema walks them: a registry could otherwise make every review validate thousands. */
function checkIndexSize(body: Record<string, unknown>, what: string, limits: ManifestLimits): void {
  const entries = Array.isArray(body.manifests) ? body.manifests.length : 0;
  if (entries <= limits.maxIndexEntries) return;
  throw new FnPinnerError(
    'INDEX_TOO_LARGE',
    `parse manifest of ${what}: the index lists ${entries} manifests, more than ${limits.maxIndexEntries}`,
  );
}

function mediaTypeOf(body: Record<string, unknown>, contentType: string): string {
  const raw = typeof body.mediaType === 'string' ? body.mediaType : (contentType.split(';')[0] ?? '').trim();
  return INTERNED.get(raw) ?? raw;
}

/** Parses manifest bytes. `contentType` is the response header; the body's own mediaType wins when present. */
export function parseManifest(
  bytes: Buffer,
  contentType: string,
  what: string,
  limits: ManifestLimits,
): Manifest {
  const body = parseObject(bytes, `manifest of ${what}`);
  const mediaType = mediaTypeOf(body, contentType);
  const kind = kindOf(mediaType, body);
  if (!kind) {
    throw new FnPinnerError(
      'UNSUPPORTED_MEDIA_TYPE',
      `parse manifest of ${what}: unsupported media type ${quote(mediaType, 100)} (schema 1 and non-image artifacts are not supported)`,
    );
  }
  if (kind === 'index') checkIndexSize(body, what, limits);
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
  return { kind, mediaType, configDigest: own((parsed.data as z.infer<typeof imageSchema>).config.digest) };
}

const configSchema = z.object({
  os: z.optional(z.string()),
  architecture: z.optional(z.string()),
  variant: z.optional(z.string()),
  config: z.nullish(
    z.looseObject({
      Entrypoint: z.nullish(z.array(z.string())),
      Cmd: z.nullish(z.array(z.string())),
    }),
  ),
});

/** Known platforms share one frozen object; anything else gets its own. */
const PLATFORMS = new Map<string, Platform>();
function platformOf({ os, architecture, variant }: z.infer<typeof configSchema>): Platform | undefined {
  if (!os || !architecture) return undefined;
  const key = `${os}/${architecture}/${variant ?? ''}`;
  const known = PLATFORMS.get(key);
  if (known) return known;
  const p: Platform = variant
    ? { os: word(os), architecture: word(architecture), variant: word(variant) }
    : { os: word(os), architecture: word(architecture) };
  if (PLATFORMS.size < 256 && key.length <= 64) PLATFORMS.set(key, Object.freeze(p));
  return p;
}

export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  platform: Platform | undefined;
}

/** One shared empty argv: many images have no Cmd (or no Entrypoint). Callers copy, never mutate. */
const NO_ARGV = Object.freeze([]) as unknown as string[];

function argvOf(a: string[]): string[] {
  return a.length === 0 ? NO_ARGV : a.map(own);
}

function argvBytes(argv: readonly string[]): number {
  return argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
}

/**
 * Extracts Entrypoint and Cmd as separate arrays (empty when absent) and the platform from a config blob.
 * Only these are kept (in the cache, and in pods), so their size is bounded by `maxCommandBytes`.
 */
export function parseImageConfig(
  bytes: Buffer,
  what: string,
  limits: { maxCommandBytes: number },
): ImageConfig {
  const json = parseObject(bytes, `image config of ${what}`);
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FnPinnerError(
      'BAD_MANIFEST',
      `parse image config of ${what}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    );
  }
  const { config } = parsed.data;
  const entrypoint = config?.Entrypoint ?? [];
  const cmd = config?.Cmd ?? [];
  const size = argvBytes(entrypoint) + argvBytes(cmd);
  if (size > limits.maxCommandBytes) {
    throw new FnPinnerError(
      'COMMAND_TOO_LARGE',
      `parse image config of ${what}: Entrypoint and Cmd take ${size} bytes, more than ${limits.maxCommandBytes}`,
    );
  }
  // Copies with exact capacity: what the schema returned may have room to spare.
  return { entrypoint: argvOf(entrypoint), cmd: argvOf(cmd), platform: platformOf(parsed.data) };
}
