import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it, jest } from '@jest/globals';
import type { Operation } from 'fast-json-patch';

import { createAdmissionEndpoint } from '../../src/admission/endpoint.js';
import { decide } from '../../src/admission/handler.js';
import type {
  AdmissionDeps,
  AdmissionOptions,
  Decision,
  PullSecretGate,
} from '../../src/admission/handler.js';
import { applyPatch } from '../../src/admission/patch.js';
import type { AdmissionRequest, AdmissionResponse, AdmissionReview } from '../../src/admission/types.js';
import { Reason } from '../../src/admission/types.js';
import { FnPinnerError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';
import { MUTATION_LIMITS } from '../support/limits.js';
import type { Logger } from '../../src/logging.js';
import type { MutationOptions } from '../../src/mutation/pod.js';
import type { Container, Pod } from '../../src/mutation/types.js';
import { RegistryPrefixes } from '../../src/reference/prefixes.js';
import { FakeMetadataSource } from '../support/fake-resolver.js';
import type { FakeImage } from '../support/fake-resolver.js';

// ---------------------------------------------------------------------------------------------------------
// Fixtures, images and wiring
// ---------------------------------------------------------------------------------------------------------

interface Review extends AdmissionReview {
  request: AdmissionRequest;
}

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'admission');

/** A fresh copy of a fixture each time: tests may edit it. */
function fixture(name: string): Review {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Review;
}

function podOf(review: Review): Pod {
  return review.request.object as Pod;
}

function container(pod: Pod, name: string): Container {
  const lists = [pod.spec?.initContainers, pod.spec?.containers, pod.spec?.ephemeralContainers];
  const found = lists.flatMap((l) => l ?? []).find((c) => c.name === name);
  if (!found) throw new Error(`no container ${name}`);
  return found;
}

const SET_NAMESPACE = 'ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1';
const WRAPPER = 'docker.io/nephio/porch-wrapper-server:v4.0.0';
const PRIVATE = 'registry.example.com:5000/team/fn:v1';
const APPLY_SETTERS = 'gcr.io/kpt-fn/apply-setters:v0.2.1';
const BUSYBOX = 'busybox:1.36';
const STARLARK = 'ghcr.io/kptdev/krm-functions-catalog/starlark:v0.5.0';
const SET_LABELS = 'ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2.0';
const EMPTY = 'registry.example.com:5000/team/empty:v1';

const IMAGES: Record<string, FakeImage> = {
  [SET_NAMESPACE]: { entrypoint: ['function'], cmd: ['--log-level', 'info'] },
  [WRAPPER]: { entrypoint: ['/wrapper-server'], cmd: [] },
  [PRIVATE]: { entrypoint: ['/usr/local/bin/fn'], cmd: [] },
  [APPLY_SETTERS]: { entrypoint: ['function'] },
  [BUSYBOX]: { cmd: ['sh'] },
  // An index whose platforms run different binaries.
  [STARLARK]: {
    platforms: {
      'linux/amd64': { entrypoint: ['/usr/local/bin/function'] },
      'linux/arm64': { entrypoint: ['/usr/local/bin/function-arm64'], cmd: ['--arm'] },
    },
  },
  // An index whose platforms agree, with BuildKit's provenance attestation entries (unknown/unknown, empty config).
  [SET_LABELS]: {
    platforms: {
      'linux/amd64': { entrypoint: ['function'] },
      'linux/arm64': { entrypoint: ['function'] },
      'unknown/unknown': {},
    },
  },
  [EMPTY]: {},
};

/** Porch's wrapper-server, prepended to every command fn-pinner sets. */
const PREFIX = ['/wrapper-server-tools/wrapper-server', '--port', '9446', '--'];
const AMD64 = { os: 'linux', architecture: 'amd64' };
const PULL_SECRET = {
  name: 'auth-secret',
  defaultRegistries: RegistryPrefixes.parse(['gcr.io/kpt-fn/', 'ghcr.io/kptdev/krm-functions-catalog/']),
};

const silent = createLogger({ level: 'silent' });

interface Setup {
  source?: FakeMetadataSource;
  options?: Partial<Omit<AdmissionOptions, 'mutation'>>;
  mutation?: Partial<MutationOptions>;
  pullSecret?: PullSecretGate;
  log?: Logger;
  observe?: AdmissionDeps['observe'];
}

function setup(s: Setup = {}): { deps: AdmissionDeps; source: FakeMetadataSource } {
  const source = s.source ?? new FakeMetadataSource(IMAGES);
  const deps: AdmissionDeps = {
    source,
    log: s.log ?? silent,
    options: {
      failurePolicy: 'Fail',
      excludedNamespaces: ['kube-system'],
      reviewDeadlineMs: 5_000,
      ...s.options,
      mutation: {
        commandPrefix: PREFIX,
        defaultPlatform: AMD64,
        limits: MUTATION_LIMITS,
        ...s.mutation,
      },
    },
  };
  if (s.pullSecret) deps.pullSecret = s.pullSecret;
  if (s.observe) deps.observe = s.observe;
  return { deps, source };
}

function gate(impl: PullSecretGate['ensure'] = () => Promise.resolve()): PullSecretGate & {
  ensure: jest.Mock<PullSecretGate['ensure']>;
} {
  return { ensure: jest.fn(impl) };
}

