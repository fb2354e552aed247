import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/**
 * Tiny OCI / Docker schema2 images built in memory. Everything is deterministic (fixed timestamps, gzip
 * without a name or mtime), so the same spec always gives the same digests.
 */

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** What a client must send: distribution 2.8 answers 404 for a manifest whose type is not accepted. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.dockerManifest,
].join(', ');

export type ImageFormat = 'oci' | 'docker';

export interface ImageSpec {
  /** Omitted from the config JSON when not given. */
  entrypoint?: string[];
  /** Omitted from the config JSON when not given. */
  cmd?: string[];
  /** Default 'amd64'. */
  arch?: string;
  /** Default 'linux'. */
  os?: string;
  variant?: string;
  /** Default 'oci'. */
  format?: ImageFormat;
  /** Content of the single file in the single layer; defaults to a text naming the platform. */
  layerText?: string;
  /** The layer's entries instead (a runnable root filesystem); wins over layerText. */
  files?: LayerEntry[];
  /** Extra fields for the config's "config" object (Env, WorkingDir, User, Labels, ...). */
  config?: Record<string, unknown>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One tar entry: a regular file (content), a symlink (linkTo) or a directory (neither). */
export interface LayerEntry {
  /** Relative, e.g. 'bin/sh'; directories end without a slash. */
  path: string;
  content?: Buffer;
  linkTo?: string;
  /** Default 0o755 for directories, 0o644 for files. */
  mode?: number;
}

export interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface BuiltImage {
  platform: Platform;
  mediaType: string;
  digest: string;
  manifestBytes: Buffer;
  config: Blob;
  layer: Blob;
}

export interface IndexEntry {
  mediaType: string;
  digest: string;
  size: number;
  platform: Platform;
}

export interface BuiltIndex {
  mediaType: string;
  digest: string;
  manifestBytes: Buffer;
}

const FIXED_TIME = '2020-01-01T00:00:00Z';
const FIXED_MTIME = Date.parse(FIXED_TIME) / 1000;

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function toBlob(bytes: Buffer): Blob {
  return { digest: sha256Digest(bytes), size: bytes.length, bytes };
}

export function buildImage(spec: ImageSpec = {}): BuiltImage {
  const platform = platformOf(spec);
  const docker = spec.format === 'docker';
  const { tar, layer } = layerOf(
    spec.files ?? [
      { path: 'hello.txt', content: Buffer.from(spec.layerText ?? `hello from ${platformText(platform)}\n`) },
    ],
  );
  const config = toBlob(Buffer.from(JSON.stringify(configJson(spec, platform, sha256Digest(tar)))));
  const mediaType = docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: docker ? MEDIA_TYPES.dockerConfig : MEDIA_TYPES.ociConfig, ...descriptor(config) },
    layers: [{ mediaType: docker ? MEDIA_TYPES.dockerLayer : MEDIA_TYPES.ociLayer, ...descriptor(layer) }],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { platform, mediaType, digest: sha256Digest(manifestBytes), manifestBytes, config, layer };
}

export function buildIndex(entries: IndexEntry[], format: ImageFormat = 'oci'): BuiltIndex {
  const mediaType = format === 'docker' ? MEDIA_TYPES.dockerList : MEDIA_TYPES.ociIndex;
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: entries }));
  return { mediaType, digest: sha256Digest(manifestBytes), manifestBytes };
}

export function indexEntry(
  image: Pick<BuiltImage, 'mediaType' | 'digest' | 'manifestBytes' | 'platform'>,
): IndexEntry {
  return {
    mediaType: image.mediaType,
    digest: image.digest,
    size: image.manifestBytes.length,
    platform: image.platform,
  };
}

function platformOf(spec: ImageSpec): Platform {
  const platform: Platform = { os: spec.os ?? 'linux', architecture: spec.arch ?? 'amd64' };
  if (spec.variant !== undefined) platform.variant = spec.variant;
  return platform;
}

function platformText(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

function configJson(spec: ImageSpec, platform: Platform, diffId: string): Record<string, unknown> {
  const config: Record<string, unknown> = { Env: ['PATH=/usr/local/bin:/usr/bin:/bin'], ...spec.config };
  if (spec.entrypoint) config.Entrypoint = spec.entrypoint;
  if (spec.cmd) config.Cmd = spec.cmd;
  return {
    created: FIXED_TIME,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    config,
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: FIXED_TIME, created_by: 'fn-pinner test/support/oci.ts' }],
  };
}

function descriptor(blob: Blob): { digest: string; size: number } {
  return { digest: blob.digest, size: blob.size };
}

/** The same entries always give the same bytes; a large layer (a busybox) is compressed once. */
const layers = new Map<string, { tar: Buffer; layer: Blob }>();

function layerOf(entries: LayerEntry[]): { tar: Buffer; layer: Blob } {
  const tar = tarOf(entries);
  const key = sha256Digest(tar);
  let built = layers.get(key);
  if (!built) {
    built = { tar, layer: toBlob(gzipSync(tar)) };
    layers.set(key, built);
  }
  return built;
}

/** A valid ustar archive (checked with umoci and containerd; see test-infrastructure.md). */
export function tarOf(entries: LayerEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.linkTo !== undefined ? '2' : e.content !== undefined ? '0' : '5';
    const content = e.content ?? Buffer.alloc(0);
    const mode = e.mode ?? (type === '5' ? 0o755 : 0o644);
    parts.push(tarHeader(type === '5' ? `${e.path}/` : e.path, type, mode, content.length, e.linkTo));
    if (type === '0') {
      const body = Buffer.alloc(Math.ceil(content.length / 512) * 512);
      content.copy(body);
      parts.push(body);
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function tarHeader(name: string, type: string, mode: number, size: number, linkTo = ''): Buffer {
  if (name.length > 100 || linkTo.length > 100) throw new Error(`tar: name too long: ${name}`);
  const header = Buffer.alloc(512);
  const put = (text: string, offset: number, length: number): void => {
    header.write(text, offset, length, 'ascii');
  };
  const octal = (n: number, width: number): string => `${n.toString(8).padStart(width - 1, '0')}\0`;
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(FIXED_MTIME, 12), 136, 12);
  put('        ', 148, 8);
  put(type, 156, 1);
  put(linkTo, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return header;
}
