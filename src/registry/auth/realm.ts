import { getDomain } from 'tldts';

import { FnPinnerError } from '../../errors.js';
import { isIpLiteral, normalizeRegistryHost, unbracket } from '../../reference/host.js';
import { quote } from '../../util/text.js';
import { redactUrl } from '../transport/types.js';

/**
 * Whether a Bearer challenge's realm may be fetched. The realm is chosen by the registry, so a hostile one
 * could point fn-pinner (with credentials) at any internal service and then receive what it answered as
 * "the token". A realm is trusted when it is on the registry's host (any port: a token service beside the
 * registry is common), shares its registrable domain (auth.docker.io for registry-1.docker.io, per the
 * public suffix list including private suffixes, so one github.io site cannot vouch for another), or is
 * listed in --token-realm-allow. IP addresses must match exactly. A plain-http realm is accepted only for
 * a registry that is itself plain HTTP.
 */
export function checkRealm(
  realm: string,
  registryOrigin: string,
  allow: readonly string[],
  what: string,
): URL {
  const registry = new URL(registryOrigin);
  const refuse = (why: string, hint = ''): FnPinnerError =>
    new FnPinnerError(
      'REALM_NOT_TRUSTED',
      `${what}: token realm ${quote(redactUrl(realm), 300)} of registry ${registry.host} ${why}${hint}`,
    );
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw refuse('is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse('is not http(s)');
  if (url.protocol === 'http:' && registry.protocol !== 'http:') {
    throw refuse('is plain http while the registry is https');
  }
  if (url.username || url.password) throw refuse('carries user info');
  if (sameSite(url.hostname, registry.hostname) || allowed(url, allow)) return url;
  throw refuse('is on another host and domain', ` (allow it with --token-realm-allow ${url.host})`);
}

function sameSite(realmHost: string, registryHost: string): boolean {
  const a = unbracket(realmHost.toLowerCase());
  const b = unbracket(registryHost.toLowerCase());
  if (a === b) return true;
  if (isIpLiteral(a) || isIpLiteral(b)) return false;
  const domain = getDomain(a, { allowPrivateDomains: true });
  return domain !== null && domain === getDomain(b, { allowPrivateDomains: true });
}

/** `host` allows any port of that host, `host:port` that port only. */
function allowed(url: URL, allow: readonly string[]): boolean {
  const host = normalizeRegistryHost(url.host);
  const hostname = normalizeRegistryHost(url.hostname);
  const port = url.port || (url.protocol === 'http:' ? '80' : '443');
  return allow.some((entry) => {
    const e = normalizeRegistryHost(entry);
    return e === hostname || e === host || e === `${hostname}:${port}`;
  });
}
