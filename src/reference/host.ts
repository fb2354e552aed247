import { isIP } from 'node:net';

/**
 * Registry host names, normalised in one place: image references, Docker config keys, the insecure-registry
 * list, the access policy and metrics labels all compare hosts through these functions.
 */

/** The name users write for Docker Hub; `index.docker.io` and `registry-1.docker.io` mean the same registry. */
export const DOCKER_HUB = 'docker.io';
/** Docker Hub's API host (what go-containerregistry dials too). */
export const DOCKER_HUB_API_HOST = 'index.docker.io';
const DOCKER_HUB_ALIASES = new Set([DOCKER_HUB, DOCKER_HUB_API_HOST, 'registry-1.docker.io']);

/** `host[:port]` → parts; IPv6 literals keep their brackets, and only a colon after `]` starts a port. */
export function splitHostPort(host: string): { hostname: string; port: string } {
  const colon = host.lastIndexOf(':');
  if (colon < 0 || colon < host.lastIndexOf(']')) return { hostname: host, port: '' };
  if (!host.startsWith('[') && host.indexOf(':') !== colon) return { hostname: host, port: '' };
  return { hostname: host.slice(0, colon), port: host.slice(colon + 1) };
}

/**
 * The canonical spelling of a registry `host[:port]`: lower case, no trailing dot on the name, and Docker
 * Hub's aliases (without a port) as `docker.io`.
 */
export function normalizeRegistryHost(host: string): string {
  const { hostname, port } = splitHostPort(host.trim().toLowerCase());
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  if (port === '' && DOCKER_HUB_ALIASES.has(name)) return DOCKER_HUB;
  return port === '' ? name : `${name}:${port}`;
}

/** The host to talk to for the distribution API: Docker Hub is served by index.docker.io. */
export function apiHostOf(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

/** `[::1]` → `::1`; other names unchanged. */
export function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** True for IPv4 and IPv6 literals (bracketed or not). */
export function isIpLiteral(hostname: string): boolean {
  return isIP(unbracket(hostname)) !== 0;
}
