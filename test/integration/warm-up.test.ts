import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { imagePusher } from '../support/images.js';
import type { PushedImage } from '../support/images.js';
import { startProxy } from '../support/proxy.js';
import type { TestProxy } from '../support/proxy.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';
import { admissionReview } from '../support/admission-review.js';
import { readyz, startTestWebhook } from '../support/webhook.js';
import type { TestWebhook } from '../support/webhook.js';

/**
 * `serve --warm-images`: the listed images are resolved at start, and /readyz waits for them, for at most
 * --warm-timeout; against a real registry behind a proxy that can hold, hang or count requests.
 */
let reg: TestRegistry;
let proxy: TestProxy;
let app: PushedImage;
const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-warm-'));
const running: TestWebhook[] = [];

beforeAll(async () => {
  reg = await startRegistry('plain');
  proxy = await startProxy(reg.url);
  app = await imagePusher(reg).pushImage('fn/app', 'v1', { entrypoint: ['/app'] });
  await imagePusher(reg).pushImage('fn/tool', 'v1', { entrypoint: ['/tool'] });
});

afterAll(async () => {
  for (const w of running) await w.stop();
  await proxy.stop();
  await reg.stop();
  rmSync(dir, { recursive: true, force: true });
});

function list(name: string, images: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, `# images to warm\n${images.join('\n')}\n`);
  return file;
}

async function start(opts: Record<string, string | string[]>): Promise<TestWebhook> {
  const webhook = await startTestWebhook({ insecureRegistry: [proxy.host], ...opts });
  running.push(webhook);
  return webhook;
}

async function untilReady(webhook: TestWebhook, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await readyz(webhook)).status !== 200) {
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms`);
    await sleep(20);
  }
}

function review(image: string): Record<string, unknown> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'fn', namespace: 'porch-fn-system' },
    spec: { containers: [{ name: 'function', image }] },
  };
  return admissionReview(pod, randomUUID());
}

describe('serve --warm-images', () => {
  it('is not ready until the listed images are resolved; the first admission then needs no registry call', async () => {
    proxy.reset();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    proxy.setHandler(async (req): Promise<'pass'> => {
      if (req.path.includes('/manifests/')) await held;
      return 'pass';
    });
    const image = `${proxy.host}/fn/app:v1`;
    const webhook = await start({ warmImages: list('one.txt', [image, `${proxy.host}/fn/tool:v1`]) });
    const waiting = await readyz(webhook);
    expect(waiting).toEqual({ status: 503, body: 'warming the image cache: 2 of 2 images left' });
    release();
    await untilReady(webhook);
    expect(webhook.logs.find((l) => l.msg === 'cache warm-up done')).toMatchObject({ images: 2, failed: 0 });

    const before = proxy.requests.length;
    const r = await webhook.post(review(image));
    expect(r.body.response.allowed).toBe(true);
    expect(proxy.requests.length).toBe(before);
    const decision = webhook.logs.find((l) => l.msg === 'admission decision');
    expect(decision?.containers).toEqual([
      expect.objectContaining({ pinned: `${image}@${app.digest}`, cache: 'hit' }),
    ]);
    proxy.setHandler();
  });

  it('logs an image it cannot resolve and is ready all the same', async () => {
    const missing = `${proxy.host}/fn/missing:v1`;
    const webhook = await start({ warmImages: list('missing.txt', [missing]) });
    await untilReady(webhook);
    expect(webhook.logs.find((l) => l.msg === 'cache warm-up: image not resolved')).toMatchObject({
      level: 'warn',
      image: missing,
      err: expect.stringContaining('404 MANIFEST_UNKNOWN'),
    });
    expect(webhook.logs.find((l) => l.msg === 'cache warm-up done')).toMatchObject({ images: 1, failed: 1 });
  });

  it('is ready after --warm-timeout even when the registry never answers', async () => {
    proxy.setHandler(() => 'hang');
    try {
      const webhook = await start({
        warmImages: list('hang.txt', [`${proxy.host}/fn/app:v1`]),
        warmTimeout: '1',
        resolveTimeout: '3',
        requestTimeout: '2',
      });
      expect((await readyz(webhook)).status).toBe(503);
      await untilReady(webhook);
      expect(webhook.logs.find((l) => l.msg === 'cache warm-up timed out; ready anyway')).toMatchObject({
        left: 1,
        images: 1,
        timeoutMs: 1000,
      });
    } finally {
      proxy.setHandler();
    }
  });
});
