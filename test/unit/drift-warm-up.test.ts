import { Writable } from 'node:stream';

import { afterEach, describe, expect, it } from '@jest/globals';

import { startDriftCheck } from '../../src/app/drift.js';
import type { DriftCheck } from '../../src/app/drift.js';
import { startWarmUp } from '../../src/app/warm-up.js';
import { createProgress } from '../../src/cli/progress.js';
import { KubeApiError } from '../../src/kube/client.js';
import type { PodApi, PodJson } from '../../src/kube/client.js';
import { createMetrics } from '../../src/metrics.js';
import type { Metrics } from '../../src/metrics.js';
import { captureLogger } from '../support/capture-logger.js';
import { FakeMetadataSource, fakeDigest } from '../support/fake-resolver.js';

const APP = 'registry.example.com/fn/app:v1';
const TOOL = 'registry.example.com/fn/tool:v1';

/** An in-memory PodApi (the real one is proven against kube-apiserver in the e2e suite). */
class FakePods implements PodApi {
  byNamespace: Record<string, PodJson[]> = {};
  failure: Error | undefined;
  calls: Array<{ namespace?: string; labelSelector?: string }> = [];
  async list(opts: { namespace?: string; labelSelector?: string }): Promise<PodJson[]> {
    this.calls.push(opts);
    if (this.failure) throw this.failure;
    return this.byNamespace[opts.namespace ?? ''] ?? [];
  }
}

const pod = (name: string, ...images: string[]): PodJson => ({
  kind: 'Pod',
  metadata: { name },
  spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) },
});

async function gauge(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await metrics.pods.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.status), v.value]));
}

describe('the drift check of serve --drift-interval', () => {
  let check: DriftCheck | undefined;
  afterEach(() => check?.stop());

  it('sets fn_pinner_pods{status} per pod from the audit of every --pod-namespace, and the last-check time', async () => {
    const source = new FakeMetadataSource({ [APP]: { entrypoint: ['/a'] }, [TOOL]: { entrypoint: ['/t'] } });
    const pods = new FakePods();
    pods.byNamespace = {
      fns: [
        pod('pinned', `${APP}@${source.digestOf(APP)}`),
        pod('drifted', `${APP}@${fakeDigest('old')}`, `${TOOL}@${source.digestOf(TOOL)}`),
        pod('unpinned', TOOL, `${APP}@${fakeDigest('old')}`),
      ],
      other: [pod('gone', `registry.example.com/fn/gone:v1@${fakeDigest('x')}`)],
    };
    const metrics = createMetrics();
    const { log, lines } = captureLogger('info');
    const before = Date.now() / 1000;
    check = startDriftCheck({
      pods,
      source,
      namespaces: ['fns', 'other'],
      intervalMs: 3_600_000,
      metrics,
      log,
    });
    await check.checkNow();

    expect(await gauge(metrics)).toEqual({ pinned: 1, drift: 1, unpinned: 1, unresolvable: 1 });
    const last = (await metrics.driftLastCheck.get()).values[0]!.value;
    expect(last).toBeGreaterThanOrEqual(before);
    expect(pods.calls.slice(-2)).toEqual([
      { namespace: 'fns', labelSelector: undefined },
      { namespace: 'other', labelSelector: undefined },
    ]);
    // Each distinct tag resolved once per check, through the source it was given.
    expect(source.calls.filter((c) => c.image === APP).length).toBeLessThanOrEqual(2);
    expect(lines.find((l) => l.msg === 'drift check')).toMatchObject({
      pods: { pinned: 1, drift: 1, unpinned: 1, unresolvable: 1 },
    });
  });

  it('keeps the gauges when the pods cannot be listed, counting and logging the failure', async () => {
    const source = new FakeMetadataSource({ [APP]: { entrypoint: ['/a'] } });
    const pods = new FakePods();
    pods.byNamespace = { fns: [pod('pinned', `${APP}@${source.digestOf(APP)}`)] };
    const metrics = createMetrics();
    const { log, lines } = captureLogger('info');
    check = startDriftCheck({ pods, source, namespaces: ['fns'], intervalMs: 3_600_000, metrics, log });
    await check.checkNow();
    const last = (await metrics.driftLastCheck.get()).values[0]!.value;

    pods.failure = new KubeApiError(
      'list pods in namespace fns: 403 Forbidden: no',
      'Forbidden',
      403,
      undefined,
    );
    await check.checkNow();

    expect(await gauge(metrics)).toEqual({ pinned: 1, drift: 0, unpinned: 0, unresolvable: 0 });
    expect((await metrics.driftLastCheck.get()).values[0]!.value).toBe(last);
    const results = (await metrics.driftChecks.get()).values.map((v) => [v.labels.result, v.value]);
    expect(results).toEqual(expect.arrayContaining([['failed', 1]]));
    expect(lines.find((l) => l.msg === 'drift check failed')?.err?.message).toContain('403 Forbidden');
  });
});

