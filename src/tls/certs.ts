import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { FnPinnerError } from '../errors.js';
import { DAY_MS, errorMessage } from './pem.js';

/**
 * X.509 material for the webhook's serving certificate and for test registries: a self-signed CA and
 * leaf certificates signed by it. Keys come from node:crypto (native, fast); node-forge only builds and
 * signs the certificates, because node:crypto cannot create certificates.
 */

export interface CertKeyPair {
  certPem: string;
  /** PKCS#8 PEM ("BEGIN PRIVATE KEY"). */
  keyPem: string;
}

export interface CaOptions {
  commonName?: string;
  validityDays?: number;
  now?: Date;
}

export interface ServingCertOptions {
  ca: CertKeyPair;
  /** At least one; the first becomes the subject CN. */
  dnsNames: string[];
  ipAddresses?: string[];
  validityDays?: number;
  now?: Date;
}

const DEFAULT_CA_DAYS = 3650;
const DEFAULT_LEAF_DAYS = 365;
/** Tolerates clocks that run slightly behind ours (API server, registry, CI machines). */
const BACKDATE_MS = 5 * 60 * 1000;

export function generateCa(opts: CaOptions = {}): CertKeyPair {
  const keys = newKeyPair();
  const cert = newCertificate(keys.publicKey, opts.now, opts.validityDays ?? DEFAULT_CA_DAYS);
  const subject = [{ name: 'commonName', value: opts.commonName ?? 'fn-pinner CA' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

export function generateServingCert(opts: ServingCertOptions): CertKeyPair {
  const commonName = opts.dnsNames[0];
  if (commonName === undefined) {
    throw new FnPinnerError('BAD_CONFIG', 'generate serving certificate: at least one DNS name is required');
  }
  const ca = parseCa(opts.ca);
  const keys = newKeyPair();
  const cert = newCertificate(keys.publicKey, opts.now, opts.validityDays ?? DEFAULT_LEAF_DAYS);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: altNames(opts.dnsNames, opts.ipAddresses ?? []) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: authorityKeyId(ca.cert) },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** Reads the facts needed to decide whether a certificate can be reused or must be rotated. */

interface KeyPair {
  publicKey: forge.pki.rsa.PublicKey;
  privateKey: forge.pki.rsa.PrivateKey;
  keyPem: string;
}

function newKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey),
    privateKey: forge.pki.privateKeyFromPem(privateKey),
    keyPem: privateKey,
  };
}

function newCertificate(
  publicKey: forge.pki.rsa.PublicKey,
  now: Date | undefined,
  validityDays: number,
): forge.pki.Certificate {
  if (!Number.isFinite(validityDays) || validityDays <= 0) {
    throw new FnPinnerError(
      'BAD_CONFIG',
      `generate certificate: validityDays must be positive, got ${validityDays}`,
    );
  }
  const start = (now ?? new Date()).getTime();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(start - BACKDATE_MS);
  cert.validity.notAfter = new Date(start + validityDays * DAY_MS);
  return cert;
}

/**
 * forge copies the hex into the DER INTEGER as-is: a leading 0x00 byte is illegal padding (OpenSSL then
 * rejects the certificate) and a leading byte >= 0x80 makes the serial negative. 0x40..0x7f avoids both.
 */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = 0x40 | ((bytes[0] ?? 0) & 0x3f);
  return bytes.toString('hex');
}

function parseCa(ca: CertKeyPair): { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } {
  try {
    return {
      cert: forge.pki.certificateFromPem(ca.certPem),
      key: forge.pki.privateKeyFromPem(ca.keyPem),
    };
  } catch (err) {
    throw new FnPinnerError(
      'TLS',
      `generate serving certificate: cannot read the CA (${errorMessage(err)})`,
      {
        cause: err,
      },
    );
  }
}

type AltName = { type: 2; value: string } | { type: 7; ip: string };

function altNames(dnsNames: string[], ipAddresses: string[]): AltName[] {
  return [
    ...dnsNames.map((value): AltName => ({ type: 2, value })),
    ...ipAddresses.map((ip): AltName => ({ type: 7, ip })),
  ];
}

/** Prefers the CA's own subjectKeyIdentifier so chains built by other tools (openssl) still link up. */
function authorityKeyId(ca: forge.pki.Certificate): string {
  const ext = ca.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
  if (ext?.subjectKeyIdentifier) return forge.util.hexToBytes(ext.subjectKeyIdentifier);
  return ca.generateSubjectKeyIdentifier().getBytes();
}

/**
 * node:crypto renders SANs as "DNS:a, IP Address:127.0.0.1"; values with special characters are
 * JSON-quoted (CVE-2021-44532), so quoted values are decoded rather than split on commas.
 */

/** OpenSSL prints IPv6 SANs uncompressed (0:0:0:0:0:0:0:1); compare them in the usual short form. */
