import { createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

import type { ImageReference } from '../../reference/reference.js';
import type { CallContext } from './context.js';

/**
 * One set of registry credentials. Which fields are set decides how the transport authenticates:
 * `username`/`password` → Basic (or the password grant of a token service), `identityToken` → OAuth2
 * refresh-token grant, `registryToken` → sent as a Bearer token as-is.
 */
export interface Credential {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
  /** Where the credential came from, without secrets, e.g. `/etc/auth/config.json auths["ghcr.io"]`. */
  source: string;
  /**
   * Only the review that brought it may use it (a pod's own pull secret): what it fetched is not shared
   * with other pods until they prove access themselves (images/access.ts).
   */
  podScoped?: boolean;
}

/** What a keychain found for an image. */
export interface KeychainLookup {
  /**
   * Every credential that matches, most specific first, so callers can fall through to the next one on
   * 401/403 as the kubelet does (several pull secrets for one registry). Empty = anonymous.
   */
  credentials: Credential[];
  /**
   * Every place looked in, without secrets (`Docker config /root/.docker/config.json: no match`), so that a
   * denial can say which credentials there were to try.
   */
  consulted: string[];
}

/**
 * Finds the credentials to try for an image. Asynchronous because some come from APIs (cloud tokens, a
 * pod's pull secrets); only a registry round trip asks, never a cache hit.
 */
export interface Keychain {
  lookup(ref: ImageReference, ctx: CallContext): Promise<KeychainLookup>;
  /** Registry hosts the credentials are keyed by (exact keys, no globs): named in configuration, for metrics. */
  registryHosts?(): string[];
}

export type CredentialKind = 'basic' | 'identity-token' | 'registry-token' | 'anonymous';

/** Mirrors the precedence the transport uses: a registry token beats an identity token beats basic. */
export function credentialKind(credential: Credential): CredentialKind {
  if (credential.registryToken) return 'registry-token';
  if (credential.identityToken) return 'identity-token';
  if (credential.username || credential.password) return 'basic';
  return 'anonymous';
}

/**
 * Builds a Credential whose JSON and `util.inspect` forms are redacted, so a credential that ends up in a
 * log line or a test failure message by accident does not leak. The fields stay plain data for the transport.
 */
export function makeCredential(fields: Credential): Credential {
  const credential: Credential = { source: fields.source };
  if (fields.username !== undefined) credential.username = fields.username;
  if (fields.password !== undefined) credential.password = fields.password;
  if (fields.identityToken !== undefined) credential.identityToken = fields.identityToken;
  if (fields.registryToken !== undefined) credential.registryToken = fields.registryToken;
  if (fields.podScoped) credential.podScoped = true;
  const redacted = (): Record<string, string> => redactedView(credential);
  Object.defineProperty(credential, 'toJSON', { value: redacted, enumerable: false });
  Object.defineProperty(credential, inspect.custom, { value: redacted, enumerable: false });
  return credential;
}

function redactedView(credential: Credential): Record<string, string> {
  const view: Record<string, string> = { kind: credentialKind(credential), source: credential.source };
  if (credential.username !== undefined) view.username = credential.username;
  return view;
}

/** True when two credentials would authenticate identically (the same secret mounted twice, say). */
export function sameSecret(a: Credential, b: Credential): boolean {
  return (
    a.username === b.username &&
    a.password === b.password &&
    a.identityToken === b.identityToken &&
    a.registryToken === b.registryToken
  );
}

/** Per process, so an identity says nothing about the secret outside this process's memory. */
const ID_KEY = randomBytes(32);
const ids = new WeakMap<Credential, string>();

/**
 * A short identity of a credential's secret parts (an HMAC under a per-process key): equal for the same
 * secret wherever it was found, different when a Secret's content changes under the same name. Keys the
 * registry-token cache and the access ledger; it is never logged.
 */
export function credentialId(credential: Credential): string {
  let id = ids.get(credential);
  if (id === undefined) {
    const parts = [
      credential.username,
      credential.password,
      credential.identityToken,
      credential.registryToken,
    ];
    id = createHmac('sha256', ID_KEY)
      .update(JSON.stringify(parts.map((p) => p ?? null)))
      .digest('base64url')
      .slice(0, 22);
    ids.set(credential, id);
  }
  return id;
}
