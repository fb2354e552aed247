import { createHash } from 'node:crypto';

import { FnPinnerError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { RegistryOptions } from './options.js';
import type { ImageReference } from '../reference/reference.js';
import { Authenticator } from './auth/authenticator.js';
import type { CallContext } from './auth/context.js';
import type { Credential, Keychain } from './auth/credentials.js';
import { MANIFEST_ACCEPT, parseManifest } from './manifest.js';
import { own } from './strings.js';
import type { Manifest } from './manifest.js';
import type { RegistryTransport } from './transport/index.js';
import { header } from './transport/types.js';

export type { CallContext } from './auth/context.js';

export interface ManifestResult {
  digest: string;
  mediaType: string;
  manifest: Manifest;
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function sha256(bytes: Buffer): string {
  return own(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
}

export interface RegistryClientDeps {
  transport: RegistryTransport;
  keychain: Keychain;
  options: RegistryOptions;
  log: Logger;
  /** Which credential each repository's content was fetched with (the access ledger, --pod-pull-secrets). */
  onAccepted?: (ref: ImageReference, credential: Credential | undefined) => void;
}

/**
 * The distribution API, as far as resolving images needs it: manifests, blobs, and the digest checks on
 * both. Authentication is the layer below (auth/authenticator.ts), HTTP the one below that (transport/).
 */
export class RegistryClient {
  private readonly auth: Authenticator;

  constructor(private readonly deps: RegistryClientDeps) {
    this.auth = new Authenticator(deps);
  }

  /**
   * The digest a tag (or digest) points to, without downloading the manifest: HEAD, then GET when the
   * registry sends no Docker-Content-Digest (the manifest fetched then comes back too, so it is not lost).
   */
  async headManifest(
    ref: ImageReference,
    identifier: string,
    ctx: CallContext,
  ): Promise<{ digest: string; fetched?: ManifestResult }> {
    const res = await this.auth.send(
      ref,
      {
        kind: 'manifest',
        method: 'HEAD',
        path: `/v2/${ref.repository}/manifests/${identifier}`,
        accept: MANIFEST_ACCEPT,
        maxBytes: 0,
        notFound: 'MANIFEST_UNKNOWN',
      },
      ctx,
    );
    const digest = header(res, 'docker-content-digest');
    if (digest && DIGEST_RE.test(digest)) return { digest };
    const fetched = await this.getManifest(ref, identifier, ctx);
    return { digest: fetched.digest, fetched };
  }

  /** GETs a manifest or index and verifies its sha256 against the digest asked for or announced. */
  async getManifest(ref: ImageReference, identifier: string, ctx: CallContext): Promise<ManifestResult> {
    const res = await this.auth.send(
      ref,
      {
        kind: 'manifest',
        method: 'GET',
        path: `/v2/${ref.repository}/manifests/${identifier}`,
        accept: MANIFEST_ACCEPT,
        maxBytes: this.deps.options.maxManifestBytes,
        notFound: 'MANIFEST_UNKNOWN',
      },
      ctx,
    );
    const digest = sha256(res.body);
    const announced = header(res, 'docker-content-digest');
    const expected = identifier.startsWith('sha256:') ? identifier : announced;
    if (expected && expected !== digest) {
      throw new FnPinnerError(
        'DIGEST_MISMATCH',
        `${ctx.what}: GET manifest ${identifier}: content has digest ${digest}, expected ${expected.slice(0, 80)}`,
      );
    }
    const contentType = header(res, 'content-type') ?? '';
    const manifest = parseManifest(res.body, contentType, `${ref.name}@${digest}`, this.deps.options);
    return { digest, mediaType: manifest.mediaType, manifest };
  }

  /** GETs a blob (following redirects to storage without credentials) and verifies its sha256. */
  async getBlob(ref: ImageReference, digest: string, maxBytes: number, ctx: CallContext): Promise<Buffer> {
    const res = await this.auth.send(
      ref,
      {
        kind: 'blob',
        method: 'GET',
        path: `/v2/${ref.repository}/blobs/${digest}`,
        maxBytes,
        notFound: 'BLOB_UNKNOWN',
        followRedirects: true,
      },
      ctx,
    );
    const actual = sha256(res.body);
    if (actual !== digest) {
      throw new FnPinnerError(
        'DIGEST_MISMATCH',
        `${ctx.what}: GET blob ${digest}: content has digest ${actual}`,
      );
    }
    return res.body;
  }
}
