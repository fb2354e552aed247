import { createHash } from 'node:crypto';

import { MetadataCache } from '../src/images/cache.js';
import { REGISTRY_OPTIONS as DEFAULT_REGISTRY_OPTIONS } from '../test/support/limits.js';

const DEFAULT_CACHE_OPTIONS = { maxImages: 10_000, maxBytes: 32 * 1024 * 1024, tagTtlMs: 300_000 };
import { ImageReference } from '../src/reference/reference.js';
import { parseImageConfig, parseManifest, sha256 } from '../src/registry/index.js';
import type { ImageConfig, ManifestResult } from '../src/registry/index.js';
import { MEDIA_TYPES } from '../test/support/oci.js';
import { expectThat } from './setup.js';
import type { Section } from './setup.js';
import { bytes, median, table } from './stats.js';

/**
 * Part 3: heap held by a MetadataCache with 10,000 images, built from realistic registry responses parsed by
 * the real parsers (so strings and objects are shaped and allocated as in production), and the LRU bound.
 */

const MAX_IMAGES = 10_000;
const OVERFILL = 12_000;
const REPS = 3;

const FUNCTIONS = [
  'apply-setters',
  'set-namespace',
  'set-labels',
  'set-annotations',
  'starlark',
  'kubeconform',
  'ensure-name-substring',
  'search-replace',
  'apply-replacements',
  'create-setters',
  'gatekeeper',
  'set-image',
  'set-enforcement-action',
  'upsert-resource',
  'list-setters',
  'remove-local-config-resources',
];
const PREFIXES = [
  'ghcr.io/kptdev/krm-functions-catalog',
  'gcr.io/kpt-fn',
  'registry.example.com/platform-team/krm-functions',
];

/** Three argv styles seen in KRM function images: a Go binary, a shell wrapper, an interpreter. */
function argvOf(i: number, fn: string): { Entrypoint: string[]; Cmd?: string[] } {
  switch (i % 3) {
    case 0:
      return { Entrypoint: [`/usr/local/bin/${fn}`] };
    case 1:
      return { Entrypoint: ['/bin/sh', '-c'], Cmd: [`exec /usr/local/bin/${fn} --log-level=info "$@"`, fn] };
    default:
      return {
        Entrypoint: ['python3', '-u', `/app/${fn}/main.py`],
        Cmd: ['--config', '/etc/krm/config.yaml'],
      };
  }
}

/** Unique, deterministic `registry/path/fn:v0.X.Y` for every i. */
function imageOf(i: number): { image: string; fn: string } {
  const fn = FUNCTIONS[i % FUNCTIONS.length]!;
  const prefix = PREFIXES[Math.floor(i / FUNCTIONS.length) % PREFIXES.length]!;
  const version = Math.floor(i / (FUNCTIONS.length * PREFIXES.length));
  return { image: `${prefix}/${fn}:v0.${Math.floor(version / 10)}.${version % 10}`, fn };
}

const fakeDigest = (seed: string): string => `sha256:${createHash('sha256').update(seed).digest('hex')}`;

function configBlob(i: number, fn: string, arch: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      ...(arch === 'arm64' ? { variant: 'v8' } : {}),
      created: '2025-03-14T09:26:53.589793238Z',
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GOTRACEBACK=all'],
        ...argvOf(i, fn),
        WorkingDir: '/',
        User: '65532:65532',
        Labels: {
          'org.opencontainers.image.source': 'https://github.com/kptdev/krm-functions-catalog',
          'org.opencontainers.image.revision': createHash('sha1').update(`${i}`).digest('hex'),
        },
      },
      rootfs: { type: 'layers', diff_ids: [fakeDigest(`diff-${i}-0`), fakeDigest(`diff-${i}-1`)] },
      history: [
        { created: '2025-03-14T09:26:50Z', created_by: 'COPY /etc/passwd /etc/passwd # buildkit' },
        { created: '2025-03-14T09:26:53Z', created_by: `COPY /go/bin/${fn} /usr/local/bin/ # buildkit` },
      ],
    }),
  );
}

