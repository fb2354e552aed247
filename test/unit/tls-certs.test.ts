import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import forge from 'node-forge';
import { generateCa, generateServingCert } from '../../src/tls/certs.js';
import { describeCert } from '../support/certs.js';
import type { CertKeyPair } from '../../src/tls/certs.js';
import { isFnPinnerError } from '../../src/errors.js';
import { parsePemCertificates } from '../../src/tls/pem.js';

const NOW = new Date('2026-01-15T12:00:00Z');
const ca = generateCa({ commonName: 'Unit Test CA', validityDays: 30, now: NOW });
const leaf = generateServingCert({
  ca,
  dnsNames: ['fn-pinner.fn-system.svc', 'localhost'],
  ipAddresses: ['127.0.0.1', '::1'],
  validityDays: 10,
  now: NOW,
});

function extension(pair: CertKeyPair, name: string): Record<string, unknown> {
  const ext = forge.pki.certificateFromPem(pair.certPem).getExtension(name);
  expect(ext).toBeTruthy();
  return ext as Record<string, unknown>;
}

describe('generateCa', () => {
  it('is a self-signed CA with the requested subject and validity', () => {
    const x509 = new X509Certificate(ca.certPem);
    expect(x509.ca).toBe(true);
    expect(x509.subject).toBe('CN=Unit Test CA');
    expect(x509.issuer).toBe(x509.subject);
    expect(x509.checkIssued(x509)).toBe(true);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(new Date(x509.validFrom).getTime()).toBe(NOW.getTime() - 5 * 60_000);
    expect(new Date(x509.validTo).getTime()).toBe(NOW.getTime() + 30 * 86_400_000);
  });

  it('marks basicConstraints and keyUsage critical and has a subject key id', () => {
    expect(extension(ca, 'basicConstraints')).toMatchObject({ cA: true, critical: true });
    expect(extension(ca, 'keyUsage')).toMatchObject({ keyCertSign: true, cRLSign: true, critical: true });
    expect(extension(ca, 'keyUsage').digitalSignature).toBeFalsy();
    expect(extension(ca, 'subjectKeyIdentifier').subjectKeyIdentifier).toMatch(/^[0-9a-f]{40}$/);
  });

  it('returns a PKCS#8 key matching the certificate', () => {
    expect(ca.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
    const fromKey = createPublicKey(createPrivateKey(ca.keyPem)).export({ type: 'spki', format: 'der' });
    const fromCert = new X509Certificate(ca.certPem).publicKey.export({ type: 'spki', format: 'der' });
    expect(fromKey.equals(fromCert)).toBe(true);
  });

  it('uses a default common name', () => {
    expect(new X509Certificate(generateCa().certPem).subject).toBe('CN=fn-pinner CA');
  });
});

describe('generateServingCert', () => {
  it('chains to the CA', () => {
    const caX509 = new X509Certificate(ca.certPem);
    const x509 = new X509Certificate(leaf.certPem);
    expect(x509.checkIssued(caX509)).toBe(true);
    expect(x509.verify(caX509.publicKey)).toBe(true);
    expect(x509.issuer).toBe('CN=Unit Test CA');
    expect(x509.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true);
  });

  it('does not chain to another CA', () => {
    const other = new X509Certificate(generateCa().certPem);
    const x509 = new X509Certificate(leaf.certPem);
    expect(x509.verify(other.publicKey)).toBe(false);
  });

  it('has the first DNS name as CN, and all DNS and IP SANs', () => {
    const x509 = new X509Certificate(leaf.certPem);
    expect(x509.subject).toBe('CN=fn-pinner.fn-system.svc');
    expect(x509.ca).toBe(false);
    expect(x509.checkHost('fn-pinner.fn-system.svc')).toBe('fn-pinner.fn-system.svc');
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkHost('other.example')).toBeUndefined();
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkIP('::1')).toBe('::1');
    expect(x509.checkIP('10.0.0.1')).toBeUndefined();
  });

  it('has a positive 16-byte serial without padding', () => {
    for (let i = 0; i < 5; i++) {
      const pair = i === 0 ? leaf : generateServingCert({ ca, dnsNames: ['x'] });
      const serial = new X509Certificate(pair.certPem).serialNumber;
      expect(serial).toMatch(/^[4-7][0-9A-F]{31}$/);
    }
  });

  it('has leaf key usages, serverAuth and an authority key id matching the CA', () => {
    expect(extension(leaf, 'keyUsage')).toMatchObject({
      digitalSignature: true,
      keyEncipherment: true,
      critical: true,
    });
    expect(extension(leaf, 'keyUsage').keyCertSign).toBeFalsy();
    expect(extension(leaf, 'extKeyUsage')).toMatchObject({ serverAuth: true });
    expect(new X509Certificate(leaf.certPem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    const caSki = extension(ca, 'subjectKeyIdentifier').subjectKeyIdentifier as string;
    const akiDer = forge.util.bytesToHex(
      (extension(leaf, 'authorityKeyIdentifier').value as string).slice(4), // SEQUENCE + [0] headers
    );
    expect(akiDer).toBe(caSki);
  });

  it('is valid from five minutes before now for the requested days', () => {
    const x509 = new X509Certificate(leaf.certPem);
    expect(new Date(x509.validFrom).toISOString()).toBe('2026-01-15T11:55:00.000Z');
    expect(new Date(x509.validTo).toISOString()).toBe('2026-01-25T12:00:00.000Z');
  });

  it('rejects an empty DNS name list, a bad CA and a bad validity', () => {
    const calls = [
      () => generateServingCert({ ca, dnsNames: [] }),
      () => generateServingCert({ ca: { certPem: 'nope', keyPem: 'nope' }, dnsNames: ['a'] }),
      () => generateServingCert({ ca, dnsNames: ['a'], validityDays: 0 }),
    ];
    for (const call of calls) {
      let caught: unknown;
      try {
        call();
      } catch (err) {
        caught = err;
      }
      expect(isFnPinnerError(caught)).toBe(true);
    }
  });
});

describe('describeCert', () => {
  it('describes a leaf', () => {
    expect(describeCert(leaf.certPem)).toEqual({
      notBefore: new Date('2026-01-15T11:55:00Z'),
      notAfter: new Date('2026-01-25T12:00:00Z'),
      dnsNames: ['fn-pinner.fn-system.svc', 'localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      isCa: false,
      serialNumber: new X509Certificate(leaf.certPem).serialNumber,
    });
  });

  it('describes a CA', () => {
    const d = describeCert(ca.certPem);
    expect(d.isCa).toBe(true);
    expect(d.dnsNames).toEqual([]);
    expect(d.ipAddresses).toEqual([]);
  });
});

describe('parsePemCertificates (the registry CA check at start)', () => {
  it('parses every certificate of a bundle', () => {
    const other = generateCa({ commonName: 'other' });
    expect(parsePemCertificates(`${ca.certPem}\n${other.certPem}`).map((c) => c.subject)).toEqual([
      'CN=Unit Test CA',
      'CN=other',
    ]);
  });

  it('rejects a file with no certificate in it', () => {
    expect(() => parsePemCertificates('not a certificate')).toThrow('no PEM certificate in it');
  });

  it('rejects garbage between BEGIN and END lines, naming the block', () => {
    const garbage = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n';
    expect(() => parsePemCertificates(`${ca.certPem}\n${garbage}`)).toThrow(
      /^certificate 2 of 2 cannot be parsed \(/,
    );
  });
});
