import { HOSTILE_REPOS, manyTags } from './hostile.js';
import type { HostileSide } from './hostile.js';
import type { RealSide } from './registries.js';

/**
 * What the soak sends and what each review must answer. A scenario yields the images of the next pod and
 * the expected answer: pinned (each container's image becomes `ref@digest`) or denied with a message that
 * says why. Anything else is an unexpected error.
 */

export type Kind = 'cached' | 'uncached' | 'failing' | 'hostile';
export const KINDS: readonly Kind[] = ['cached', 'uncached', 'failing', 'hostile'];

export type Expectation = { allowed: true; images: string[] } | { allowed: false; message: RegExp };

export interface PodPlan {
  images: string[];
  expect: Expectation;
}

export interface Scenario {
  name: string;
  kind: Kind;
  /** Relative share of the reviews. */
  weight: number;
  next(): PodPlan;
}

function pinned(real: RealSide, refs: string[]): PodPlan {
  const images = refs.map((ref) => {
    const digest = real.digests.get(ref);
    if (!digest) throw new Error(`soak: no digest recorded for ${ref}`);
    return `${ref}@${digest}`;
  });
  return { images: refs, expect: { allowed: true, images } };
}

function denied(images: string[], message: RegExp): PodPlan {
  return { images, expect: { allowed: false, message } };
}

/** Cycles through `refs` (a cold pool is sized so that a run does not come round again). */
function cycling(refs: string[]): () => string {
  let i = 0;
  return () => refs[i++ % refs.length]!;
}

function cachedScenarios(real: RealSide): Scenario[] {
  const { plain, priv, token } = real;
  const plan = (refs: string[]) => (): PodPlan => pinned(real, refs);
  return [
    {
      name: 'plain registry, one image',
      kind: 'cached',
      weight: 10,
      next: plan([`${plain.host}/hot/app:v1`]),
    },
    {
      name: 'plain registry, image + multi-arch index',
      kind: 'cached',
      weight: 8,
      next: plan([`${plain.host}/hot/app:v1`, `${plain.host}/hot/multi:v1`]),
    },
    {
      name: 'plain registry, Docker schema 2',
      kind: 'cached',
      weight: 5,
      next: plan([`${plain.host}/hot/docker:v1`]),
    },
    { name: 'TLS + Basic registry', kind: 'cached', weight: 12, next: plan([`${priv.host}/hot/app:v1`]) },
    {
      name: 'TLS + Basic, multi-arch index',
      kind: 'cached',
      weight: 6,
      next: plan([`${priv.host}/hot/multi:v1`]),
    },
    {
      name: 'Bearer token registry, two images',
      kind: 'cached',
      weight: 10,
      next: plan([`${token.host}/hot/app:v1`, `${token.host}/hot/docker:v1`]),
    },
  ];
}

const COLD_WEIGHTS = { plain: 8, priv: 7, token: 5 };

function uncachedScenarios(real: RealSide): Scenario[] {
  const next = (refs: string[]): (() => PodPlan) => {
    const take = cycling(refs);
    return () => pinned(real, [take()]);
  };
  return [
    {
      name: 'plain registry, never seen',
      kind: 'uncached',
      weight: COLD_WEIGHTS.plain,
      next: next(real.cold.plain),
    },
    {
      name: 'TLS + Basic, never seen',
      kind: 'uncached',
      weight: COLD_WEIGHTS.priv,
      next: next(real.cold.priv),
    },
    {
      name: 'Bearer token registry, never seen',
      kind: 'uncached',
      weight: COLD_WEIGHTS.token,
      next: next(real.cold.token),
    },
  ];
}