function imageManifest(i: number, config: Buffer, arch: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256(config), size: config.length },
      layers: [0, 1].map((k) => ({
        mediaType: MEDIA_TYPES.ociLayer,
        digest: fakeDigest(`layer-${i}-${arch}-${k}`),
        size: 1_000_000 + i * 7 + k,
      })),
      annotations: { 'org.opencontainers.image.created': '2025-03-14T09:26:53Z' },
    }),
  );
}

interface Fetched {
  manifest: ManifestResult;
  config: ImageConfig;
  configDigest: string;
}

/** What `RegistryClient.getManifest` + `getBlob` + `parseImageConfig` return for one platform image. */
function fetchImage(name: string, i: number, fn: string, arch: string): Fetched {
  const configBytes = configBlob(i, fn, arch);
  const manifestBytes = imageManifest(i, configBytes, arch);
  const digest = sha256(manifestBytes);
  const manifest = parseManifest(
    manifestBytes,
    MEDIA_TYPES.ociManifest,
    `${name}@${digest}`,
    DEFAULT_REGISTRY_OPTIONS,
  );
  const configDigest = sha256(configBytes);
  const config = parseImageConfig(configBytes, `${name}@${configDigest}`, DEFAULT_REGISTRY_OPTIONS);
  return { manifest: { digest, mediaType: manifest.mediaType, manifest }, config, configDigest };
}

/** Fills the cache exactly as ImageResolver does for a tag miss on a single-arch image. */
function addSingleArch(cache: MetadataCache, i: number): void {
  const { image, fn } = imageOf(i);
  const ref = ImageReference.parse(image);
  const { manifest, config, configDigest } = fetchImage(ref.name, i, fn, 'amd64');
  cache.setManifest(ref, manifest);
  cache.setTag(ref, manifest.digest);
  cache.setConfig(ref, configDigest, config);
}

/** As ImageResolver does for a two-platform OCI index resolved for linux/amd64: index, child, config. */
function addMultiArch(cache: MetadataCache, i: number): void {
  const { image, fn } = imageOf(i);
  const ref = ImageReference.parse(image);
  const amd = fetchImage(ref.name, i, fn, 'amd64');
  const arm = fetchImage(ref.name, i, fn, 'arm64');
  const indexBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [
        { m: amd, platform: { architecture: 'amd64', os: 'linux' } },
        { m: arm, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      ].map(({ m, platform }) => ({
        mediaType: MEDIA_TYPES.ociManifest,
        digest: m.manifest.digest,
        size: 480,
        platform,
      })),
    }),
  );
  const digest = sha256(indexBytes);
  const index = parseManifest(
    indexBytes,
    MEDIA_TYPES.ociIndex,
    `${ref.name}@${digest}`,
    DEFAULT_REGISTRY_OPTIONS,
  );
  cache.setManifest(ref, { digest, mediaType: index.mediaType, manifest: index });
  cache.setTag(ref, digest);
  cache.setManifest(ref, amd.manifest);
  cache.setConfig(ref, amd.configDigest, amd.config);
}

/** Whether image i resolves with no registry call: tag, every manifest on the path and the config cached. */
function fullyCached(cache: MetadataCache, i: number): boolean {
  const ref = ImageReference.parse(imageOf(i).image);
  const tag = cache.tag(ref);
  if (!tag) return false;
  let m = cache.manifest(ref, tag.digest);
  if (m?.manifest.kind === 'index') {
    const child = m.manifest.children.find((c) => c.platform?.architecture === 'amd64');
    m = child && cache.manifest(ref, child.digest);
  }
  return m?.manifest.kind === 'image' && cache.config(ref, m.manifest.configDigest) !== undefined;
}

export type Gc = () => void;