function patchOf(response: AdmissionResponse): Operation[] {
  expect(response.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8')) as Operation[];
}

/** The pod the API server would store: the object it sent with our patch applied. */
function patched(review: Review, decision: Decision): Pod {
  return applyPatch(podOf(review), patchOf(decision.response));
}

function pinned(source: FakeMetadataSource, image: string): string {
  return `${image}@${source.digestOf(image)}`;
}

/** The review the API server sends again on reinvocation: same request, the mutated object. */
function reinvocation(review: Review, pod: Pod): Review {
  const again = structuredClone(review);
  again.request.object = pod;
  again.request.uid = `${review.request.uid}-again`;
  return again;
}

function withImage(review: Review, name: string, image: string): Review {
  container(podOf(review), name).image = image;
  return review;
}

function expectUntouched(decision: Decision, uid: string): void {
  expect(decision.response).toEqual({ uid, allowed: true });
}

// ---------------------------------------------------------------------------------------------------------
// The decision on a Porch function pod
// ---------------------------------------------------------------------------------------------------------

describe('decide: a Porch function pod as the API server sends it (pod-create.json)', () => {
  it('pins both images to repo:tag@digest, sets the function command and records the originals, as an exact JSONPatch', async () => {
    const review = fixture('pod-create.json');
    const { deps, source } = setup();

    const decision = await decide(review.request, deps);

    expect(decision.reason).toBe(Reason.Patched);
    expect(decision.response.uid).toBe('3f6d2c1e-8b4a-4f0e-9a57-0c1d2e3f4a5b');
    expect(decision.response.allowed).toBe(true);
    expect(decision.response.warnings).toBeUndefined();
    expect(patchOf(decision.response)).toEqual([
      {
        op: 'replace',
        path: '/spec/containers/0/image',
        value: `ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1@${source.digestOf(SET_NAMESPACE)}`,
      },
      {
        op: 'add',
        path: '/spec/containers/0/command',
        value: ['/wrapper-server-tools/wrapper-server', '--port', '9446', '--', 'function'],
      },
      { op: 'add', path: '/spec/containers/0/args', value: ['--log-level', 'info'] },
      {
        op: 'replace',
        path: '/spec/initContainers/0/image',
        value: `docker.io/nephio/porch-wrapper-server:v4.0.0@${source.digestOf(WRAPPER)}`,
      },
      {
        op: 'add',
        path: '/metadata/annotations/fn-pinner.io~1original-images',
        value: JSON.stringify({ 'copy-wrapper-server': WRAPPER, function: SET_NAMESPACE }),
      },
      // The pod has labels already (Porch's), so the label is one more key.
      { op: 'add', path: '/metadata/labels/fn-pinner.io~1pinned', value: 'true' },
    ]);
  });

  it('the patch applied to the object as sent gives the mutated pod, every other field untouched', async () => {
    const review = fixture('pod-create.json');
    const { deps, source } = setup();

    const pod = patched(review, await decide(review.request, deps));

    const expected = podOf(fixture('pod-create.json'));
    expected.metadata!.annotations!['fn-pinner.io/original-images'] =
      '{"copy-wrapper-server":"docker.io/nephio/porch-wrapper-server:v4.0.0","function":"ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1"}';
    expected.metadata!.labels!['fn-pinner.io/pinned'] = 'true';
    Object.assign(container(expected, 'copy-wrapper-server'), { image: pinned(source, WRAPPER) });
    Object.assign(container(expected, 'function'), {
      image: pinned(source, SET_NAMESPACE),
      command: [...PREFIX, 'function'],
      args: ['--log-level', 'info'],
    });
    expect(pod).toEqual(expected);
    // The digest is the one the registry gave, in digest form.
    expect(container(pod, 'function').image).toMatch(/:v0\.4\.1@sha256:[a-f0-9]{64}$/);
  });

  it('does not modify the request object it was given', async () => {
    const review = fixture('pod-create.json');
    const { deps } = setup();
    await decide(review.request, deps);
    expect(review).toEqual(fixture('pod-create.json'));
  });

  it('sends audit annotations mapping each mutated container to the image as written and as pinned', async () => {
    const review = fixture('pod-create.json');
    const { deps, source } = setup();

    const { response } = await decide(review.request, deps);

    expect(response.auditAnnotations).toEqual({
      'original-images': JSON.stringify({ 'copy-wrapper-server': WRAPPER, function: SET_NAMESPACE }),
      'pinned-images': JSON.stringify({
        'copy-wrapper-server': pinned(source, WRAPPER),
        function: pinned(source, SET_NAMESPACE),
      }),
    });
  });

  it('keeps the command of a container that has one, pinning only its image', async () => {
    const review = fixture('pod-create.json');
    const { deps, source } = setup();

    const pod = patched(review, await decide(review.request, deps));

    const init = container(pod, 'copy-wrapper-server');
    expect(init.command).toEqual(['cp', '-a', '/wrapper-server/.', '/wrapper-server-tools']);
    expect(init.args).toBeUndefined();
    expect(init.image).toBe(pinned(source, WRAPPER));
  });

  it('keeps the command and args of a function container that has both', async () => {
    const review = fixture('pod-create.json');
    Object.assign(container(podOf(review), 'function'), { command: ['/bin/fn'], args: ['--x'] });
    const { deps } = setup();

    const pod = patched(review, await decide(review.request, deps));

    expect(container(pod, 'function')).toMatchObject({ command: ['/bin/fn'], args: ['--x'] });
  });

  it('keeps an image already pinned by digest, resolving it by that digest only because a command is needed', async () => {
    const source = new FakeMetadataSource(IMAGES);
    const byDigest = `ghcr.io/kptdev/krm-functions-catalog/set-namespace@${source.digestOf(SET_NAMESPACE)}`;
    const review = withImage(fixture('pod-create.json'), 'function', byDigest);
    const { deps } = setup({ source });

    const decision = await decide(review.request, deps);

    const ops = patchOf(decision.response);
    expect(ops.filter((op) => op.path === '/spec/containers/0/image')).toEqual([]);
    expect(ops).toContainEqual({
      op: 'add',
      path: '/spec/containers/0/command',
      value: [...PREFIX, 'function'],
    });
    expect(source.calls.filter((c) => c.key === SET_NAMESPACE)).toEqual([
      { image: byDigest, key: SET_NAMESPACE, platform: 'linux/amd64' },
    ]);
    // The original-images annotation still records the function container: its command was set.
    expect(
      JSON.parse(patched(review, decision).metadata!.annotations!['fn-pinner.io/original-images']!),
    ).toEqual({ 'copy-wrapper-server': WRAPPER, function: byDigest });
  });

  it('keeps a tag@digest reference as written', async () => {
    const source = new FakeMetadataSource(IMAGES);
    const tagged = pinned(source, SET_NAMESPACE);
    const review = withImage(fixture('pod-create.json'), 'function', tagged);
    const { deps } = setup({ source });

    const pod = patched(review, await decide(review.request, deps));

    expect(container(pod, 'function').image).toBe(tagged);
  });

  it('does not resolve an image pinned by digest whose container has a command, and sends no patch when nothing else changes', async () => {
    const source = new FakeMetadataSource(IMAGES);
    const review = fixture('pod-create.json');
    withImage(review, 'function', pinned(source, SET_NAMESPACE));
    withImage(review, 'copy-wrapper-server', pinned(source, WRAPPER));
    container(podOf(review), 'function').command = ['/bin/fn'];
    const { deps } = setup({ source });

    const decision = await decide(review.request, deps);

    expect(source.calls).toEqual([]);
    expect(decision.reason).toBe(Reason.NotPatched);
    expect(decision.response).toEqual({ uid: review.request.uid, allowed: true });
  });

  it('pins init and ephemeral containers too, setting their commands from their images', async () => {
    const review = fixture('pod-create.json');
    const pod = podOf(review);
    pod.spec!.initContainers!.push({ name: 'fetch-config', image: APPLY_SETTERS });
    pod.spec!.ephemeralContainers = [{ name: 'debugger', image: BUSYBOX, stdin: true, tty: true }];
    const { deps, source } = setup();

    const result = patched(review, await decide(review.request, deps));

    expect(container(result, 'fetch-config')).toEqual({
      name: 'fetch-config',
      image: pinned(source, APPLY_SETTERS),
      command: [...PREFIX, 'function'],
    });
    expect(container(result, 'debugger')).toEqual({
      name: 'debugger',
      image: `busybox:1.36@${source.digestOf(BUSYBOX)}`,
      command: [...PREFIX, 'sh'],
      stdin: true,
      tty: true,
    });
    expect(JSON.parse(result.metadata!.annotations!['fn-pinner.io/original-images']!)).toEqual({
      'copy-wrapper-server': WRAPPER,
      'fetch-config': APPLY_SETTERS,
      function: SET_NAMESPACE,
      debugger: BUSYBOX,
    });
  });

  it('resolves an image used by three containers once', async () => {
    const review = fixture('pod-create.json');
    const pod = podOf(review);
    pod.spec!.initContainers!.push({ name: 'warm-up', image: SET_NAMESPACE });
    pod.spec!.containers!.push({ name: 'sidecar', image: SET_NAMESPACE, args: ['--sidecar'] });
    const { deps, source } = setup();

    const result = patched(review, await decide(review.request, deps));

    expect(source.callsFor(SET_NAMESPACE)).toBe(1);
    for (const name of ['warm-up', 'function', 'sidecar']) {
      expect(container(result, name).image).toBe(pinned(source, SET_NAMESPACE));
    }
    expect(container(result, 'sidecar')).toMatchObject({
      command: [...PREFIX, 'function'],
      args: ['--sidecar'],
    });
  });

  it('resolves distinct images concurrently', async () => {
    const review = fixture('pod-create.json');
    podOf(review).spec!.initContainers!.push({ name: 'fetch-config', image: APPLY_SETTERS });
    const { deps, source } = setup();

    await decide(review.request, deps);

    expect(source.calls.map((c) => c.key).sort()).toEqual([APPLY_SETTERS, SET_NAMESPACE, WRAPPER].sort());
    expect(source.maxInFlight).toBe(3);
  });

  it('denies an image with no Entrypoint, no Cmd and no args, naming the container and the image', async () => {
    const review = withImage(fixture('pod-create.json'), 'function', EMPTY);
    const { deps } = setup();

    const { response } = await decide(review.request, deps);

    expect(response.allowed).toBe(false);
    expect(response.status?.code).toBe(403);
    expect(response.status?.message).toContain('image has no command');
    expect(response.status?.message).toContain(`container "function" image ${EMPTY}`);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Multi-arch
// ---------------------------------------------------------------------------------------------------------

describe('decide: multi-platform images', () => {
  it('takes the arm64 argv when the pod selects kubernetes.io/arch=arm64, pinning the index digest', async () => {
    const review = withImage(fixture('pod-create.json'), 'function', STARLARK);
    podOf(review).spec!.nodeSelector = { 'kubernetes.io/arch': 'arm64', 'kubernetes.io/os': 'linux' };
    const { deps, source } = setup();

    const decision = await decide(review.request, deps);
    const fn = container(patched(review, decision), 'function');

    expect(fn).toMatchObject({
      image: pinned(source, STARLARK),
      command: [...PREFIX, '/usr/local/bin/function-arm64'],
      args: ['--arm'],
    });
    expect(decision.response.warnings).toBeUndefined();
    expect(decision.response.auditAnnotations?.['platform-disagreement']).toBeUndefined();
    expect(source.calls.filter((c) => c.key === STARLARK).map((c) => c.platform)).toEqual(['linux/arm64']);
  });

  it('takes the argv of the configured default platform when the pod does not choose', async () => {
    const review = withImage(fixture('pod-create.json'), 'function', STARLARK);
    const { deps } = setup({ mutation: { defaultPlatform: { os: 'linux', architecture: 'arm64' } } });

    const fn = container(patched(review, await decide(review.request, deps)), 'function');

    expect(fn.command).toEqual([...PREFIX, '/usr/local/bin/function-arm64']);
  });

  it('warns and adds a platform-disagreement audit annotation when the platforms disagree and the pod does not choose', async () => {
    const review = withImage(fixture('pod-create.json'), 'function', STARLARK);
    const { deps, source } = setup();

    const decision = await decide(review.request, deps);
    const fn = container(patched(review, decision), 'function');

    expect(fn.command).toEqual([...PREFIX, '/usr/local/bin/function']);
    expect(fn.args).toBeUndefined();
    expect(decision.response.warnings).toHaveLength(1);
    const warning = decision.response.warnings![0]!;
    expect(warning).toMatch(/^fn-pinner: container "function": the platforms of/);
    expect(warning).toContain(STARLARK);
    expect(warning).toContain('linux/amd64: ["/usr/local/bin/function"]');
    expect(warning).toContain('linux/arm64: ["/usr/local/bin/function-arm64","--arm"]');
    expect(warning).toContain('kubernetes.io/arch');
    expect(JSON.parse(decision.response.auditAnnotations!['platform-disagreement']!)).toEqual({
      function:
        'linux/amd64: ["/usr/local/bin/function"]; linux/arm64: ["/usr/local/bin/function-arm64","--arm"]',
    });
    expect(fn.image).toBe(pinned(source, STARLARK));
  });

  it('does not warn when the platforms agree, ignoring BuildKit attestation entries (unknown/unknown)', async () => {
    const review = withImage(fixture('pod-create.json'), 'function', SET_LABELS);
    const { deps, source } = setup();

    const decision = await decide(review.request, deps);

    expect(decision.reason).toBe(Reason.Patched);
    expect(decision.response.warnings).toBeUndefined();
    expect(decision.response.auditAnnotations?.['platform-disagreement']).toBeUndefined();
    expect(source.calls.some((c) => c.platform === 'unknown/unknown')).toBe(false);
  });

  it('does not check the other platforms of a container whose command it does not set', async () => {
    const review = withImage(fixture('pod-create.json'), 'function', STARLARK);
    container(podOf(review), 'function').command = ['/bin/fn'];
    const { deps, source } = setup();

    const decision = await decide(review.request, deps);

    expect(decision.response.warnings).toBeUndefined();
    expect(source.callsFor(STARLARK)).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Pull secret
// ---------------------------------------------------------------------------------------------------------

describe('decide: the pull secret (private registries enabled)', () => {
  it('appends auth-secret after the existing entries for a custom-registry image', async () => {
    const review = fixture('pod-create-private-registry.json');
    const secrets = gate();
    const { deps, source } = setup({ mutation: { pullSecret: PULL_SECRET }, pullSecret: secrets });

    const decision = await decide(review.request, deps);
    const ops = patchOf(decision.response);

    expect(ops.filter((op) => op.path.startsWith('/spec/imagePullSecrets'))).toEqual([
      { op: 'add', path: '/spec/imagePullSecrets/1', value: { name: 'auth-secret' } },
    ]);
    const pod = patched(review, decision);
    expect(pod.spec?.imagePullSecrets).toEqual([{ name: 'team-registry' }, { name: 'auth-secret' }]);
    expect(container(pod, 'function').image).toBe(pinned(source, PRIVATE));
    expect(secrets.ensure.mock.calls).toEqual([[{ dryRun: false, namespace: 'porch-fn-system' }]]);
  });

  it('never replaces or reorders existing entries', async () => {
    const review = fixture('pod-create-private-registry.json');
    const existing = [{ name: 'zeta' }, { name: 'auth-secret-old' }, { name: 'alpha' }];
    podOf(review).spec!.imagePullSecrets = structuredClone(existing);
    const { deps } = setup({ mutation: { pullSecret: PULL_SECRET }, pullSecret: gate() });

    const pod = patched(review, await decide(review.request, deps));

    expect(pod.spec?.imagePullSecrets).toEqual([...existing, { name: 'auth-secret' }]);
  });

  it('creates the list when the pod has none', async () => {
    const review = fixture('pod-dry-run.json');
    const { deps } = setup({ mutation: { pullSecret: PULL_SECRET }, pullSecret: gate() });

    const ops = patchOf((await decide(review.request, deps)).response);

    expect(ops).toContainEqual({
      op: 'add',
      path: '/spec/imagePullSecrets',
      value: [{ name: 'auth-secret' }],
    });
  });

  it('uses the configured secret name', async () => {
    const review = fixture('pod-create-private-registry.json');
    const { deps } = setup({ mutation: { pullSecret: { ...PULL_SECRET, name: 'porch-registry-auth' } } });

    const pod = patched(review, await decide(review.request, deps));

    expect(pod.spec?.imagePullSecrets).toEqual([{ name: 'team-registry' }, { name: 'porch-registry-auth' }]);
  });

  it('a custom-registry init container is enough to attach it', async () => {
    // pod-create.json: the function is from the catalog, the wrapper-server init container from docker.io/nephio.
    const review = fixture('pod-create.json');
    const { deps } = setup({ mutation: { pullSecret: PULL_SECRET } });

    const pod = patched(review, await decide(review.request, deps));

    expect(pod.spec?.imagePullSecrets).toEqual([{ name: 'auth-secret' }]);
  });

  it('skips it when an entry by that name is already there, but still ensures the secret exists', async () => {
    const review = fixture('pod-create-private-registry.json');
    podOf(review).spec!.imagePullSecrets = [{ name: 'auth-secret' }, { name: 'team-registry' }];
    const secrets = gate();
    const { deps } = setup({ mutation: { pullSecret: PULL_SECRET }, pullSecret: secrets });

    const decision = await decide(review.request, deps);

    expect(patchOf(decision.response).filter((op) => op.path.includes('imagePullSecrets'))).toEqual([]);
    expect(patched(review, decision).spec?.imagePullSecrets).toEqual([
      { name: 'auth-secret' },
      { name: 'team-registry' },
    ]);
    // The pod will pull with it either way, so it must exist (design.md: ensured before admission).
    expect(secrets.ensure.mock.calls).toEqual([[{ dryRun: false, namespace: 'porch-fn-system' }]]);
  });

  it.each([
    ['the kpt catalog on ghcr.io', 'ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1'],
    ['the old catalog on gcr.io/kpt-fn', APPLY_SETTERS],
  ])('adds none for a pod whose images are all from %s', async (_label, image) => {
    const review = fixture('pod-create.json');
    withImage(review, 'function', image);
    withImage(review, 'copy-wrapper-server', APPLY_SETTERS);
    const secrets = gate();
    const { deps } = setup({ mutation: { pullSecret: PULL_SECRET }, pullSecret: secrets });

    const decision = await decide(review.request, deps);

    expect(decision.reason).toBe(Reason.Patched);
    expect(patchOf(decision.response).filter((op) => op.path.includes('imagePullSecrets'))).toEqual([]);
    expect(secrets.ensure).not.toHaveBeenCalled();
  });

  it('adds none when private registries are disabled (no pull-secret options)', async () => {
    const review = fixture('pod-create-private-registry.json');
    const secrets = gate();
    const { deps } = setup({ pullSecret: secrets });

    const decision = await decide(review.request, deps);

    expect(patchOf(decision.response).filter((op) => op.path.includes('imagePullSecrets'))).toEqual([]);
    expect(secrets.ensure).not.toHaveBeenCalled();
  });

  it('ensures the secret with dryRun true for a dry-run review', async () => {
    const review = fixture('pod-dry-run.json');
    const secrets = gate();
    const { deps } = setup({ mutation: { pullSecret: PULL_SECRET }, pullSecret: secrets });

    const decision = await decide(review.request, deps);

    expect(decision.reason).toBe(Reason.Patched);
    expect(secrets.ensure.mock.calls).toEqual([[{ dryRun: true, namespace: 'porch-fn-system' }]]);
  });

  it('denies the pod under Fail when the secret cannot be ensured', async () => {
    const review = fixture('pod-create-private-registry.json');
    const secrets = gate(() =>
      Promise.reject(
        new FnPinnerError(
          'SECRET_UNAVAILABLE',
          'ensure pull secret porch-fn-system/auth-secret: secrets "auth-secret" is forbidden',
        ),
      ),
    );
    const { deps } = setup({ mutation: { pullSecret: PULL_SECRET }, pullSecret: secrets });

    const decision = await decide(review.request, deps);

    expect(decision.reason).toBe(Reason.Denied);
    expect(decision.response).toEqual({
      uid: review.request.uid,
      allowed: false,
      status: {
        code: 403,
        reason: 'Forbidden',
        message:
          'fn-pinner: pull secret unavailable: ensure pull secret porch-fn-system/auth-secret: secrets "auth-secret" is forbidden',
      },
    });
  });

  it('admits the pod unmutated under Ignore when the secret cannot be ensured', async () => {
    const review = fixture('pod-create-private-registry.json');
    const secrets = gate(() => Promise.reject(new Error('connect ECONNREFUSED 10.96.0.1:443')));
    const { deps } = setup({
      options: { failurePolicy: 'Ignore' },
      mutation: { pullSecret: PULL_SECRET },
      pullSecret: secrets,
    });

    const decision = await decide(review.request, deps);

    expect(decision.reason).toBe(Reason.ErrorIgnored);
    expect(decision.response.allowed).toBe(true);
    expect(decision.response.patch).toBeUndefined();
    expect(decision.response.auditAnnotations?.error).toContain('ECONNREFUSED');
    expect(decision.response.warnings?.[0]).toContain('failurePolicy Ignore');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------------------

describe('decide: reinvocation on an already-mutated pod', () => {
  it.each([
    ['a catalog function pod', 'pod-create.json', undefined],
    ['a private-registry pod with the pull secret', 'pod-create-private-registry.json', undefined],
    ['a pod with a multi-platform image', 'pod-create.json', STARLARK],
  ])('%s: allowed, no patch, no resolution (NotPatched)', async (_label, name, image) => {
    const review = fixture(name);
    if (image) withImage(review, 'function', image);
    const { deps } = setup({ mutation: { pullSecret: PULL_SECRET }, pullSecret: gate() });
    const first = await decide(review.request, deps);
    expect(first.reason).toBe(Reason.Patched);

    const again = reinvocation(review, patched(review, first));
    const { deps: fresh, source } = setup({ mutation: { pullSecret: PULL_SECRET }, pullSecret: gate() });
    const second = await decide(again.request, fresh);

    expect(second.reason).toBe(Reason.NotPatched);
    expect(second.response).toEqual({ uid: again.request.uid, allowed: true });
    expect(source.calls).toEqual([]);
  });

  it('pins a sidecar added later and keeps the originals recorded the first time', async () => {
    const review = fixture('pod-create.json');
    const { deps, source } = setup();
    const first = patched(review, await decide(review.request, deps));
    first.spec!.containers!.push({ name: 'sidecar', image: APPLY_SETTERS });

    const again = reinvocation(review, first);
    const second = await decide(again.request, deps);

    expect(patchOf(second.response)).toEqual([
      { op: 'replace', path: '/spec/containers/1/image', value: pinned(source, APPLY_SETTERS) },
      { op: 'add', path: '/spec/containers/1/command', value: [...PREFIX, 'function'] },
      {
        op: 'replace',
        path: '/metadata/annotations/fn-pinner.io~1original-images',
        value: JSON.stringify({
          'copy-wrapper-server': WRAPPER,
          function: SET_NAMESPACE,
          sidecar: APPLY_SETTERS,
        }),
      },
    ]);
  });

  it.each([
    ['a JSON boolean', 'true', {}],
    ['null', 'null', {}],
    ['an array', '["x"]', {}],
    ['a number', '42', {}],
    ['not JSON', '{', {}],
    ['an object with a non-string entry', '{"function":5,"old":"img:v0"}', { old: 'img:v0' }],
  ])(
    'pins a pod whose original-images annotation holds %s, writing the annotation afresh',
    async (_label, garbage, kept) => {
      const review = fixture('pod-create.json');
      const pod = podOf(review);
      pod.metadata!.annotations = { ...pod.metadata!.annotations, 'fn-pinner.io/original-images': garbage };
      const { deps } = setup();

      const decision = await decide(review.request, deps);

      expect(decision.reason).toBe(Reason.Patched);
      const annotation = patched(review, decision).metadata!.annotations!['fn-pinner.io/original-images']!;
      expect(JSON.parse(annotation)).toEqual({
        ...kept,
        'copy-wrapper-server': WRAPPER,
        function: SET_NAMESPACE,
      });
    },
  );
});

// ---------------------------------------------------------------------------------------------------------
// The pinned label
// ---------------------------------------------------------------------------------------------------------

describe('decide: the fn-pinner.io/pinned label', () => {
  const labelOps = (ops: Operation[]): Operation[] =>
    ops.filter((op) => op.path.startsWith('/metadata/labels'));

  it('adds the whole label map to a pod that has none', async () => {
    const review = fixture('pod-create.json');
    delete podOf(review).metadata!.labels;
    const { deps } = setup();

    const decision = await decide(review.request, deps);

    expect(labelOps(patchOf(decision.response))).toEqual([
      { op: 'add', path: '/metadata/labels', value: { 'fn-pinner.io/pinned': 'true' } },
    ]);
    expect(patched(review, decision).metadata?.labels).toEqual({ 'fn-pinner.io/pinned': 'true' });
  });

  it('does not label a pod whose images were all pinned already, even when it sets their commands', async () => {
    const source = new FakeMetadataSource(IMAGES);
    const review = fixture('pod-create.json');
    withImage(review, 'function', `${SET_NAMESPACE}@${source.digestOf(SET_NAMESPACE)}`);
    withImage(review, 'copy-wrapper-server', `${WRAPPER}@${source.digestOf(WRAPPER)}`);
    const { deps } = setup({ source });

    const decision = await decide(review.request, deps);

    expect(decision.reason).toBe(Reason.Patched);
    const ops = patchOf(decision.response);
    expect(ops.map((op) => op.path)).toContain('/spec/containers/0/command');
    expect(labelOps(ops)).toEqual([]);
  });

  it('does not label a pod admitted unmutated under Ignore', async () => {
    const review = fixture('pod-create.json');
    const source = new FakeMetadataSource(IMAGES).fail(SET_NAMESPACE, 'UNAVAILABLE');
    const { deps } = setup({ source, options: { failurePolicy: 'Ignore' } });

    const decision = await decide(review.request, deps);

    expect(decision.reason).toBe(Reason.ErrorIgnored);
    expect(decision.response.patch).toBeUndefined();
  });

  it('sets "true" over another value of the label', async () => {
    const review = fixture('pod-create.json');
    podOf(review).metadata!.labels!['fn-pinner.io/pinned'] = 'false';
    const { deps } = setup();

    const ops = patchOf((await decide(review.request, deps)).response);

    expect(labelOps(ops)).toEqual([
      { op: 'replace', path: '/metadata/labels/fn-pinner.io~1pinned', value: 'true' },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// What is left alone
// ---------------------------------------------------------------------------------------------------------

function connectReview(): Review {
  const review = fixture('pod-create.json');
  Object.assign(review.request, {
    uid: 'aa0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d',
    operation: 'CONNECT',
    kind: { group: '', version: 'v1', kind: 'PodExecOptions' },
    subResource: 'exec',
    object: {
      kind: 'PodExecOptions',
      apiVersion: 'v1',
      stdin: true,
      stdout: true,
      tty: true,
      container: 'function',
      command: ['sh'],
    },
    options: null,
  });
  return review;
}

// Every row has all four cells: jest takes a test function with more parameters than cells for a done() callback.
const skips: Array<[string, () => Review, Reason, Setup]> = [
  ['DELETE (pod-delete.json)', () => fixture('pod-delete.json'), Reason.SkippedOperation, {}],
  ['UPDATE (pod-update.json)', () => fixture('pod-update.json'), Reason.SkippedOperation, {}],
  ['CONNECT (kubectl exec)', connectReview, Reason.SkippedOperation, {}],
  [
    'an UPDATE of pods/ephemeralcontainers (kubectl debug)',
    () => fixture('pod-ephemeral-subresource.json'),
    Reason.SkippedOperation,
    {},
  ],
  ['a Deployment', () => fixture('deployment-create.json'), Reason.SkippedResource, {}],
  [
    'a CREATE on a pod subresource',
    () => {
      const review = fixture('pod-create.json');
      review.request.subResource = 'status';
      return review;
    },
    Reason.SkippedResource,
    {},
  ],
  [
    'a pod in an excluded namespace',
    () => fixture('pod-create.json'),
    Reason.SkippedNamespace,
    { options: { excludedNamespaces: ['kube-system', 'porch-fn-system'] } },
  ],
  [
    'a pod annotated fn-pinner.io/skip: "true"',
    () => {
      const review = fixture('pod-create.json');
      podOf(review).metadata!.annotations!['fn-pinner.io/skip'] = 'true';
      return review;
    },
    Reason.SkippedOptOut,
    {},
  ],
  [
    'a pod labelled fn-pinner.io/skip: "true"',
    () => {
      const review = fixture('pod-create.json');
      const metadata = podOf(review).metadata!;
      metadata.labels = { ...(metadata.labels as Record<string, string>), 'fn-pinner.io/skip': 'true' };
      return review;
    },
    Reason.SkippedOptOut,
    {},
  ],
];

describe('decide: what is left alone', () => {
  it.each(skips)('allows %s untouched, without resolving anything', async (_label, make, reason, extra) => {
    const review = make();
    const observed: Reason[] = [];
    const { deps, source } = setup({
      ...extra,
      mutation: { pullSecret: PULL_SECRET },
      pullSecret: gate(),
      observe: (r) => observed.push(r),
    });

    const decision = await decide(review.request, deps);

    expect(decision.reason).toBe(reason);
    expectUntouched(decision, review.request.uid);
    expect(source.calls).toEqual([]);
    expect(observed).toEqual([reason]);
  });

  it('does not resolve anything for a DELETE even when every image would fail', async () => {
    const source = new FakeMetadataSource(IMAGES).hang(SET_NAMESPACE).hang(WRAPPER);
    const { deps } = setup({ source });
    const decision = await decide(fixture('pod-delete.json').request, deps);
    expect(decision.reason).toBe(Reason.SkippedOperation);
  });

  it('mutates a pod whose opt-out annotation is not "true"', async () => {
    const review = fixture('pod-create.json');
    podOf(review).metadata!.annotations!['fn-pinner.io/skip'] = 'false';
    const { deps } = setup();
    expect((await decide(review.request, deps)).reason).toBe(Reason.Patched);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Failure policy
// ---------------------------------------------------------------------------------------------------------

const failures: Array<[ErrorCode, string]> = [
  ['MANIFEST_UNKNOWN', 'not found'],
  ['UNAUTHORIZED', 'unauthorized'],
  ['TLS', 'certificate'],
  ['TIMEOUT', 'timeout'],
];

describe('decide: failure policy', () => {
  it.each(failures)(
    'Fail: %s denies with 403 naming the container, the image and "%s"',
    async (code, reason) => {
      const review = fixture('pod-create.json');
      const source = new FakeMetadataSource(IMAGES).fail(SET_NAMESPACE, code);
      const observed: unknown[] = [];
      const { deps } = setup({ source, observe: (r, _s, c) => observed.push([r, c]) });

      const decision = await decide(review.request, deps);

      expect(decision.reason).toBe(Reason.Denied);
      expect(decision.code).toBe(code);
      expect(observed).toEqual([[Reason.Denied, code]]);
      expect(decision.response.uid).toBe(review.request.uid);
      expect(decision.response.allowed).toBe(false);
      expect(decision.response.patch).toBeUndefined();
      expect(decision.response.status).toMatchObject({ code: 403, reason: 'Forbidden' });
      const message = decision.response.status!.message!;
      expect(message).toMatch(/^fn-pinner: /);
      expect(message).toContain('container "function"');
      expect(message).toContain(SET_NAMESPACE);
      expect(message).toContain(reason);
    },
  );

  it.each(failures)(
    'Ignore: %s allows the pod unmutated, with a warning and an error audit annotation',
    async (code, reason) => {
      const review = fixture('pod-create.json');
      const source = new FakeMetadataSource(IMAGES).fail(SET_NAMESPACE, code);
      const observed: unknown[] = [];
      const { deps } = setup({
        source,
        options: { failurePolicy: 'Ignore' },
        observe: (r, _s, c) => observed.push([r, c]),
      });

      const decision = await decide(review.request, deps);

      expect(decision.reason).toBe(Reason.ErrorIgnored);
      expect(decision.code).toBe(code);
      expect(observed).toEqual([[Reason.ErrorIgnored, code]]);
      expect(decision.response.allowed).toBe(true);
      expect(decision.response.patch).toBeUndefined();
      expect(decision.response.patchType).toBeUndefined();
      expect(decision.response.status).toBeUndefined();
      expect(decision.response.warnings).toHaveLength(1);
      expect(decision.response.warnings![0]).toContain(SET_NAMESPACE);
      expect(decision.response.warnings![0]).toContain('admitted unmutated');
      const error = decision.response.auditAnnotations?.error;
      expect(error).toContain('container "function"');
      expect(error).toContain(reason);
    },
  );

  it('names an image the registry does not know as not found', async () => {
    const review = withImage(
      fixture('pod-create.json'),
      'function',
      'ghcr.io/kptdev/krm-functions-catalog/nope:v9',
    );
    const { deps } = setup();

    const { response } = await decide(review.request, deps);

    expect(response.status?.message).toBe(
      'fn-pinner: not found: container "function": resolve ghcr.io/kptdev/krm-functions-catalog/nope:v9: GET manifest v9: 404 MANIFEST_UNKNOWN',
    );
  });

  it('denies a malformed image reference, naming the container', async () => {
    const review = withImage(fixture('pod-create.json'), 'function', 'ghcr.io/KptDev/Fn:v1');
    const { deps, source } = setup();

    const { response } = await decide(review.request, deps);

    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('bad image reference: container "function"');
    expect(source.calls).toEqual([]);
  });

  it('gives up at the internal review deadline, well before the webhook timeout, naming what was pending', async () => {
    const review = fixture('pod-create.json');
    const source = new FakeMetadataSource(IMAGES).hang(SET_NAMESPACE);
    const { deps } = setup({ source, options: { reviewDeadlineMs: 50 } });

    const started = Date.now();
    const decision = await decide(review.request, deps);
    const elapsed = Date.now() - started;

    expect(elapsed).toBeGreaterThanOrEqual(45);
    expect(elapsed).toBeLessThan(10_000);
    expect(decision.reason).toBe(Reason.Denied);
    expect(decision.response.status).toEqual({
      code: 403,
      reason: 'Forbidden',
      message: `fn-pinner: timeout: review: deadline of 50 ms exceeded while resolving container "function" image ${SET_NAMESPACE}`,
    });
  });

  it('admits the pod unmutated at the deadline under Ignore', async () => {
    const review = fixture('pod-create.json');
    const source = new FakeMetadataSource(IMAGES).hang(SET_NAMESPACE).hang(WRAPPER);
    const { deps } = setup({ source, options: { reviewDeadlineMs: 20, failurePolicy: 'Ignore' } });

    const decision = await decide(review.request, deps);

    expect(decision.reason).toBe(Reason.ErrorIgnored);
    expect(decision.response.allowed).toBe(true);
    expect(decision.response.patch).toBeUndefined();
    expect(decision.response.auditAnnotations?.error).toContain('deadline of 20 ms exceeded');
    expect(decision.response.auditAnnotations?.error).toContain(SET_NAMESPACE);
    expect(decision.response.auditAnnotations?.error).toContain(WRAPPER);
  });

  it('names the pull secret when that is what the deadline caught', async () => {
    const review = fixture('pod-create-private-registry.json');
    const { deps } = setup({
      options: { reviewDeadlineMs: 20 },
      mutation: { pullSecret: PULL_SECRET },
      pullSecret: gate(() => new Promise<never>(() => undefined)),
    });

    const { response } = await decide(review.request, deps);

    expect(response.status?.message).toContain('while ensuring the pull secret');
  });
});

// ---------------------------------------------------------------------------------------------------------
// The endpoint (AdmissionReview in, AdmissionReview out)
// ---------------------------------------------------------------------------------------------------------

interface ReviewOut {
  apiVersion: string;
  kind: string;
  response: AdmissionResponse;
}

function malformed(
  edit: (body: Record<string, unknown> & { request: Record<string, unknown> }) => void,
): unknown {
  const body = fixture('pod-create.json') as unknown as Record<string, unknown> & {
    request: Record<string, unknown>;
  };
  edit(body);
  return body;
}

const UID = '3f6d2c1e-8b4a-4f0e-9a57-0c1d2e3f4a5b';

const badBodies: Array<[string, unknown, string, string]> = [
  ['a string', 'not a review', '', 'body'],
  ['null', null, '', 'body'],
  ['an array', [fixture('pod-create.json')], '', 'body'],
  [
    'a review of the wrong kind',
    malformed((b) => {
      b.kind = 'AdmissionRequest';
    }),
    UID,
    'kind',
  ],
  [
    'an unsupported apiVersion',
    malformed((b) => {
      b.apiVersion = 'admission.k8s.io/v2';
    }),
    UID,
    'apiVersion',
  ],
  [
    'a review without a request',
    malformed((b) => {
      delete (b as Record<string, unknown>).request;
    }),
    '',
    'request',
  ],
  [
    'a request without a uid',
    malformed((b) => {
      delete b.request.uid;
    }),
    '',
    'request.uid',
  ],
  [
    'a request with an unknown operation',
    malformed((b) => {
      b.request.operation = 'PATCH';
    }),
    UID,
    'request.operation',
  ],
  [
    'a request without its kind',
    malformed((b) => {
      delete b.request.kind;
    }),
    UID,
    'request.kind',
  ],
  [
    'a CREATE without an object',
    malformed((b) => {
      b.request.object = null;
    }),
    UID,
    'request.object',
  ],
];

describe('createAdmissionEndpoint', () => {
  it.each(badBodies)(
    'answers %s with 400 and an AdmissionReview naming the bad field',
    async (_label, body, uid, field) => {
      const { deps, source } = setup();

      const { status, body: out } = await createAdmissionEndpoint(deps).review(body);

      expect(status).toBe(400);
      const review = out as ReviewOut;
      expect(review.kind).toBe('AdmissionReview');
      expect(review.apiVersion).toMatch(/^admission\.k8s\.io\//);
      expect(review.response.uid).toBe(uid);
      expect(review.response.allowed).toBe(false);
      expect(review.response.status?.code).toBe(400);
      expect(review.response.status?.message).toContain(`decode AdmissionReview: ${field}:`);
      expect(source.calls).toEqual([]);
    },
  );

  it.each([
    'pod-create.json',
    'pod-create-private-registry.json',
    'pod-dry-run.json',
    'pod-delete.json',
    'pod-update.json',
    'pod-ephemeral-subresource.json',
    'deployment-create.json',
  ])('echoes the uid and apiVersion of %s with status 200', async (name) => {
    const review = fixture(name);
    const { deps } = setup({ mutation: { pullSecret: PULL_SECRET }, pullSecret: gate() });

    const { status, body } = await createAdmissionEndpoint(deps).review(review);

    expect(status).toBe(200);
    expect(body).toMatchObject({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: review.request.uid, allowed: true },
    });
    expect((body as AdmissionReview).request).toBeUndefined();
  });

  it('echoes the uid of a denial', async () => {
    const source = new FakeMetadataSource(IMAGES).fail(SET_NAMESPACE, 'UNAUTHORIZED');
    const { deps } = setup({ source });

    const { status, body } = await createAdmissionEndpoint(deps).review(fixture('pod-create.json'));

    expect(status).toBe(200);
    expect((body as ReviewOut).response).toMatchObject({ uid: UID, allowed: false, status: { code: 403 } });
  });

  it('answers an admission.k8s.io/v1beta1 review in v1beta1', async () => {
    const review = fixture('pod-create.json');
    review.apiVersion = 'admission.k8s.io/v1beta1';
    const { deps } = setup();

    const { status, body } = await createAdmissionEndpoint(deps).review(review);

    expect(status).toBe(200);
    expect((body as ReviewOut).apiVersion).toBe('admission.k8s.io/v1beta1');
    expect((body as ReviewOut).response.uid).toBe(UID);
    expect((body as ReviewOut).response.patchType).toBe('JSONPatch');
  });

  it('echoes v1beta1 on a malformed v1beta1 review too', async () => {
    const body = malformed((b) => {
      b.apiVersion = 'admission.k8s.io/v1beta1';
      b.request.operation = 'PATCH';
    });
    const { deps } = setup();

    const out = await createAdmissionEndpoint(deps).review(body);

    expect(out.status).toBe(400);
    expect((out.body as ReviewOut).apiVersion).toBe('admission.k8s.io/v1beta1');
  });
});

// ---------------------------------------------------------------------------------------------------------
// The decision log
// ---------------------------------------------------------------------------------------------------------

function capture(level = 'info'): {
  log: Logger;
  lines: () => Array<Record<string, unknown>>;
  text: () => string;
} {
  const chunks: string[] = [];
  const log = createLogger({ level }, { write: (chunk: string) => void chunks.push(chunk) });
  return {
    log,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('the decision log', () => {
  it('writes one "admission decision" line per review: uid, namespace, pod, original → pinned, cache, duration', async () => {
    const out = capture();
    const { deps, source } = setup({ log: out.log });

    await decide(fixture('pod-create.json').request, deps);
    const second = fixture('pod-create.json');
    second.request.uid = 'second-review';
    await decide(second.request, deps);

    const decisions = out.lines().filter((l) => l.msg === 'admission decision');
    expect(decisions).toHaveLength(2);
    expect(decisions[0]).toMatchObject({
      level: 'info',
      uid: UID,
      namespace: 'porch-fn-system',
      operation: 'CREATE',
      pod: 'set-namespace-v0-4-1-7c9f4',
      reason: 'Patched',
      allowed: true,
      containers: [
        {
          name: 'copy-wrapper-server',
          original: WRAPPER,
          pinned: pinned(source, WRAPPER),
          commandSet: false,
          cache: 'miss',
        },
        {
          name: 'function',
          original: SET_NAMESPACE,
          pinned: pinned(source, SET_NAMESPACE),
          commandSet: true,
          cache: 'miss',
        },
      ],
    });
    expect(typeof decisions[0]!.durationMs).toBe('number');
    expect(decisions[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(decisions[1]).toMatchObject({
      uid: 'second-review',
      containers: [{ cache: 'hit' }, { cache: 'hit' }],
    });
  });

  it('logs a denial at warn, with the error', async () => {
    const out = capture();
    const source = new FakeMetadataSource(IMAGES).fail(SET_NAMESPACE, 'UNAUTHORIZED');
    const { deps } = setup({ log: out.log, source });

    await decide(fixture('pod-create.json').request, deps);

    const [line, ...rest] = out.lines().filter((l) => l.msg === 'admission decision');
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ level: 'warn', uid: UID, reason: 'Denied', allowed: false });
    expect(line!.error).toContain('unauthorized');
    expect(line!.error).toContain(SET_NAMESPACE);
  });

  it('marks dry-run reviews', async () => {
    const out = capture();
    const { deps } = setup({ log: out.log });

    await decide(fixture('pod-dry-run.json').request, deps);

    expect(out.lines().find((l) => l.msg === 'admission decision')).toMatchObject({ dryRun: true });
  });

  it('never writes a Docker config, whether it is in the pod or in a failing secret call', async () => {
    const auth = Buffer.from('robot$team:s3cr3t-t0ken-value').toString('base64');
    const dockerConfig = JSON.stringify({ auths: { 'registry.example.com:5000': { auth } } });
    const encoded = Buffer.from(dockerConfig).toString('base64');
    const review = fixture('pod-create-private-registry.json');
    const pod = podOf(review);
    pod.metadata!.annotations!['kubectl.kubernetes.io/last-applied-configuration'] = JSON.stringify({
      data: { '.dockerconfigjson': encoded },
    });
    container(pod, 'function').env = [{ name: 'DOCKER_CONFIG_JSON', value: dockerConfig }];
    const out = capture('debug');
    const secrets = gate(() =>
      Promise.reject(
        new FnPinnerError('SECRET_UNAVAILABLE', 'ensure pull secret porch-fn-system/auth-secret: conflict', {
          cause: { data: { '.dockerconfigjson': encoded }, auth },
        }),
      ),
    );
    const { deps } = setup({
      log: out.log,
      options: { failurePolicy: 'Ignore' },
      mutation: { pullSecret: PULL_SECRET },
      pullSecret: secrets,
    });

    await decide(review.request, deps);
    await decide(fixture('pod-delete.json').request, deps);

    // One decision line per review, skipped ones included.
    expect(out.lines().filter((l) => l.msg === 'admission decision')).toHaveLength(2);
    const text = out.text();
    expect(text).not.toContain(auth);
    expect(text).not.toContain(encoded);
    expect(text).not.toContain('s3cr3t');
  });
});
