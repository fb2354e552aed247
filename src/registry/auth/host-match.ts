import { FnPinnerError } from '../../errors.js';
import { normalizeRegistryHost, splitHostPort } from '../../reference/host.js';
import type { ImageReference } from '../../reference/reference.js';

/**
 * Docker config keys matched against images the way the kubelet matches pull-secret keys
 * (kubernetes pkg/credentialprovider keyring.go: `BasicDockerKeyring.Add`, `URLsMatch`,
 * `ParseSchemelessURL`), so the webhook authenticates with the credentials the node will use to pull.
 *
 * Differences from the kubelet, all deliberate:
 * - Docker Hub spellings (`index.docker.io`, `registry-1.docker.io`, `https://index.docker.io/v1/`) all
 *   become `docker.io`, the registry ImageReference uses, instead of the kubelet's special fallback key.
 * - A key's path matches on segment boundaries (`ghcr.io/org` does not match `ghcr.io/organisation/app`);
 *   the kubelet uses a plain string prefix there, which is a known way to send one org's secret to another.
 */
export interface RegistryKey {
  /** The key as written in the config file, user info redacted. Safe to log. */
  readonly original: string;
  /** `host[:port]`, lower-case; Docker Hub aliases become `docker.io`. */
  readonly host: string;
  readonly hostname: string;
  /** '' when the key has none: then only images without a port match. */
  readonly port: string;
  /** Repository path prefix without leading or trailing '/', '' for the whole registry. */
  readonly path: string;
  /** True when the host has glob characters (`*.example.com`). */
  readonly wildcard: boolean;
}

const HOSTNAME_RE = /^(?:[a-z0-9*?_-]+(?:\.[a-z0-9*?_-]+)*|\[[0-9a-f:.]+(?:%[a-z0-9]+)?\])$/;
const GLOB_RE = /[*?]/;

/** Hides `user:pass@` should someone have written credentials into a key. */
export function redactKey(raw: string): string {
  // Everything before the last '@' may be user info, whatever it holds ('/', spaces): over-redacting a
  // key is harmless, printing a password is not.
  const at = raw.lastIndexOf('@');
  if (at < 0) return raw;
  const scheme = /^\s*[a-z][a-z0-9+.-]*:\/\//i.exec(raw)?.[0].trimStart() ?? '';
  return `${scheme}***${raw.slice(at)}`;
}

function badKey(raw: string, why: string): FnPinnerError {
  return new FnPinnerError('BAD_DOCKER_CONFIG', `registry key ${JSON.stringify(redactKey(raw))}: ${why}`);
}

/** Drops a leading `v1`/`v2` segment (the API path docker login records), as the kubelet does. */
function normalisePath(path: string): string {
  const segments = path.split('/').filter((s) => s !== '');
  if (segments[0] === 'v1' || segments[0] === 'v2') segments.shift();
  return segments.join('/');
}

function checkHost(raw: string, hostname: string, port: string): void {
  if (hostname === '') throw badKey(raw, 'no registry host');
  if (!HOSTNAME_RE.test(hostname)) throw badKey(raw, 'invalid registry host');
  if (port !== '' && !/^[0-9]{1,5}$/.test(port)) throw badKey(raw, 'invalid port');
}

/**
 * Normalises a Docker config key: strips `https://`/`http://`, a `/v1/` or `/v2/` API path and trailing
 * slashes, lower-cases the host and maps Docker Hub aliases to `docker.io`. Throws BAD_DOCKER_CONFIG (the
 * caller prefixes the file name) for keys that cannot name a registry.
 */
export function parseRegistryKey(raw: string): RegistryKey {
  const trimmed = raw.trim();
  if (trimmed.includes('@')) throw badKey(raw, 'must not contain user info ("user@"); use the entry fields');
  const schemeless = trimmed.replace(/^https?:\/\//i, '');
  if (schemeless.includes('://')) throw badKey(raw, 'only https:// and http:// schemes are understood');
  const slash = schemeless.indexOf('/');
  const rawHost = (slash < 0 ? schemeless : schemeless.slice(0, slash)).toLowerCase();
  const { hostname, port } = splitHostPort(rawHost);
  checkHost(raw, hostname, port);
  const host = normalizeRegistryHost(rawHost);
  const canonicalHostname = splitHostPort(host).hostname;
  return {
    original: redactKey(trimmed),
    host,
    hostname: canonicalHostname,
    port,
    path: slash < 0 ? '' : normalisePath(schemeless.slice(slash + 1)),
    wildcard: GLOB_RE.test(hostname),
  };
}

/** `filepath.Match` for one host label: `*` is any run of characters, `?` exactly one. */
function labelMatches(glob: string, label: string): boolean {
  if (!GLOB_RE.test(glob)) return glob === label;
  const pattern = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`).test(label);
}

function hostMatches(key: RegistryKey, hostname: string): boolean {
  if (!key.wildcard) return key.hostname === hostname;
  const globLabels = key.hostname.split('.');
  const labels = hostname.split('.');
  // `*` never spans a dot: `*.example.com` matches `a.example.com`, not `a.b.example.com` or `example.com`.
  if (globLabels.length !== labels.length) return false;
  return globLabels.every((glob, i) => labelMatches(glob, labels[i] ?? ''));
}

function pathMatches(keyPath: string, repository: string): boolean {
  return keyPath === '' || repository === keyPath || repository.startsWith(`${keyPath}/`);
}

/** Whether a credential stored under `key` applies to `ref`. Ports must be equal, absent on both or neither. */
export function keyMatches(key: RegistryKey, ref: ImageReference): boolean {
  const { hostname, port } = splitHostPort(ref.registry);
  if (key.port !== port) return false;
  return hostMatches(key, hostname) && pathMatches(key.path, ref.repository);
}

function pathDepth(key: RegistryKey): number {
  return key.path === '' ? 0 : key.path.split('/').length;
}

/** Literal characters in the host: `*.corp.example.com` is more specific than `*.example.com`. */
function literalHostLength(key: RegistryKey): number {
  return key.hostname.replace(/[*?]/g, '').length;
}

/**
 * Sort order, most specific first: an exact host before a glob, then the longer path, then the glob with
 * more literal characters. Ties keep their input order (Array.prototype.sort is stable), which keeps
 * file order and entry order meaningful.
 */
export function compareSpecificity(a: RegistryKey, b: RegistryKey): number {
  if (a.wildcard !== b.wildcard) return a.wildcard ? 1 : -1;
  const byDepth = pathDepth(b) - pathDepth(a);
  if (byDepth !== 0) return byDepth;
  return literalHostLength(b) - literalHostLength(a);
}

/** Every entry whose key matches `ref`, most specific first. */
export function matchingEntries<T extends { key: RegistryKey }>(
  entries: readonly T[],
  ref: ImageReference,
): T[] {
  return entries.filter((e) => keyMatches(e.key, ref)).sort((a, b) => compareSpecificity(a.key, b.key));
}
