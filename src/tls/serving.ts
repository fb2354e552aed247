import { FnPinnerError } from '../errors.js';
import { DAY_MS } from './pem.js';
import { readCertDirFile, writeCertDirFiles } from './cert-dir.js';
import { generateCa, generateServingCert } from './certs.js';
import type { CertKeyPair } from './certs.js';
import { inspectCa, inspectServingCerts } from './serving-check.js';
import type { ServingPems } from './serving-check.js';

/**
 * The webhook's own serving certificate in a directory, under the names cert-manager and `kubernetes.io/tls`
 * Secrets use (ca.crt, tls.crt, tls.key), so the same directory works whether we issue the certificate
 * ourselves or a Secret is mounted there. Self-managed mode also keeps ca.key, so a rotation re-signs with
 * the same CA and the caBundle in the MutatingWebhookConfiguration does not change.
 */

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
export const CERT_FILE = 'tls.crt';
export const KEY_FILE = 'tls.key';

const DEFAULT_VALIDITY_DAYS = 365;
/** cert-manager's default renewBefore for a 90-day certificate is 30 days; a month is also ample warning. */
const DEFAULT_RENEW_BEFORE_DAYS = 30;
/** A CA outlives many leaves, so rotating a leaf rarely changes the caBundle (certs.ts's default). */
const MIN_CA_VALIDITY_DAYS = 3650;

export type ServingCerts = ServingPems;

export interface EnsureServingCertsOptions {
  dir: string;
  service: string;
  namespace: string;
  extraDnsNames?: string[];
  /** Default ['127.0.0.1'], so probes and port-forwards to the pod verify too. */
  ipAddresses?: string[];
  validityDays?: number;
  renewBeforeDays?: number;
  now?: Date;
  /**
   * true: self-managed, (re)issue whenever the files are missing, invalid or due for renewal.
   * false (default): cert-manager mode, only load; never write. Files within the renewal window are still
   * served (the issuer renews them; refusing a still-valid certificate would only cause an outage), and only
   * the name the API server dials (SERVICE.NAMESPACE.svc) plus extraDnsNames and explicitly given
   * ipAddresses are required, since the issuer's Certificate need not list localhost.
   */
  generate?: boolean;
}

export interface EnsureServingCertsResult {
  certs: ServingCerts;
  generated: boolean;
  /** A new CA was minted: the caBundle of the MutatingWebhookConfiguration has to change with it. */
  caGenerated: boolean;
  /** The earliest expiry in the served chain. */
  notAfter: Date;
  /** Set when the served chain is within the renewal window (only possible when generate is false). */
  renewalDue: string | undefined;
  /** Why the files were reused or (re)issued, for the log. */
  reason: string;
}

interface Settings {
  dir: string;
  service: string;
  namespace: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** What loaded files must cover (see `generate`). */
  required: { dnsNames: string[]; ipAddresses: string[] };
  validityDays: number;
  renewBeforeMs: number;
  now: Date;
  generate: boolean;
}

/** The names the API server and local clients use: the in-cluster service names, localhost, extras. */
export function servingDnsNames(service: string, namespace: string, extra: string[] = []): string[] {
  const svc = `${service}.${namespace}.svc`;
  return [...new Set([svc, `${svc}.cluster.local`, 'localhost', ...extra])];
}

/**
 * Returns certificates fit to serve from `opts.dir`, reusing the files when they are valid (key matches,
 * chain verifies against ca.crt, in date, required SANs present) and otherwise, when `generate` is set,
 * issuing a new leaf (from the existing CA while it outlives the leaf, else a new CA) and publishing the
 * files atomically. Without `generate`, invalid or missing files throw BAD_CONFIG naming the file.
 */
export function ensureServingCerts(opts: EnsureServingCertsOptions): EnsureServingCertsResult {
  const settings = resolveSettings(opts);
  const loaded = loadServingCerts(settings);
  if (loaded.ok && (loaded.renewalDue === undefined || !settings.generate)) {
    const expiry = loaded.notAfter.toISOString();
    return {
      certs: loaded.certs,
      generated: false,
      caGenerated: false,
      notAfter: loaded.notAfter,
      renewalDue: loaded.renewalDue,
      reason: `reused the certificate in ${settings.dir} (valid until ${expiry})`,
    };
  }
  const why = loaded.ok ? (loaded.renewalDue ?? 'renewal due') : loaded.problem;
  if (!settings.generate) {
    throw new FnPinnerError(
      'BAD_CONFIG',
      `load serving certificate from ${settings.dir}: ${why} (certificate generation is off, so nothing was written)`,
    );
  }
  return issue(settings, why);
}

function resolveSettings(opts: EnsureServingCertsOptions): Settings {
  const validityDays = opts.validityDays ?? DEFAULT_VALIDITY_DAYS;
  const renewBeforeDays = opts.renewBeforeDays ?? DEFAULT_RENEW_BEFORE_DAYS;
  validateSettings(opts, validityDays, renewBeforeDays);
  const generate = opts.generate ?? false;
  const dnsNames = servingDnsNames(opts.service, opts.namespace, opts.extraDnsNames);
  const ipAddresses = opts.ipAddresses ?? ['127.0.0.1'];
  return {
    dir: opts.dir,
    service: opts.service,
    namespace: opts.namespace,
    dnsNames,
    ipAddresses,
    required: generate ? { dnsNames, ipAddresses } : requiredWhenLoading(opts),
    validityDays,
    renewBeforeMs: renewBeforeDays * DAY_MS,
    now: opts.now ?? new Date(),
    generate,
  };
}

