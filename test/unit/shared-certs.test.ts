import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';

import { bundleCas } from '../../src/tls/ca-bundle.js';
import { generateCa, generateServingCert } from '../../src/tls/certs.js';
import { servingDnsNames } from '../../src/tls/serving.js';
import { SHARED_FILES, planSharedCerts } from '../../src/tls/shared-certs.js';
import type {
  ServePlan,
  SharedCertOptions,
  SharedData,
  SharedPlan,
  WritePlan,
} from '../../src/tls/shared-certs.js';

const DAY = 86_400_000;
const NOW = new Date('2030-06-01T00:00:00Z');
const OPTS: SharedCertOptions = {
  service: 'fn-pinner',
  namespace: 'fn-pinner-system',
  validityDays: 365,
  renewBeforeDays: 30,
  caValidityDays: 3650,
  caSettleMs: 5 * 60_000,
};

const at = (ms: number): Date => new Date(NOW.getTime() + ms);
const trim = (pems: string[]): string[] => pems.map((p) => p.trim());

function write(plan: SharedPlan): WritePlan {
  if (plan.kind !== 'write') throw new Error(`expected a write, got ${plan.kind}: ${JSON.stringify(plan)}`);
  return plan;
}

function serve(plan: SharedPlan): ServePlan {
  if (plan.kind !== 'serve') throw new Error(`expected serve, got ${plan.kind}: ${JSON.stringify(plan)}`);
  return plan;
}

/** A Secret's data: a CA made `caAgeDays` before NOW, and a leaf it signed `leafAgeDays` before NOW. */
function secretData(opts: { caAgeDays?: number; leafAgeDays?: number; leafDays?: number } = {}): SharedData {
  const ca = generateCa({
    commonName: 'shared CA',
    validityDays: 3650,
    now: at(-(opts.caAgeDays ?? 0) * DAY),
  });
  const leaf = generateServingCert({
    ca,
    dnsNames: servingDnsNames(OPTS.service, OPTS.namespace),
    ipAddresses: ['127.0.0.1'],
    validityDays: opts.leafDays ?? 365,
    now: at(-(opts.leafAgeDays ?? 0) * DAY),
  });
  return { 'ca.crt': ca.certPem, 'ca.key': ca.keyPem, 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem };
}

function signedBy(leafPem: string, caPem: string): boolean {
  const leaf = new X509Certificate(leafPem);
  const ca = new X509Certificate(caPem);
  return leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
}

