import { describe, expect, it } from '@jest/globals';

import { auditPods, podStatus } from '../../src/audit/audit.js';
import type { AuditOptions } from '../../src/audit/audit.js';
import { auditJson, auditTable } from '../../src/audit/format.js';
import type { ContainerAudit, PodAudit } from '../../src/audit/types.js';
import { forEachLimit } from '../../src/util/limit.js';
import { FakeMetadataSource, fakeDigest } from '../support/fake-resolver.js';

const APP = 'registry.example.com/fn/app:v1';
const TOOL = 'registry.example.com/fn/tool:v2';
const GONE = 'registry.example.com/fn/gone:v1';
const OLD = fakeDigest('an older push of app:v1');

function images(): FakeMetadataSource {
  return new FakeMetadataSource({
    [APP]: { entrypoint: ['/app'] },
    [TOOL]: { entrypoint: ['/tool'] },
    [GONE]: { entrypoint: ['/gone'] },
  }).fail(GONE, 'NETWORK', 'GET https://registry.example.com/v2/: connect ECONNREFUSED\nsecond line');
}

function pod(
  name: string,
  containers: unknown,
  extra: { namespace?: string; annotations?: Record<string, string>; init?: unknown[] } = {},
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      ...(extra.namespace === undefined ? {} : { namespace: extra.namespace }),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec: { containers, ...(extra.init ? { initContainers: extra.init } : {}) },
  };
}

async function audit(pods: unknown[], source = images(), opts: Partial<AuditOptions> = {}) {
  const report = await auditPods(pods, { source, drift: true, concurrency: 4, ...opts });
  return { report, source };
}

function only(report: { pods: PodAudit[] }): ContainerAudit {
  expect(report.pods).toHaveLength(1);
  expect(report.pods[0]!.containers).toHaveLength(1);
  return report.pods[0]!.containers[0]!;
}

describe('auditPods: one entry per container', () => {
  it('an image with a tag and no digest is unpinned; current shows what the tag points to', async () => {
    const { report, source } = await audit([pod('a', [{ name: 'fn', image: APP }], { namespace: 'ns' })]);
    expect(report.pods[0]).toMatchObject({ namespace: 'ns', name: 'a' });
    expect(only(report)).toEqual({
      name: 'fn',
      type: 'container',
      image: APP,
      digest: null,
      original: APP,
      current: source.digestOf(APP),
      status: 'unpinned',
      error: null,
    });
  });

  it('tag@digest where the tag still points to the digest is pinned', async () => {
    const source = images();
    const image = `${APP}@${source.digestOf(APP)}`;
    const { report } = await audit([pod('a', [{ name: 'fn', image }])], source);
    expect(only(report)).toEqual({
      name: 'fn',
      type: 'container',
      image,
      digest: source.digestOf(APP),
      original: APP,
      current: source.digestOf(APP),
      status: 'pinned',
      error: null,
    });
  });

  it('tag@digest where the tag moved since is drift, with current the new digest', async () => {
    const { report, source } = await audit([pod('a', [{ name: 'fn', image: `${APP}@${OLD}` }])]);
    expect(only(report)).toMatchObject({ digest: OLD, current: source.digestOf(APP), status: 'drift' });
  });

  it('a digest-only image compares the tag the fn-pinner.io/original-images annotation gives', async () => {
    const annotations = { 'fn-pinner.io/original-images': JSON.stringify({ fn: APP }) };
    const image = `registry.example.com/fn/app@${OLD}`;
    const { report, source } = await audit([pod('a', [{ name: 'fn', image }], { annotations })]);
    expect(only(report)).toMatchObject({
      image,
      digest: OLD,
      original: APP,
      current: source.digestOf(APP),
      status: 'drift',
    });
  });

  it('the annotation wins over the tag in the image', async () => {
    const source = images();
    const annotations = { 'fn-pinner.io/original-images': JSON.stringify({ fn: TOOL }) };
    const image = `${APP}@${source.digestOf(TOOL)}`;
    const { report } = await audit([pod('a', [{ name: 'fn', image }], { annotations })], source);
    expect(only(report)).toMatchObject({ original: TOOL, status: 'pinned' });
  });

  it('a digest-only image with no annotation has no tag to compare: pinned, nothing resolved', async () => {
    const image = `registry.example.com/fn/app@${OLD}`;
    const { report, source } = await audit([pod('a', [{ name: 'fn', image }])]);
    expect(only(report)).toMatchObject({ original: null, current: null, status: 'pinned', error: null });
    expect(source.calls).toEqual([]);
  });

  it('an image without tag or digest is unpinned with no original', async () => {
    const { report, source } = await audit([
      pod('a', [{ name: 'fn', image: 'registry.example.com/fn/app' }]),
    ]);
    expect(only(report)).toMatchObject({ original: null, current: null, status: 'unpinned' });
    expect(source.calls).toEqual([]);
  });

  it('a tag that cannot be resolved now is unresolvable, with the reason on one line', async () => {
    const { report } = await audit([pod('a', [{ name: 'fn', image: `${GONE}@${OLD}` }])]);
    expect(only(report)).toMatchObject({
      current: null,
      status: 'unresolvable',
      error:
        'network error: resolve registry.example.com/fn/gone:v1: GET https://registry.example.com/v2/: connect ECONNREFUSED second line',
    });
  });

  it('an unpinned container whose tag cannot be resolved stays unpinned, without error', async () => {
    const { report } = await audit([pod('a', [{ name: 'fn', image: GONE }])]);
    expect(only(report)).toMatchObject({ status: 'unpinned', current: null, error: null });
  });

  it('lists init and ephemeral containers with their type, in the order Kubernetes runs them', async () => {
    const source = images();
    const p = pod('a', [{ name: 'main', image: APP }], { init: [{ name: 'init', image: TOOL }] });
    (p.spec as Record<string, unknown>).ephemeralContainers = [{ name: 'debug', image: TOOL }];
    const { report } = await audit([p], source);
    expect(report.pods[0]!.containers.map((c) => [c.name, c.type])).toEqual([
      ['init', 'initContainer'],
      ['main', 'container'],
      ['debug', 'ephemeralContainer'],
    ]);
  });
});