function validateSettings(
  opts: EnsureServingCertsOptions,
  validityDays: number,
  renewBeforeDays: number,
): void {
  if (!opts.service || !opts.namespace) {
    throw new FnPinnerError('BAD_CONFIG', 'serving certificate: service and namespace are required');
  }
  if (!(renewBeforeDays >= 0 && renewBeforeDays < validityDays)) {
    // Otherwise every fresh certificate would already be due, and every check would re-issue it.
    throw new FnPinnerError(
      'BAD_CONFIG',
      `serving certificate: renewBeforeDays (${renewBeforeDays}) must be at least 0 and below validityDays (${validityDays})`,
    );
  }
}

/** The name the API server dials, plus whatever the caller asked for explicitly (see `generate`). */
function requiredWhenLoading(opts: EnsureServingCertsOptions): { dnsNames: string[]; ipAddresses: string[] } {
  const apiServerName = `${opts.service}.${opts.namespace}.svc`;
  return { dnsNames: [apiServerName, ...(opts.extraDnsNames ?? [])], ipAddresses: opts.ipAddresses ?? [] };
}

type Loaded =
  | { ok: true; certs: ServingCerts; notAfter: Date; renewalDue: string | undefined }
  | { ok: false; problem: string };

function readServingFiles(dir: string): { ok: true; certs: ServingCerts } | { ok: false; problem: string } {
  const ca = readCertDirFile(dir, CA_CERT_FILE);
  const cert = readCertDirFile(dir, CERT_FILE);
  const key = readCertDirFile(dir, KEY_FILE);
  if (!ca.ok && !cert.ok && !key.ok && ca.missing && cert.missing && key.missing) {
    return { ok: false, problem: `there is no ${CA_CERT_FILE}, ${CERT_FILE} or ${KEY_FILE} in ${dir}` };
  }
  if (!cert.ok) return { ok: false, problem: `${CERT_FILE} is ${cert.error}` };
  if (!key.ok) return { ok: false, problem: `${KEY_FILE} is ${key.error}` };
  if (!ca.ok) return { ok: false, problem: `${CA_CERT_FILE} is ${ca.error}` };
  return { ok: true, certs: { caPem: ca.data, certPem: cert.data, keyPem: key.data } };
}

function loadServingCerts(s: Settings): Loaded {
  const files = readServingFiles(s.dir);
  if (!files.ok) return files;
  const certs = files.certs;
  const inspection = inspectServingCerts(certs, {
    ...s.required,
    now: s.now,
    renewBeforeMs: s.renewBeforeMs,
  });
  return inspection.ok ? { ...inspection, certs } : inspection;
}

function issue(s: Settings, why: string): EnsureServingCertsResult {
  const ca = reusableCa(s);
  const leaf = generateServingCert({
    ca: ca.pair,
    dnsNames: s.dnsNames,
    ipAddresses: s.ipAddresses,
    validityDays: s.validityDays,
    now: s.now,
  });
  try {
    writeCertDirFiles(s.dir, [
      { name: CA_CERT_FILE, data: ca.pair.certPem, mode: 0o644 },
      { name: CA_KEY_FILE, data: ca.pair.keyPem, mode: 0o600 },
      { name: CERT_FILE, data: leaf.certPem, mode: 0o644 },
      { name: KEY_FILE, data: leaf.keyPem, mode: 0o600 },
    ]);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new FnPinnerError('BAD_CONFIG', `write serving certificate to ${s.dir}: ${detail}`, { cause: err });
  }
  const caNote = ca.problem === undefined ? 'kept the CA' : `new CA, because ${ca.problem}`;
  return {
    certs: { caPem: ca.pair.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem },
    generated: true,
    caGenerated: ca.problem !== undefined,
    notAfter: new Date(s.now.getTime() + s.validityDays * DAY_MS),
    renewalDue: undefined,
    reason: `issued a new certificate in ${s.dir} because ${why}; ${caNote}`,
  };
}

/** The CA on disk while it can sign a leaf for its whole life; otherwise a new one and why. */
function reusableCa(s: Settings): { pair: CertKeyPair; problem: string | undefined } {
  const caCert = readCertDirFile(s.dir, CA_CERT_FILE);
  const caKey = readCertDirFile(s.dir, CA_KEY_FILE);
  let problem: string;
  if (!caCert.ok) problem = `${CA_CERT_FILE} is ${caCert.error}`;
  else if (!caKey.ok) problem = `${CA_KEY_FILE} is ${caKey.error}`;
  else {
    const leafExpiry = new Date(s.now.getTime() + s.validityDays * DAY_MS);
    const caProblem = inspectCa({ caPem: caCert.data, caKeyPem: caKey.data }, s.now, leafExpiry);
    if (caProblem === undefined)
      return { pair: { certPem: caCert.data, keyPem: caKey.data }, problem: undefined };
    problem = caProblem;
  }
  const commonName = `${s.service}.${s.namespace} webhook CA`;
  const validityDays = Math.max(MIN_CA_VALIDITY_DAYS, 2 * s.validityDays);
  return { pair: generateCa({ commonName, validityDays, now: s.now }), problem };
}
