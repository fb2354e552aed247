import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { errorMessage } from './pem.js';

/**
 * Decides whether certificate files on disk can be served. Every problem is one sentence that names the
 * file it is about, because it ends up in a startup error or a reload log line an operator has to act on.
 */

export interface ServingPems {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface ServingRequirements {
  /** Each must be matched by a DNS SAN (wildcards count, the subject CN does not). */
  dnsNames: string[];
  ipAddresses: string[];
  now: Date;
  renewBeforeMs: number;
}

export type ServingInspection =
  | {
      ok: true;
      /** The earliest expiry in the chain: when the API server would start rejecting us. */
      notAfter: Date;
      /** Set when the chain expires within the renewal window (usable, but due for rotation). */
      renewalDue: string | undefined;
    }
  | { ok: false; problem: string };

/** How many intermediates tls.crt may carry between the leaf and ca.crt (cert-manager issuer chains). */
const MAX_CHAIN = 8;

export function inspectServingCerts(pems: ServingPems, req: ServingRequirements): ServingInspection {
  try {
    const chain = parseCerts(pems.certPem, 'tls.crt');
    const roots = parseCerts(pems.caPem, 'ca.crt');
    const key = parseKey(pems.keyPem, 'tls.key');
    const leaf = chain[0] as X509Certificate;
    const keyIssue = keyProblem(leaf, key);
    if (keyIssue !== undefined) return { ok: false, problem: keyIssue };
    const path = chainPath(chain, roots);
    if (typeof path === 'string') return { ok: false, problem: path };
    const problem = validityProblem(leaf, 'tls.crt', req.now) ?? namesProblem(leaf, req);
    if (problem !== undefined) return { ok: false, problem };
    return renewalState(path, req);
  } catch (err) {
    if (err instanceof FileProblem) return { ok: false, problem: err.message };
    throw err;
  }
}

/**
 * Whether the CA in ca.crt/ca.key can sign a new leaf: it must be a CA, its key must match, and it must stay
 * valid until `validUntil` (the new leaf's expiry) so the caBundle stays usable for the leaf's whole life.
 */
export function inspectCa(
  pems: { caPem: string; caKeyPem: string },
  now: Date,
  validUntil: Date,
): string | undefined {
  try {
    const [ca] = parseCerts(pems.caPem, 'ca.crt');
    const key = parseKey(pems.caKeyPem, 'ca.key');
    if (ca === undefined || !ca.ca) return 'ca.crt is not a CA certificate';
    if (!matches(ca, key)) return 'ca.key does not match ca.crt';
    const notAfter = new Date(ca.validTo);
    if (notAfter < validUntil) return `ca.crt expires at ${notAfter.toISOString()}, before a new leaf would`;
    return validityProblem(ca, 'ca.crt', now);
  } catch (err) {
    if (err instanceof FileProblem) return err.message;
    throw err;
  }
}

class FileProblem extends Error {}

/** All certificates of a PEM bundle, in order; X509Certificate itself only reads the first. */
function parseCerts(pem: string, file: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new FileProblem(`${file} holds no PEM certificate`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new FileProblem(`${file}: certificate ${i + 1} cannot be parsed (${errorMessage(err)})`);
    }
  });
}

function parseKey(pem: string, file: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new FileProblem(`${file} holds no usable private key (${errorMessage(err)})`);
  }
}

function matches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

function keyProblem(leaf: X509Certificate, key: KeyObject): string | undefined {
  return matches(leaf, key) ? undefined : 'tls.key does not match the certificate in tls.crt';
}

/**
 * Walks leaf → intermediates (from tls.crt) → a certificate of ca.crt, checking each signature. Returns the
 * path with the root last, or the problem.
 */
function chainPath(chain: X509Certificate[], roots: X509Certificate[]): X509Certificate[] | string {
  const path = [chain[0] as X509Certificate];
  const intermediates = chain.slice(1);
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const current = path[path.length - 1] as X509Certificate;
    const root = roots.find((cert) => signedBy(current, cert));
    if (root !== undefined) return [...path, root];
    const next = intermediates.find((cert) => signedBy(current, cert) && !path.includes(cert));
    if (next === undefined) break;
    path.push(next);
  }
  const last = path[path.length - 1] as X509Certificate;
  return `tls.crt does not chain to ca.crt (no certificate in ca.crt issued "${last.subject}")`;
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

function validityProblem(cert: X509Certificate, file: string, now: Date): string | undefined {
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (now < notBefore) return `${file} is not valid until ${notBefore.toISOString()}`;
  if (now >= notAfter) return `${file} expired at ${notAfter.toISOString()}`;
  return undefined;
}

function namesProblem(leaf: X509Certificate, req: ServingRequirements): string | undefined {
  const missing = [
    ...req.dnsNames.filter((name) => leaf.checkHost(name, { subject: 'never' }) === undefined),
    ...req.ipAddresses.filter((ip) => leaf.checkIP(ip) === undefined),
  ];
  return missing.length === 0
    ? undefined
    : `tls.crt lacks the subject alternative names ${missing.join(', ')}`;
}

/** The chain is as good as its earliest-expiring certificate, the CA included (an expired CA breaks trust). */
function renewalState(path: X509Certificate[], req: ServingRequirements): ServingInspection {
  const fileOf = (i: number): string => (i === path.length - 1 ? 'ca.crt' : 'tls.crt');
  const expired = path.map((cert, i) => validityProblem(cert, fileOf(i), req.now)).find(Boolean);
  if (expired !== undefined) return { ok: false, problem: expired };
  const expiries = path.map((cert) => new Date(cert.validTo).getTime());
  const first = expiries.indexOf(Math.min(...expiries));
  const notAfter = new Date(expiries[first] as number);
  if (notAfter.getTime() - req.now.getTime() >= req.renewBeforeMs) {
    return { ok: true, notAfter, renewalDue: undefined };
  }
  const days = Math.round(req.renewBeforeMs / 86_400_000);
  const renewalDue = `${fileOf(first)} expires at ${notAfter.toISOString()}, within the ${days}-day renewal window`;
  return { ok: true, notAfter, renewalDue };
}