interface HeapSample {
  heap: number;
  external: number;
}

function sample(gc: Gc): HeapSample {
  // Several passes: the first may only schedule finalizers or promote survivors.
  for (let i = 0; i < 4; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external };
}

const total = (a: HeapSample, b: HeapSample): number => b.heap - a.heap + (b.external - a.external);

const newCache = (): MetadataCache =>
  new MetadataCache({ ...DEFAULT_CACHE_OPTIONS, maxImages: MAX_IMAGES, tagTtlMs: 300_000 });

function fill(cache: MetadataCache, from: number, to: number, add: typeof addSingleArch): void {
  for (let i = from; i < to; i++) add(cache, i);
}

interface FillResult {
  empty: number;
  filled: number;
  filledHeap: number;
}

function measureFill(gc: Gc): FillResult & { cache: MetadataCache; after: HeapSample } {
  const before = sample(gc);
  const cache = newCache();
  const empty = sample(gc);
  fill(cache, 0, MAX_IMAGES, addSingleArch);
  const after = sample(gc);
  return {
    cache,
    after,
    empty: total(before, empty),
    filled: total(empty, after),
    filledHeap: after.heap - empty.heap,
  };
}

export function memorySection(gc: Gc, gcSource: string): Section {
  const failures: string[] = [];
  // JIT the parsers and the fill path before the first baseline.
  const scratch = new MetadataCache({ ...DEFAULT_CACHE_OPTIONS, maxImages: 100, tagTtlMs: 300_000 });
  fill(scratch, 0, 500, addSingleArch);
  fill(scratch, 0, 200, addMultiArch);
  scratch.clear();

  // Keep only the numbers of the first fills, so that each cache is garbage before the next baseline.
  const fills: FillResult[] = [];
  for (let rep = 0; rep < REPS - 1; rep++) {
    const { empty, filled, filledHeap } = measureFill(gc);
    fills.push({ empty, filled, filledHeap });
  }
  const run = measureFill(gc);
  fills.push({ empty: run.empty, filled: run.filled, filledHeap: run.filledHeap });
  const sizes10k = run.cache.sizes();

  fill(run.cache, MAX_IMAGES, OVERFILL, addSingleArch);
  const over = sample(gc);
  const sizes12k = run.cache.sizes();
  const evicted = OVERFILL - MAX_IMAGES;
  const oldestGone = [0, 1, evicted - 1].every(
    (i) => !fullyCached(run.cache, i) && !run.cache.tag(tagKey(i)),
  );
  const newestKept = [evicted, MAX_IMAGES, OVERFILL - 1].every((i) => fullyCached(run.cache, i));
  const cachedCount = countCached(run.cache, OVERFILL);
  run.cache.clear();

  const base = sample(gc);
  const multi = newCache();
  fill(multi, 0, MAX_IMAGES, addMultiArch);
  const multiAfter = sample(gc);
  const multiSizes = multi.sizes();
  const multiCached = countCached(multi, MAX_IMAGES);

  const perEntry = median(fills.map((f) => f.filled)) / MAX_IMAGES;
  // The manifest tier holds twice maxImages (an index and its platform manifest per multi-arch image).
  const bound =
    sizes12k.tag === MAX_IMAGES && sizes12k.manifest <= 2 * MAX_IMAGES && sizes12k.config === MAX_IMAGES;
  const boundOk = expectThat(
    failures,
    bound,
    `LRU bound: ${OVERFILL} inserts leave ${MAX_IMAGES} tags and configs and ≤ ${2 * MAX_IMAGES} manifests`,
  );
  const evictOk = expectThat(
    failures,
    oldestGone && newestKept && cachedCount === MAX_IMAGES,
    'LRU order: the oldest 2,000 evicted, the newest 10,000 fully cached',
  );
  const fullOk = expectThat(
    failures,
    sizes10k.tag === MAX_IMAGES && sizes10k.manifest === MAX_IMAGES && sizes10k.config === MAX_IMAGES,
    `${MAX_IMAGES} single-arch images fill every tier to ${MAX_IMAGES}`,
  );
  const growth = total(run.after, over);

  const markdown = [
    '## 3. Memory of the metadata cache',
    '',
    `\`new MetadataCache({ maxImages: ${MAX_IMAGES} })\` filled synthetically, without a registry, in the ` +
      "resolver's own order and key format. Each image is built from realistic registry documents (an OCI " +
      'manifest with two layers, a ~1 KB config with Env/Labels/history; KRM-function-like names such as ' +
      '`ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.1.2`; three argv styles) and run through the ' +
      'real `sha256`, `parseManifest` and `parseImageConfig`, so only what production keeps stays referenced. ' +
      `One single-arch image = 1 tag + 1 manifest + 1 config entry. Heap = \`heapUsed + external\` after ` +
      `forced GC (${gcSource}).`,
    '',
    table(
      ['measure', 'value'],
      [
        ['empty cache (3 LRU tiers, preallocated for 10,000)', bytes(median(fills.map((f) => f.empty)))],
        [
          `10,000 single-arch images, heap growth (median of ${REPS}: ${fills.map((f) => bytes(f.filled)).join(', ')})`,
          bytes(median(fills.map((f) => f.filled))),
        ],
        [
          '**bytes per image** (tag + manifest + config entries, keys included)',
          `**${Math.round(perEntry).toLocaleString('en')} B**`,
        ],
        [
          'of which JS heap (heapUsed) per image',
          `${Math.round(median(fills.map((f) => f.filledHeap)) / MAX_IMAGES).toLocaleString('en')} B`,
        ],
        [`sizes after 10,000 inserts (tag / manifest / config)`, `${fmtSizes(sizes10k)} ${fullOk}`],
        [`sizes after ${OVERFILL.toLocaleString('en')} inserts`, `${fmtSizes(sizes12k)} ${boundOk}`],
        [
          'fully cached images after 12,000 inserts (oldest 2,000 gone, newest kept)',
          `${cachedCount.toLocaleString('en')} ${evictOk}`,
        ],
        ['heap change from 10,000 → 12,000 inserts', bytes(growth)],
        [
          `10,000 **multi-arch** images (index + amd64 child + config), heap incl. empty structures`,
          bytes(total(base, multiAfter)),
        ],
        ['multi-arch sizes (tag / manifest / config)', fmtSizes(multiSizes)],
        ['multi-arch images still resolvable without a registry call', multiCached.toLocaleString('en')],
      ],
    ),
    '',
    `- ${MAX_IMAGES.toLocaleString('en')} cached single-arch images cost about ` +
      `${bytes(median(fills.map((f) => f.filled)) + median(fills.map((f) => f.empty)))} including the empty ` +
      'structures; inserting 2,000 more evicts instead of growing.',
    `- \`maxImages\` bounds the tag and config tiers; the manifest tier holds twice as many, because a ` +
      `multi-platform image takes two manifest entries (index and platform manifest): with ` +
      `${MAX_IMAGES.toLocaleString('en')} multi-arch images, ${multiCached.toLocaleString('en')} stay fully cached.`,
    '',
  ].join('\n');
  // Keep `multi` alive until after the last sample.
  multi.clear();
  return { markdown, failures };
}

function tagKey(i: number): ImageReference {
  return ImageReference.parse(imageOf(i).image);
}

function countCached(cache: MetadataCache, upTo: number): number {
  let n = 0;
  for (let i = 0; i < upTo; i++) if (fullyCached(cache, i)) n++;
  return n;
}

function fmtSizes(s: { tag: number; manifest: number; config: number }): string {
  return `${s.tag.toLocaleString('en')} / ${s.manifest.toLocaleString('en')} / ${s.config.toLocaleString('en')}`;
}