describe('auditPods: --no-drift', () => {
  it('resolves nothing: every container with a digest is pinned, current is null', async () => {
    const { report, source } = await audit(
      [
        pod('a', [
          { name: 'fn', image: `${APP}@${OLD}` },
          { name: 'b', image: TOOL },
        ]),
      ],
      images(),
      { drift: false },
    );
    expect(source.calls).toEqual([]);
    expect(report.pods[0]!.containers.map((c) => [c.status, c.current])).toEqual([
      ['pinned', null],
      ['unpinned', null],
    ]);
  });
});

describe('auditPods: bad input is reported per container and never stops the scan', () => {
  it('a malformed annotation makes each container with a digest unresolvable, naming the annotation', async () => {
    const annotations = { 'fn-pinner.io/original-images': '{not json' };
    const pods = [
      pod(
        'bad',
        [
          { name: 'fn', image: `${APP}@${OLD}` },
          { name: 'plain', image: TOOL },
        ],
        { annotations },
      ),
      pod('next', [{ name: 'fn', image: APP }]),
    ];
    const { report } = await audit(pods);
    const [fn, plain] = report.pods[0]!.containers;
    expect(fn).toMatchObject({ status: 'unresolvable', original: APP, current: null });
    expect(fn!.error).toMatch(/^annotation fn-pinner\.io\/original-images is not valid JSON: /);
    expect(plain).toMatchObject({ status: 'unpinned', error: null });
    expect(report.pods[1]!.containers[0]!.status).toBe('unpinned');
  });

  it('resolves nothing for a container already judged unresolvable by its input', async () => {
    const annotations = { 'fn-pinner.io/original-images': '{not json' };
    const { source } = await audit([pod('bad', [{ name: 'fn', image: `${APP}@${OLD}` }], { annotations })]);
    expect(source.calls).toEqual([]);
  });

  it.each([
    [
      'an array',
      '["a"]',
      'annotation fn-pinner.io/original-images is not a JSON object of container name to image',
    ],
    [
      'an entry that is not a string',
      '{"fn": 42}',
      'annotation fn-pinner.io/original-images, entry for container "fn" is not a string',
    ],
    [
      'an entry that does not parse',
      '{"fn": "Registry.Example.com/Fn:v1 "}',
      'annotation fn-pinner.io/original-images, entry for container "fn": parse image reference "Registry.Example.com/Fn:v1 ": leading or trailing whitespace',
    ],
  ])('an annotation holding %s', async (_what, value, error) => {
    const annotations = { 'fn-pinner.io/original-images': value };
    const { report } = await audit([
      pod('a', [{ name: 'fn', image: `registry.example.com/fn/app@${OLD}` }], { annotations }),
    ]);
    expect(only(report)).toMatchObject({ status: 'unresolvable', error });
  });

  it('an image reference that does not parse is unresolvable with the parser message', async () => {
    const { report } = await audit([pod('a', [{ name: 'fn', image: 'Registry.example.com/Fn/App:v1' }])]);
    expect(only(report)).toEqual({
      name: 'fn',
      type: 'container',
      image: 'Registry.example.com/Fn/App:v1',
      digest: null,
      original: null,
      current: null,
      status: 'unresolvable',
      error:
        'parse image reference "Registry.example.com/Fn/App:v1": invalid repository path component "Fn" (repository names must be lower case)',
    });
  });

  it('a container without an image is unresolvable', async () => {
    const { report } = await audit([pod('a', [{ name: 'fn' }])]);
    expect(only(report)).toMatchObject({
      image: null,
      status: 'unresolvable',
      error: 'container has no image',
    });
  });

  it.each([
    ['an empty list', []],
    ['no list', undefined],
  ])('a pod with no containers (%s) gets one entry saying so', async (_what, containers) => {
    const { report } = await audit([pod('empty', containers), pod('next', [{ name: 'fn', image: APP }])]);
    expect(report.pods[0]!.containers).toEqual([
      {
        name: null,
        type: 'container',
        image: null,
        digest: null,
        original: null,
        current: null,
        status: 'unresolvable',
        error: 'pod has no containers (spec.containers is empty or missing)',
      },
    ]);
    expect(report.pods[1]!.containers[0]!.status).toBe('unpinned');
  });

  it('survives documents that are not objects at all, and containers that are not objects', async () => {
    const { report } = await audit([null, 'text', pod('a', ['x', { name: 'fn', image: APP }])]);
    expect(report.pods.map((p) => [p.namespace, p.name])).toEqual([
      [null, null],
      [null, null],
      [null, 'a'],
    ]);
    expect(report.pods[2]!.containers.map((c) => [c.status, c.error])).toEqual([
      ['unresolvable', 'not a container object'],
      ['unpinned', null],
    ]);
  });
});

