import { X509Certificate } from 'node:crypto';

import { caBundle } from './ca-bundle.js';
import { generateCa, generateServingCert } from './certs.js';
import type { CertKeyPair } from './certs.js';
import { DAY_MS, pemBlocks } from './pem.js';
import { servingDnsNames } from './serving.js';
import type { ServingCerts } from './serving.js';
import { inspectCa, inspectServingCerts } from './serving-check.js';

/**
 * The CA and serving certificate that all self-signed replicas share, as the data of one Secret, and what to
 * do with it next: serve it, or write a new version first. Pure (the Secret itself is src/secrets' job).
 *
 * The layout is a `kubernetes.io/tls` Secret's (ca.crt, tls.crt, tls.key) plus ca.key, as cert-controller
 * keeps it. ca.crt holds the signing CA first and, after a CA rotation, the previous CA while it is valid, so
 * anything that trusts ca.crt (the ServiceMonitor) trusts replicas that still serve the previous leaf.
 *
 * A CA rotation has two steps, so that the API server trusts a CA before any replica serves with it:
 * 1. the next CA is added to the Secret (next-ca.crt, next-ca.key) and published into the caBundle beside
 *    the current one; it signs nothing yet;
 * 2. once it has been in the Secret for `caSettleMs` and the caBundle already held it, it becomes the
 *    signing CA, with a new leaf; the previous CA stays in ca.crt and in the caBundle.
 * A leaf is renewed from the same CA, which the caBundle already holds.
 */

export const SHARED_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
  nextCaCert: 'next-ca.crt',
  nextCaKey: 'next-ca.key',
} as const;

const { caCert, caKey, cert, key, nextCaCert, nextCaKey } = SHARED_FILES;

/** The Secret's data, decoded: file name → PEM text. */
export type SharedData = Record<string, string | undefined>;

export interface SharedCertOptions {
  service: string;
  namespace: string;
  /** The leaf's life. */
  validityDays: number;
  /** A leaf this close to its expiry is renewed. */
  renewBeforeDays: number;
  caValidityDays: number;
  /** How long a next CA is published before it signs, so that every API server's cache holds it. */
  caSettleMs: number;
}

export interface SharedState {
  data: SharedData;
  /** When the next CA was added (kept beside the data), if there is one. */
  nextCaSince: Date | undefined;
}

export interface ServePlan {
  kind: 'serve';
  certs: ServingCerts;
  /** The caBundle (base64 PEM) that must be published: every CA that signs a leaf in use, and the next CA. */
  trusted: string;
  /** The earliest expiry in the served chain. */
  notAfter: Date;
}

export interface WritePlan {
  kind: 'write';
  data: SharedData;
  nextCaSince: Date | undefined;
  /** For the log. */
  why: string;
}

export type SharedPlan =
  | ServePlan
  | WritePlan
  /** Step 2 of a CA rotation: write `write` once `serve.trusted` is in the caBundle already; serve until then. */
  | { kind: 'promote'; serve: ServePlan; write: WritePlan };

interface Ca {
  pair: CertKeyPair;
  notAfter: Date;
}

/** Decides what the Secret needs, in order: a usable CA, a usable next CA, a CA rotation, a usable leaf. */
export function planSharedCerts(state: SharedState, opts: SharedCertOptions, now: Date): SharedPlan {
  const { data } = state;
  const ca = readCa(data, [caCert, caKey], now);
  if (typeof ca === 'string') return { kind: 'write', ...fresh(opts, now), why: `the CA is unusable: ${ca}` };
  const next = data[nextCaCert] === undefined ? undefined : readCa(data, [nextCaCert, nextCaKey], now);
  if (typeof next === 'string') {
    return {
      kind: 'write',
      data: withoutNext(data),
      nextCaSince: undefined,
      why: `the next CA is unusable: ${next}`,
    };
  }
  const caDueMs = (opts.validityDays + opts.renewBeforeDays) * DAY_MS;
  if (next === undefined && ca.notAfter.getTime() - now.getTime() < caDueMs)
    return addNext(data, opts, now, ca);
  const leaf = leafProblem(data, ca, opts, now);
  if (leaf !== undefined) {
    return {
      kind: 'write',
      data: { ...data, ...newLeaf(ca.pair, opts, now) },
      nextCaSince: state.nextCaSince,
      why: leaf,
    };
  }
  const serve = servePlan(data, ca, next, now);
  if (next === undefined) return serve;
  const since = state.nextCaSince;
  if (since === undefined) return { kind: 'write', data, nextCaSince: now, why: 'the next CA had no date' };
  if (now.getTime() - since.getTime() < opts.caSettleMs) return serve;
  return { kind: 'promote', serve, write: promote(data, opts, now, next) };
}

