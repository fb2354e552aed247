import { startHostileRegistry } from '../hostile-registry.js';
import type { HostileRegistry, HostileRequest } from '../hostile-registry.js';

/**
 * The hostile side of the soak: three hostile registries (test/support/hostile-registry.ts, real HTTP
 * servers on 127.0.0.1) and a canary that must never be contacted.
 *
 *   - `content`: one misbehaviour per repository (see HOSTILE_REPOS), switched by path in `intercept`;
 *   - `realm`: every request is challenged with a Bearer realm on another host (the canary's port under the
 *     name `localhost`), which fn-pinner must refuse without connecting;
 *   - `token`: a Bearer realm on itself that serves 1 MiB tokens.
 */

export interface HostileSide {
  content: HostileRegistry;
  realm: HostileRegistry;
  token: HostileRegistry;
  /** Nothing may connect here: the untrusted realm points at it. */
  canary: HostileRegistry;
  /** The index digests and image digests that reviews should pin. */
  digests: { index200: string; stale: string };
  /** From now on the `stale` repository hangs (its tag is already cached by then). */
  takeStaleDown(): void;
  /** Forgets recorded requests (the soak runs long; the canary keeps its count). */
  trim(): void;
  stop(): Promise<void>;
}

const ERROR_BODY = 'e'.repeat(1024 * 1024);
const MANY_TAGS = 12;

/** Repository → what it does; the images exist, the registry misbehaves around them. */
export const HOSTILE_REPOS = {
  index4000: 'h/index4000', // an index of 4,000 platforms: over the 256-entry limit
  index200: 'h/index200', // 200 platforms: accepted, a bounded platform check
  bigConfig: 'h/bigconfig', // a 2 MiB config blob: over the 1 MiB limit
  hang: 'h/hang', // never answers
  errorBody: 'h/error', // 500 with a 1 MiB body, every time
  wrongDigest: 'h/wrongdigest', // a manifest whose bytes do not match Docker-Content-Digest
  redirectLoop: 'h/redirect', // the config blob redirects to itself
  reset: 'h/reset', // resets the connection
  stale: 'h/stale', // answers during warm-up, then hangs: the stale digest must be served
  many: 'h/many', // 12 tags: a pod naming them all is over the 10-images limit
} as const;

export function manyTags(): string[] {
  return Array.from({ length: MANY_TAGS }, (_, i) => `t${i}`);
}

function under(req: HostileRequest, repo: string): boolean {
  return req.path.startsWith(`/v2/${repo}/`);
}

export async function startHostileSide(): Promise<HostileSide> {
  const [content, canary] = await Promise.all([startHostileRegistry(), startHostileRegistry()]);
  const [realm, token] = await Promise.all([startHostileRegistry(), startHostileRegistry()]);
  realm.challenge = `Bearer realm="http://localhost:${canary.host.split(':')[1]}/token",service="soak"`;
  token.challenge = `Bearer realm="${token.url}/token",service="soak"`;
  token.token = { size: 1024 * 1024, expiresIn: 300 };
  for (const reg of [realm, token]) reg.addImage('fn/app', 'v1');

  const r = HOSTILE_REPOS;
  content.addIndex(r.index4000, 'v1', 4_000);
  const index200 = content.addIndex(r.index200, 'v1', 200).digest;
  content.addImage(r.bigConfig, 'v1', { extra: { history: [{ created_by: 'x'.repeat(2 * 1024 * 1024) }] } });
  const stale = content.addImage(r.stale, 'v1').digest;
  for (const repo of [r.hang, r.errorBody, r.wrongDigest, r.redirectLoop, r.reset]) {
    content.addImage(repo, 'v1');
  }
  for (const tag of manyTags()) content.addImage(r.many, tag, { cmd: [tag] });
  let staleDown = false;
  content.intercept = (req) => {
    if (under(req, r.hang) || (staleDown && under(req, r.stale))) return 'hang';
    if (under(req, r.reset)) return 'reset';
    if (under(req, r.errorBody)) return { status: 500, body: ERROR_BODY };
    if (under(req, r.wrongDigest) && req.path.includes('/manifests/')) {
      const body = Buffer.from(
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}',
      );
      const headers = {
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
        'docker-content-digest': `sha256:${'0'.repeat(64)}`,
      };
      return { status: 200, headers, body };
    }
    if (under(req, r.redirectLoop) && req.path.includes('/blobs/')) {
      return { status: 307, headers: { location: `${content.url}${req.path}` } };
    }
    return undefined;
  };
  return {
    content,
    realm,
    token,
    canary,
    digests: { index200, stale },
    takeStaleDown: () => void (staleDown = true),
    trim: () => {
      for (const reg of [content, realm, token]) reg.requests.splice(0);
    },
    stop: async () => {
      await Promise.all([content, realm, token, canary].map((reg) => reg.stop()));
    },
  };
}