describe('the cache warm-up of serve --warm-images', () => {
  it('is not ready while images are left, then ready, with each image resolved once', async () => {
    const source = new FakeMetadataSource({ [APP]: { entrypoint: ['/a'] }, [TOOL]: { entrypoint: ['/t'] } });
    const { log, lines } = captureLogger('info');
    const warm = startWarmUp({ images: [APP, TOOL, APP], source, timeoutMs: 60_000, log });
    expect(warm.notReadyReason()).toBe('warming the image cache: 2 of 2 images left');
    await warm.done;
    expect(warm.notReadyReason()).toBeUndefined();
    expect(source.callsFor(APP)).toBe(1);
    expect(source.callsFor(TOOL)).toBe(1);
    expect(lines.filter((l) => l.msg === 'cache warm-up: image not resolved')).toHaveLength(0);
    expect(lines.find((l) => l.msg === 'cache warm-up done')).toMatchObject({ images: 2, failed: 0 });
  });

  it('logs each image that cannot be resolved', async () => {
    const source = new FakeMetadataSource({ [APP]: { entrypoint: ['/a'] } });
    const { log, lines } = captureLogger('info');
    const warm = startWarmUp({ images: [APP, TOOL], source, timeoutMs: 60_000, log });
    await warm.done;
    expect(warm.notReadyReason()).toBeUndefined();
    expect(lines.find((l) => l.msg === 'cache warm-up: image not resolved')).toMatchObject({ image: TOOL });
    expect(lines.find((l) => l.msg === 'cache warm-up done')).toMatchObject({ images: 2, failed: 1 });
  });

  it('never keeps readiness past the timeout, however long a resolution hangs', async () => {
    const source = new FakeMetadataSource({ [APP]: { entrypoint: ['/a'] } }).hang(APP);
    const { log, lines } = captureLogger('info');
    const warm = startWarmUp({ images: [APP], source, timeoutMs: 50, log });
    expect(warm.notReadyReason()).toBeDefined();
    const timedOut = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (lines.some((l) => l.msg === 'cache warm-up timed out; ready anyway')) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    await timedOut;
    expect(warm.notReadyReason()).toBeUndefined();
    expect(lines.find((l) => l.msg === 'cache warm-up timed out; ready anyway')).toMatchObject({ left: 1 });
    warm.stop();
  });

  it('is ready at once without images', () => {
    const warm = startWarmUp({
      images: [],
      source: new FakeMetadataSource({}),
      timeoutMs: 1,
      log: captureLogger().log,
    });
    expect(warm.notReadyReason()).toBeUndefined();
  });
});

describe('the audit progress line', () => {
  function sink(isTTY: boolean): Writable & { text: string } {
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb): void {
        stream.text += chunk.toString();
        cb();
      },
    }) as Writable & { text: string; isTTY?: boolean };
    stream.text = '';
    stream.isTTY = isTTY;
    return stream;
  }

  it('draws in place on a terminal once the scan is long, and clears itself', async () => {
    const stream = sink(true);
    const progress = createProgress(stream, 'resolving tags', 0, 5);
    progress.update(3, 20);
    await new Promise((resolve) => setTimeout(resolve, 30));
    progress.stop();
    expect(stream.text.startsWith('\r\u001b[Kresolving tags 3/20')).toBe(true);
    expect(stream.text.endsWith('\r\u001b[K')).toBe(true);
  });

  it('writes nothing when stderr is not a terminal, or when the scan ends before the delay', async () => {
    const pipe = sink(false);
    const quick = sink(true);
    for (const [stream, delay] of [
      [pipe, 0],
      [quick, 60_000],
    ] as const) {
      const progress = createProgress(stream, 'resolving tags', delay, 5);
      progress.update(1, 2);
      await new Promise((resolve) => setTimeout(resolve, 20));
      progress.stop();
    }
    expect(pipe.text).toBe('');
    expect(quick.text).toBe('');
  });
});