function failingScenarios(real: RealSide): Scenario[] {
  const fixed = (images: string[], message: RegExp) => (): PodPlan => denied(images, message);
  return [
    {
      name: 'tag not found',
      kind: 'failing',
      weight: 4,
      next: fixed([`${real.plain.host}/hot/app:missing`], /^fn-pinner: not found: .*: 404 MANIFEST_UNKNOWN/),
    },
    {
      name: 'registry down (connection refused)',
      kind: 'failing',
      weight: 2,
      next: fixed([`${real.downHost}/fn/app:v1`], /^fn-pinner: network error: .*ECONNREFUSED/),
    },
    {
      name: 'wrong password in the Docker config',
      kind: 'failing',
      weight: 2,
      next: fixed([`${real.badCreds.host}/hot/app:v1`], /^fn-pinner: unauthorized: .*: 401 UNAUTHORIZED/),
    },
    {
      name: 'denied by --registry-deny',
      kind: 'failing',
      weight: 1,
      next: fixed(
        ['blocked.invalid/fn/app:v1'],
        /registry not allowed: .*denied by --registry-deny blocked\.invalid/,
      ),
    },
    {
      name: 'cloud metadata address (built-in deny)',
      kind: 'failing',
      weight: 1,
      next: fixed(['169.254.169.254/fn/app:v1'], /registry not allowed: .*denied by the built-in deny list/),
    },
    {
      name: 'invalid image reference',
      kind: 'failing',
      weight: 2,
      next: fixed(['UPPER/Case::bad'], /^fn-pinner: bad image reference: /),
    },
  ];
}

function hostileScenarios(h: HostileSide): Scenario[] {
  const at = (repo: string, tag = 'v1'): string => `${h.content.host}/${repo}:${tag}`;
  const r = HOSTILE_REPOS;
  const refused = (name: string, images: string[], message: RegExp, weight = 1): Scenario => ({
    name,
    kind: 'hostile',
    weight,
    next: () => denied(images, message),
  });
  const allowed = (name: string, ref: string, digest: string, weight: number): Scenario => ({
    name,
    kind: 'hostile',
    weight,
    next: () => ({ images: [ref], expect: { allowed: true, images: [`${ref}@${digest}`] } }),
  });
  return [
    refused('index of 4,000 platforms', [at(r.index4000)], /image index too large: .*more than 256/),
    allowed('index of 200 platforms (accepted)', at(r.index200), h.digests.index200, 1),
    refused('2 MiB config blob', [at(r.bigConfig)], /response too large: .*exceeds 1048576 bytes/),
    refused(
      'registry hangs',
      [at(r.hang)],
      /^fn-pinner: timeout: .*(deadline exceeded|would pass the deadline)$/,
    ),
    refused('500 with a 1 MiB body', [at(r.errorBody)], /registry unavailable: .*: 500$/),
    refused('manifest bytes do not match the digest', [at(r.wrongDigest)], /^fn-pinner: digest mismatch: /),
    refused('blob redirect loop', [at(r.redirectLoop)], /more than 3 redirects/),
    refused('connection reset', [at(r.reset)], /^fn-pinner: network error: /),
    refused(
      'token realm on another host',
      [`${h.realm.host}/fn/app:v1`],
      /token realm not trusted: .*--token-realm-allow/,
    ),
    refused('1 MiB token', [`${h.token.host}/fn/app:v1`], /response too large: .*exceeds 65536 bytes/),
    refused(
      '12 distinct images in one pod',
      manyTags().map((t) => at(r.many, t)),
      /too many images: .*more than 10/,
    ),
    allowed('outage: stale tag served while the registry hangs', at(r.stale), h.digests.stale, 2),
  ];
}

/** The sum of all weights; coldNeeded() relies on it. */
const TOTAL_WEIGHT = 96;

export function scenarios(real: RealSide, hostile: HostileSide): Scenario[] {
  const list = [
    ...cachedScenarios(real),
    ...uncachedScenarios(real),
    ...failingScenarios(real),
    ...hostileScenarios(hostile),
  ];
  const total = list.reduce((n, s) => n + s.weight, 0);
  if (total !== TOTAL_WEIGHT) throw new Error(`soak: weights sum to ${total}, not ${TOTAL_WEIGHT}`);
  return list;
}

/** How many cold images of each registry a run of `reviews` reviews uses, with a margin. */
export function coldNeeded(reviews: number): { plain: number; priv: number; token: number } {
  const share = (w: number): number => Math.ceil((reviews * w * 1.2) / TOTAL_WEIGHT) + 10;
  return {
    plain: share(COLD_WEIGHTS.plain),
    priv: share(COLD_WEIGHTS.priv),
    token: share(COLD_WEIGHTS.token),
  };
}

/** A deterministic weighted choice (mulberry32), so that two runs send the same sequence. */
export function picker(list: Scenario[], seed = 1): () => Scenario {
  const total = list.reduce((n, s) => n + s.weight, 0);
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    let x = random() * total;
    for (const s of list) {
      x -= s.weight;
      if (x < 0) return s;
    }
    return list[list.length - 1]!;
  };
}
