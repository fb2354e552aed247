import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';

import { candidateOf } from '../../src/app/cert-sources.js';
import { createCaPublisher } from '../../src/app/ca-bundle.js';
import { ServingCertsController } from '../../src/app/serving-certs.js';
import type { CertCandidate, CertSource } from '../../src/app/serving-certs.js';
import { KubeApiError } from '../../src/kube/client.js';
import { createMetrics } from '../../src/metrics.js';
import { generateCa, generateServingCert } from '../../src/tls/certs.js';
import type { ServingCerts } from '../../src/tls/serving.js';
import { captureLogger } from '../support/capture-logger.js';
import { FakeWebhookConfigs } from '../support/fake-secrets.js';

function certsFrom(name: string): ServingCerts {
  const ca = generateCa({ commonName: `${name} CA` });
  const leaf = generateServingCert({ ca, dnsNames: ['fn-pinner.fn-pinner-system.svc'], validityDays: 30 });
  return { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
}

const first = certsFrom('first');
const second = certsFrom('second');
const conflict = (): Error =>
  new KubeApiError('update caBundle: 409 Conflict: the object has been modified', 'Conflict', 409, undefined);

/** A source whose answer the test sets; `fail` makes the next loads throw. */
class FakeSource implements CertSource {
  readonly polled = true;
  current: CertCandidate = candidateOf(first);
  fail: Error | undefined;
  loads = 0;
  async load(): Promise<CertCandidate> {
    this.loads++;
    if (this.fail) throw this.fail;
    return this.current;
  }
  onChange(): () => void {
    return () => undefined;
  }
  start(): void {}
  stop(): void {}
}

function setup(opts: { publisher?: boolean; standIn?: string; settleMs?: number } = {}) {
  const source = new FakeSource();
  const webhooks = new FakeWebhookConfigs();
  const { log, lines } = captureLogger();
  const metrics = createMetrics();
  const served: ServingCerts[] = [];
  const controller = new ServingCertsController({
    source,
    initial: candidateOf(first),
    ...(opts.standIn ? { standIn: opts.standIn } : {}),
    publisher: opts.publisher === false ? undefined : createCaPublisher(webhooks, 'fn-pinner', log),
    log,
    metrics,
    pollMs: 3_600_000,
    retryMs: 5,
    settleMs: opts.settleMs ?? 5,
  });
  return { source, webhooks, lines, metrics, served, controller, serve: (c: ServingCerts) => served.push(c) };
}

/** Waits for a condition the controller's retry loop brings about (retries are 5-40 ms apart here). */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await sleep(10);
  }
  throw new Error(`${what}: not reached`);
}

describe('ServingCertsController', () => {
  it('is not ready until the caBundle is known to hold the served CA, retrying a Conflict', async () => {
    const s = setup();
    s.webhooks.failures.push(conflict(), conflict());
    expect(s.controller.notReadyReason()).toBe(
      'caBundle: mutatingwebhookconfiguration fn-pinner not yet known to hold the serving CA',
    );
    s.controller.start(s.serve);
    await until('ready', () => s.controller.notReadyReason() === undefined);
    // Two Conflicts; a publish that changed the bundle (not relied on yet); one that found it there.
    expect(s.webhooks.published).toHaveLength(4);
    expect(s.webhooks.cas().map((p) => p.trim())).toEqual([first.caPem.trim()]);
    expect(s.lines.filter((l) => l.msg === 'serving certificate check failed; retrying')[0]).toMatchObject({
      level: 'warn',
      err: expect.stringContaining('409 Conflict'),
    });
    expect(s.lines.find((l) => l.msg === 'caBundle published')).toMatchObject({ changed: true });
    expect(s.served).toEqual([]); // the initial certificates were already being served
    s.controller.stop();
  });

  it('relies on a caBundle it wrote only one settle period later, even when asked to check sooner', async () => {
    const s = setup({ settleMs: 3_600_000 });
    s.controller.start(s.serve);
    await until('published', () => s.lines.some((l) => l.msg === 'caBundle published'));
    s.controller.kick();
    await sleep(20);
    expect(s.webhooks.published).toHaveLength(1);
    expect(s.controller.notReadyReason()).toBe(
      'caBundle: mutatingwebhookconfiguration fn-pinner not yet known to hold the serving CA',
    );
    s.controller.stop();
  });

  it('says why while the publish keeps failing', async () => {
    const s = setup();
    s.webhooks.failures.push(...Array.from({ length: 1000 }, conflict));
    s.controller.start(s.serve);
    await until('a failure', () => s.webhooks.published.length >= 2);
    expect(s.controller.notReadyReason()).toMatch(
      /^caBundle: mutatingwebhookconfiguration fn-pinner not yet known to hold the serving CA \(update caBundle: 409 Conflict/,
    );
    s.controller.stop();
  });

  it('serves new certificates only once their CA is in the caBundle, and stays ready meanwhile', async () => {
    const s = setup();
    s.controller.start(s.serve);
    await until('ready', () => s.controller.notReadyReason() === undefined);
    s.source.current = candidateOf(second);
    s.webhooks.failures.push(conflict());
    let servedAtPublish: number[] = [];
    s.webhooks.onCall = () => (servedAtPublish = [...servedAtPublish, s.served.length]);
    s.controller.kick();
    await until('switched', () => s.served.length === 1);
    // A Conflict, a publish that changed the bundle, one that found it there: all before the switch.
    expect(servedAtPublish).toEqual([0, 0, 0]);
    expect(s.served).toEqual([second]);
    expect(s.controller.certs).toEqual(second);
    expect(s.controller.notReadyReason()).toBeUndefined();
    expect(s.webhooks.cas().map((p) => p.trim())).toEqual([second.caPem.trim(), first.caPem.trim()]);
    const expiry = (await s.metrics.servingCertExpiry.get()).values[0]?.value;
    expect(expiry).toBe(Math.floor(candidateOf(second).notAfter.getTime() / 1000));
    s.controller.stop();
  });

  it('keeps a stand-in unpublished and not ready until the real source loads', async () => {
    const s = setup({ standIn: 'cannot use Secret fn-pinner-system/fn-pinner-webhook-tls: 403 Forbidden' });
    s.source.fail = new Error('get secret fn-pinner-system/fn-pinner-webhook-tls: 403 Forbidden');
    s.source.current = candidateOf(second);
    s.controller.start(s.serve);
    await until('retried', () => s.source.loads >= 3);
    expect(s.controller.notReadyReason()).toBe(
      'serving certificate: get secret fn-pinner-system/fn-pinner-webhook-tls: 403 Forbidden',
    );
    expect(s.webhooks.published).toEqual([]);
    s.source.fail = undefined;
    await until('ready', () => s.controller.notReadyReason() === undefined);
    expect(s.served).toEqual([second]);
    expect(s.webhooks.cas().map((p) => p.trim())).toEqual([second.caPem.trim()]);
    s.controller.stop();
  });

  it('without a webhook configuration to publish in, is ready at once and serves changes as they come', async () => {
    const s = setup({ publisher: false });
    expect(s.controller.notReadyReason()).toBeUndefined();
    expect((await s.metrics.servingCertExpiry.get()).values[0]?.value).toBe(
      Math.floor(candidateOf(first).notAfter.getTime() / 1000),
    );
    s.controller.start(s.serve);
    s.source.current = candidateOf(second);
    s.controller.kick();
    await until('switched', () => s.served.length === 1);
    expect(s.webhooks.published).toEqual([]);
    s.controller.stop();
  });
});