describe('planSharedCerts', () => {
  it('creates a CA and a leaf for the Service when there is no Secret, and then serves them', () => {
    const created = write(planSharedCerts({ data: {}, nextCaSince: undefined }, OPTS, NOW));
    expect(created.why).toBe('the CA is unusable: there is no ca.crt');
    expect(Object.keys(created.data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const plan = serve(planSharedCerts({ data: created.data, nextCaSince: undefined }, OPTS, NOW));
    expect(plan.certs).toEqual({
      caPem: created.data['ca.crt'],
      certPem: created.data['tls.crt'],
      keyPem: created.data['tls.key'],
    });
    expect(signedBy(plan.certs.certPem, plan.certs.caPem)).toBe(true);
    const leaf = new X509Certificate(plan.certs.certPem);
    expect(leaf.subjectAltName).toContain('DNS:fn-pinner.fn-pinner-system.svc');
    expect(leaf.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(trim(bundleCas(plan.trusted))).toEqual(trim([created.data['ca.crt']!]));
    expect(plan.notAfter).toEqual(new Date(leaf.validTo));
  });

  it('replaces a CA that does not parse or whose key does not match, with a new CA and leaf', () => {
    const good = secretData();
    const other = generateCa();
    for (const [data, why] of [
      [{ ...good, 'ca.crt': 'garbage' }, 'ca.crt holds no PEM certificate'],
      [{ ...good, 'ca.key': other.keyPem }, 'ca.key does not match ca.crt'],
    ] as const) {
      const plan = write(planSharedCerts({ data, nextCaSince: undefined }, OPTS, NOW));
      expect(plan.why).toContain(why);
      expect(plan.data['ca.crt']).not.toBe(good['ca.crt']);
      expect(signedBy(plan.data['tls.crt']!, plan.data['ca.crt']!)).toBe(true);
    }
  });

  it('renews a leaf within 30 days of its expiry from the same CA, so the caBundle need not change', () => {
    const data = secretData({ leafAgeDays: 340 });
    const renewed = write(planSharedCerts({ data, nextCaSince: undefined }, OPTS, NOW));
    expect(renewed.why).toMatch(/^tls\.crt expires at .*, within the 30-day renewal window$/);
    expect(renewed.data['ca.crt']).toBe(data['ca.crt']);
    expect(renewed.data['ca.key']).toBe(data['ca.key']);
    expect(renewed.data['tls.crt']).not.toBe(data['tls.crt']);
    expect(signedBy(renewed.data['tls.crt']!, data['ca.crt']!)).toBe(true);
    serve(planSharedCerts({ data: renewed.data, nextCaSince: undefined }, OPTS, NOW));
  });

  it('re-issues a leaf that lacks a name or was not signed by the signing CA', () => {
    const data = secretData();
    const narrow = generateServingCert({
      ca: { certPem: data['ca.crt']!, keyPem: data['ca.key']! },
      dnsNames: ['fn-pinner.other.svc'],
      now: NOW,
    });
    const foreign = secretData();
    for (const [leaf, why] of [
      [narrow, 'lacks the subject alternative names'],
      [{ certPem: foreign['tls.crt']!, keyPem: foreign['tls.key']! }, 'does not chain to ca.crt'],
    ] as const) {
      const state = {
        data: { ...data, 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem },
        nextCaSince: undefined,
      };
      const plan = write(planSharedCerts(state, OPTS, NOW));
      expect(plan.why).toContain(why);
      expect(plan.data['ca.crt']).toBe(data['ca.crt']);
    }
  });

  describe('CA rotation', () => {
    // 3300 days into a 3650-day CA: 350 days left, less than a leaf's life plus its renewal window.
    const old = secretData({ caAgeDays: 3300 });

    it('first adds a next CA beside the current one, dated, signing nothing', () => {
      const added = write(planSharedCerts({ data: old, nextCaSince: undefined }, OPTS, NOW));
      expect(added.why).toMatch(/^the CA expires at .*: adding the next CA$/);
      expect(added.nextCaSince).toEqual(NOW);
      for (const name of ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']) expect(added.data[name]).toBe(old[name]);
      expect(added.data[SHARED_FILES.nextCaCert]).toContain('BEGIN CERTIFICATE');
      expect(added.data[SHARED_FILES.nextCaKey]).toContain('PRIVATE KEY');
    });

    it('publishes the next CA with the current one, still serving the current leaf, until it has settled', () => {
      const added = write(planSharedCerts({ data: old, nextCaSince: undefined }, OPTS, NOW));
      const state = { data: added.data, nextCaSince: NOW };
      const waiting = serve(planSharedCerts(state, OPTS, at(OPTS.caSettleMs - 1)));
      expect(waiting.certs.certPem).toBe(old['tls.crt']);
      expect(trim(bundleCas(waiting.trusted))).toEqual(trim([old['ca.crt']!, added.data['next-ca.crt']!]));
    });

    it('then lets the next CA sign a new leaf, keeping the previous CA trusted in ca.crt', () => {
      const added = write(planSharedCerts({ data: old, nextCaSince: undefined }, OPTS, NOW));
      const next = added.data['next-ca.crt']!;
      const settled = planSharedCerts({ data: added.data, nextCaSince: NOW }, OPTS, at(OPTS.caSettleMs));
      if (settled.kind !== 'promote') throw new Error(`expected promote, got ${settled.kind}`);
      // What must already be in the caBundle before the write: both CAs.
      expect(trim(bundleCas(settled.serve.trusted))).toEqual(trim([old['ca.crt']!, next]));
      expect(settled.serve.certs.certPem).toBe(old['tls.crt']);
      const promoted = settled.write;
      expect(promoted.nextCaSince).toBeUndefined();
      expect(promoted.data['next-ca.crt']).toBeUndefined();
      expect(promoted.data['next-ca.key']).toBeUndefined();
      expect(promoted.data['ca.key']).toBe(added.data['next-ca.key']);
      expect(signedBy(promoted.data['tls.crt']!, next)).toBe(true);
      const after = serve(
        planSharedCerts({ data: promoted.data, nextCaSince: undefined }, OPTS, at(OPTS.caSettleMs)),
      );
      // Replicas that have not reloaded yet still serve the previous leaf: its CA stays trusted.
      expect(trim(bundleCas(after.trusted))).toEqual(trim([next, old['ca.crt']!]));
    });

    it('drops a next CA that is unusable, and dates one that has no date', () => {
      const added = write(planSharedCerts({ data: old, nextCaSince: undefined }, OPTS, NOW));
      const broken = { ...added.data, 'next-ca.key': generateCa().keyPem };
      const dropped = write(planSharedCerts({ data: broken, nextCaSince: NOW }, OPTS, NOW));
      expect(dropped.why).toContain(
        'the next CA is unusable: next-ca.crt/next-ca.key: ca.key does not match',
      );
      expect(dropped.data['next-ca.crt']).toBeUndefined();
      const dated = write(planSharedCerts({ data: added.data, nextCaSince: undefined }, OPTS, NOW));
      expect(dated).toMatchObject({ why: 'the next CA had no date', nextCaSince: NOW, data: added.data });
    });
  });
});
