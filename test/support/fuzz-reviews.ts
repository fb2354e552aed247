import fc from 'fast-check';

import { ORIGINAL_IMAGES_ANNOTATION, OPT_OUT_ANNOTATION } from '../../src/mutation/types.js';
import { anyText, mutated } from './fuzz.js';
import { FakeMetadataSource } from './fake-resolver.js';
import type { FakeImage } from './fake-resolver.js';

/**
 * Generators of AdmissionReview bodies for property tests: well-typed pods the API server could send, the
 * same with one field anywhere replaced by arbitrary JSON, and arbitrary JSON. Images come from a small
 * table served by FakeMetadataSource (some fail, some have no command), plus unknown and malformed ones.
 */
export const FUZZ_IMAGES: Record<string, FakeImage> = {
  'registry.example.com/fn/app:v1': { entrypoint: ['/app'], cmd: ['--serve'] },
  'registry.example.com/fn/only-cmd:v1': { cmd: ['sh', '-c', 'run'] },
  'registry.example.com/fn/none:v1': {},
  'gcr.io/kpt-fn/set-namespace:v0.4': { entrypoint: ['function'] },
  'registry.example.com/fn/multi:v1': {
    platforms: {
      'linux/amd64': { entrypoint: ['/fn'] },
      'linux/arm64': { entrypoint: ['/fn-arm64'], cmd: ['--arm'] },
    },
  },
  'registry.example.com/fn/down:v1': { entrypoint: ['/down'] },
};

/** A fresh source per review, so `calls` and the cache outcomes do not leak between cases. */
export function fuzzSource(): FakeMetadataSource {
  return new FakeMetadataSource(FUZZ_IMAGES).fail('registry.example.com/fn/down:v1', 'UNAVAILABLE');
}

const known = Object.keys(FUZZ_IMAGES);
const pinnedKnown = known.map((k) => `${k}@${new FakeMetadataSource(FUZZ_IMAGES).digestOf(k)}`);

export const image: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...known) },
  { weight: 2, arbitrary: fc.constantFrom(...pinnedKnown) },
  { weight: 1, arbitrary: fc.constantFrom('registry.example.com/fn/unknown:v9', 'busybox', 'nginx:1.25') },
  { weight: 1, arbitrary: mutated(fc.constantFrom(...known), ':/@.-_[] ') },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'UPPER/Case:v1', `x@sha256:${'z'.repeat(64)}`) },
);

const argv = fc.array(anyText(12), { maxLength: 3 });
const containerName = fc.oneof(fc.constantFrom('fn', 'sidecar', 'init', 'debug'), anyText(10));

export const container = fc.record(
  {
    name: containerName,
    image,
    command: argv,
    args: argv,
    imagePullPolicy: fc.constantFrom('Always', 'IfNotPresent'),
  },
  { requiredKeys: ['name'] },
);

const annotationValue = fc.oneof(
  anyText(20),
  fc.constantFrom('true', 'skip', 'false', '{}', 'null', '[]', '42', '"text"', '{"fn":"x"}', '{"fn":5}', '{'),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? 'null'),
);

export const pod = fc.record(
  {
    apiVersion: fc.constant('v1'),
    kind: fc.constant('Pod'),
    metadata: fc.record(
      {
        name: fc.oneof(fc.constantFrom('fn-1', 'p'), anyText(10)),
        generateName: fc.constant('fn-'),
        namespace: fc.constantFrom('porch-fn-system', 'default', 'kube-system'),
        annotations: fc.dictionary(
          fc.oneof(fc.constantFrom(ORIGINAL_IMAGES_ANNOTATION, OPT_OUT_ANNOTATION), anyText(10)),
          annotationValue,
          { maxKeys: 3 },
        ),
        labels: fc.dictionary(fc.oneof(fc.constant(OPT_OUT_ANNOTATION), anyText(8)), anyText(8), {
          maxKeys: 2,
        }),
      },
      { requiredKeys: [] },
    ),
    spec: fc.record(
      {
        containers: fc.array(container, { maxLength: 4 }),
        initContainers: fc.array(container, { maxLength: 2 }),
        ephemeralContainers: fc.array(container, { maxLength: 1 }),
        imagePullSecrets: fc.array(
          fc.record({ name: fc.oneof(fc.constant('auth-secret'), anyText(8)) }, { requiredKeys: [] }),
          { maxLength: 2 },
        ),
        nodeSelector: fc.dictionary(
          fc.constantFrom('kubernetes.io/arch', 'kubernetes.io/os', 'disk'),
          fc.constantFrom('amd64', 'arm64', 'linux', 'windows', 's390x', ''),
          { maxKeys: 2 },
        ),
      },
      { requiredKeys: ['containers'] },
    ),
  },
  { requiredKeys: ['apiVersion', 'kind', 'spec'] },
);

const gvk = { group: '', version: 'v1', kind: 'Pod' };
const gvr = { group: '', version: 'v1', resource: 'pods' };

export const wellTypedReview = fc.record({
  apiVersion: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'),
  kind: fc.constant('AdmissionReview'),
  request: fc.record(
    {
      uid: fc.uuid(),
      kind: fc.oneof({ weight: 9, arbitrary: fc.constant(gvk) }, fc.constant({ ...gvk, kind: 'Deployment' })),
      resource: fc.constant(gvr),
      subResource: fc.constantFrom('ephemeralcontainers', 'status'),
      namespace: fc.constantFrom('porch-fn-system', 'default', 'kube-system'),
      operation: fc.oneof(
        { weight: 9, arbitrary: fc.constant('CREATE') },
        fc.constantFrom('UPDATE', 'DELETE', 'CONNECT'),
      ),
      object: pod,
      dryRun: fc.boolean(),
      userInfo: fc.constant({ username: 'system:serviceaccount:porch-system:porch-server' }),
    },
    { requiredKeys: ['uid', 'kind', 'resource', 'operation', 'object'] },
  ),
});

/** Every path to a value in a JSON document, the root included. */
function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const here = [prefix];
  if (Array.isArray(value)) return here.concat(...value.map((v, i) => paths(v, [...prefix, i])));
  if (value !== null && typeof value === 'object') {
    return here.concat(...Object.entries(value).map(([k, v]) => paths(v, [...prefix, k])));
  }
  return here;
}

function replaced(doc: unknown, path: Array<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const copy = (Array.isArray(doc) ? [...doc] : { ...(doc as object) }) as Record<string | number, unknown>;
  copy[head!] = replaced(copy[head!], rest, value);
  return copy;
}

/** A well-typed review with one value somewhere (a field, an array entry, a whole subtree) replaced. */
export const corruptedReview: fc.Arbitrary<unknown> = fc
  .tuple(
    wellTypedReview,
    fc.nat(),
    fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(null, [], {}, '', 0)),
  )
  .map(([review, at, value]) => {
    const all = paths(review);
    return replaced(review, all[at % all.length]!, value);
  });

export const anyBody: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({
    apiVersion: fc.constant('admission.k8s.io/v1'),
    kind: fc.constant('AdmissionReview'),
    request: fc.jsonValue({ maxDepth: 3 }),
  }),
);