function readCa(data: SharedData, [certFile, keyFile]: [string, string], now: Date): Ca | string {
  const certPem = data[certFile];
  const keyPem = data[keyFile];
  if (certPem === undefined) return `there is no ${certFile}`;
  if (keyPem === undefined) return `there is no ${keyFile}`;
  const [first] = pemBlocks(certPem);
  if (first === undefined) return `${certFile} holds no PEM certificate`;
  const problem = inspectCa({ caPem: first, caKeyPem: keyPem }, now, now);
  if (problem !== undefined) return `${certFile}/${keyFile}: ${problem}`;
  return { pair: { certPem: first, keyPem }, notAfter: new Date(new X509Certificate(first).validTo) };
}

function fresh(opts: SharedCertOptions, now: Date): Pick<WritePlan, 'data' | 'nextCaSince'> {
  const ca = newCa(opts, now);
  return {
    data: { [caCert]: ca.certPem, [caKey]: ca.keyPem, ...newLeaf(ca, opts, now) },
    nextCaSince: undefined,
  };
}

function newCa(opts: SharedCertOptions, now: Date): CertKeyPair {
  const commonName = `${opts.service}.${opts.namespace} webhook CA`;
  return generateCa({ commonName, validityDays: opts.caValidityDays, now });
}

function newLeaf(ca: CertKeyPair, opts: SharedCertOptions, now: Date): SharedData {
  const leaf = generateServingCert({
    ca,
    dnsNames: servingDnsNames(opts.service, opts.namespace),
    ipAddresses: ['127.0.0.1'],
    validityDays: opts.validityDays,
    now,
  });
  return { [cert]: leaf.certPem, [key]: leaf.keyPem };
}

function withoutNext(data: SharedData): SharedData {
  const { [nextCaCert]: _cert, [nextCaKey]: _key, ...rest } = data;
  return rest;
}

function addNext(data: SharedData, opts: SharedCertOptions, now: Date, ca: Ca): WritePlan {
  const next = newCa(opts, now);
  return {
    kind: 'write',
    data: { ...data, [nextCaCert]: next.certPem, [nextCaKey]: next.keyPem },
    nextCaSince: now,
    why: `the CA expires at ${ca.notAfter.toISOString()}: adding the next CA`,
  };
}

/** The leaf must chain to the signing CA (not a previous one), carry every name, and not be due. */
function leafProblem(data: SharedData, ca: Ca, opts: SharedCertOptions, now: Date): string | undefined {
  if (data[cert] === undefined || data[key] === undefined) return `there is no ${cert} or ${key}`;
  const inspection = inspectServingCerts(
    { caPem: ca.pair.certPem, certPem: data[cert], keyPem: data[key] },
    {
      dnsNames: servingDnsNames(opts.service, opts.namespace),
      ipAddresses: ['127.0.0.1'],
      now,
      renewBeforeMs: 0,
    },
  );
  if (!inspection.ok) return inspection.problem;
  // Its own expiry, not the chain's: a CA near its end is the rotation's business, not the leaf's.
  const leafEnd = Date.parse(new X509Certificate(data[cert]).validTo);
  if (leafEnd - now.getTime() < opts.renewBeforeDays * DAY_MS) {
    return `${cert} expires at ${new Date(leafEnd).toISOString()}, within the ${opts.renewBeforeDays}-day renewal window`;
  }
  return undefined;
}

function promote(data: SharedData, opts: SharedCertOptions, now: Date, next: Ca): WritePlan {
  const rest = withoutNext(data);
  const previous = pemBlocks(data[caCert] ?? '')[0];
  return {
    kind: 'write',
    data: {
      ...rest,
      [caCert]: [next.pair.certPem, previous].filter(Boolean).join('\n'),
      [caKey]: next.pair.keyPem,
      ...newLeaf(next.pair, opts, now),
    },
    nextCaSince: undefined,
    why: 'the next CA has been in the caBundle long enough: it signs from now on',
  };
}

function servePlan(data: SharedData, ca: Ca, next: Ca | undefined, now: Date): ServePlan {
  const previous = pemBlocks(data[caCert] ?? '')
    .slice(1)
    .filter((pem) => validAt(pem, now));
  const trusted = [ca.pair.certPem, ...previous, ...(next ? [next.pair.certPem] : [])];
  const certPem = data[cert] ?? '';
  const leafEnd = new Date(new X509Certificate(certPem).validTo);
  return {
    kind: 'serve',
    certs: { caPem: data[caCert] ?? '', certPem, keyPem: data[key] ?? '' },
    trusted: caBundle(trusted.map((pem) => pem.trim()).join('\n') + '\n'),
    notAfter: leafEnd < ca.notAfter ? leafEnd : ca.notAfter,
  };
}

function validAt(pem: string, now: Date): boolean {
  try {
    const c = new X509Certificate(pem);
    return new Date(c.validFrom) <= now && now < new Date(c.validTo);
  } catch {
    return false;
  }
}