describe('auditPods: cost', () => {
  it('resolves each distinct tag once per run, however many pods share it and however it is spelled', async () => {
    const pods = Array.from({ length: 60 }, (_, i) =>
      pod(`p${i}`, [
        { name: 'a', image: `${APP}@${OLD}` },
        { name: 'b', image: i % 2 ? TOOL : `${TOOL}@${OLD}` },
        { name: 'c', image: 'docker.io/library/busybox:1.36' },
        { name: 'd', image: 'busybox:1.36@' + OLD },
      ]),
    );
    const { report, source } = await audit(pods, images(), { concurrency: 2 });
    expect(source.calls.map((c) => c.image).sort()).toEqual(['docker.io/library/busybox:1.36', APP, TOOL]);
    expect(source.maxInFlight).toBeLessThanOrEqual(2);
    expect(report.summary).toEqual({
      pods: 60,
      containers: 240,
      pinned: 0,
      unpinned: 90,
      drift: 90,
      unresolvable: 60,
    });
  });

  it('reports progress before the first resolution and after each', async () => {
    const seen: Array<[number, number]> = [];
    await audit(
      [
        pod('a', [
          { name: 'a', image: APP },
          { name: 'b', image: TOOL },
        ]),
      ],
      images(),
      {
        onProgress: (done, total) => seen.push([done, total]),
      },
    );
    expect(seen).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
    ]);
  });
});

describe('podStatus (the drift gauge)', () => {
  const withStatuses = (...statuses: ContainerAudit['status'][]): PodAudit => ({
    namespace: 'ns',
    name: 'p',
    containers: statuses.map((status) => ({
      name: 'c',
      type: 'container',
      image: 'x',
      digest: null,
      original: null,
      current: null,
      status,
      error: null,
    })),
  });
  it.each([
    [['pinned', 'pinned'], 'pinned'],
    [['pinned', 'drift'], 'drift'],
    [['unresolvable', 'drift'], 'drift'],
    [['drift', 'unpinned'], 'unpinned'],
    [['pinned', 'unresolvable'], 'unresolvable'],
  ] as const)('%j → %s', (statuses, want) => {
    expect(podStatus(withStatuses(...statuses))).toBe(want);
  });
});

describe('auditTable and auditJson', () => {
  it('prints a table, a summary line and the reasons, with current only where it differs', async () => {
    const source = images();
    const { report } = await audit(
      [
        pod('fn-a', [{ name: 'function', image: `${APP}@${source.digestOf(APP)}` }], {
          namespace: 'porch-fn-system',
        }),
        pod('fn-b', [{ name: 'function', image: `${APP}@${OLD}` }], { namespace: 'porch-fn-system' }),
        pod('fn-c', [{ name: 'function', image: `${GONE}@${OLD}` }]),
      ],
      source,
    );
    const width = `${GONE}@${OLD}`.length;
    expect(auditTable(report)).toBe(
      [
        `NAMESPACE        POD   CONTAINER  STATUS        ${'IMAGE'.padEnd(width)}  CURRENT`,
        `porch-fn-system  fn-a  function   pinned        ${APP}@${source.digestOf(APP)}`,
        `porch-fn-system  fn-b  function   drift         ${`${APP}@${OLD}`.padEnd(width)}  ${source.digestOf(APP)}`,
        `<none>           fn-c  function   unresolvable  ${GONE}@${OLD}`,
        '3 pods, 3 containers: 1 pinned, 0 unpinned, 1 drift, 1 unresolvable',
        '',
        'unresolvable:',
        '  fn-c function: network error: resolve registry.example.com/fn/gone:v1: GET https://registry.example.com/v2/: connect ECONNREFUSED second line',
        '',
      ].join('\n'),
    );
  });

  it('says so when there are no pods', async () => {
    const { report } = await audit([]);
    expect(auditTable(report)).toBe(
      'No pods found.\n0 pods, 0 containers: 0 pinned, 0 unpinned, 0 drift, 0 unresolvable\n',
    );
  });

  it('writes exactly one JSON object: pods and summary, every field of the contract in order', async () => {
    const { report, source } = await audit([pod('a', [{ name: 'fn', image: APP }], { namespace: 'ns' })]);
    const text = auditJson(report);
    expect(text.endsWith('}\n')).toBe(true);
    const parsed = JSON.parse(text);
    expect(Object.keys(parsed)).toEqual(['pods', 'summary']);
    expect(Object.keys(parsed.pods[0])).toEqual(['namespace', 'name', 'containers']);
    expect(Object.keys(parsed.pods[0].containers[0])).toEqual([
      'name',
      'type',
      'image',
      'digest',
      'original',
      'current',
      'status',
      'error',
    ]);
    expect(parsed.pods[0].containers[0].current).toBe(source.digestOf(APP));
    expect(Object.keys(parsed.summary)).toEqual([
      'pods',
      'containers',
      'pinned',
      'unpinned',
      'drift',
      'unresolvable',
    ]);
  });
});

describe('forEachLimit', () => {
  it('processes every item with never more than the limit in flight', async () => {
    let inFlight = 0;
    let max = 0;
    const done: number[] = [];
    await forEachLimit(
      Array.from({ length: 25 }, (_, i) => i),
      3,
      async (i) => {
        inFlight++;
        max = Math.max(max, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        done.push(i);
        inFlight--;
      },
    );
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(max).toBe(3);
  });

  it('returns at once for no items', async () => {
    await expect(
      forEachLimit([], 3, () => Promise.reject(new Error('never called'))),
    ).resolves.toBeUndefined();
  });
});
