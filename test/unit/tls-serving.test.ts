import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  closeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import forge from 'node-forge';
import { isFnPinnerError } from '../../src/errors.js';
import { writeCertDirFiles } from '../../src/tls/cert-dir.js';
import { generateCa, generateServingCert } from '../../src/tls/certs.js';
import { describeCert } from '../support/certs.js';
import type { CertKeyPair } from '../../src/tls/certs.js';
import { caBundle } from '../../src/tls/ca-bundle.js';
import { ensureServingCerts, servingDnsNames } from '../../src/tls/serving.js';
import type { EnsureServingCertsOptions, ServingCerts } from '../../src/tls/serving.js';

// RSA key generation takes 0.1–0.5 s per key on a small CI machine.
jest.setTimeout(30_000);

const DAY = 86_400_000;
const T0 = new Date('2026-01-15T12:00:00Z');
const SVC = { service: 'fn-pinner', namespace: 'porch-fn-system' };
const FILES = ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'];

let root: string;
/** One self-managed directory issued at T0, copied into each test that starts from valid files. */
let template: string;
let templateCerts: ServingCerts;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fn-pinner-serving-'));
  template = join(root, 'template');
  templateCerts = ensureServingCerts({ dir: template, ...SVC, generate: true, now: T0 }).certs;
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
function freshDir(seed = false): string {
  const dir = join(root, `case-${++counter}`);
  if (seed) cpSync(template, dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

function ensure(
  dir: string,
  extra: Partial<EnsureServingCertsOptions> = {},
): ReturnType<typeof ensureServingCerts> {
  return ensureServingCerts({ dir, ...SVC, generate: true, now: T0, ...extra });
}

function read(dir: string, name: string): string {
  return readFileSync(join(dir, name), 'utf8');
}

function serial(pem: string): string {
  return describeCert(pem).serialNumber;
}

/** Every entry of the directory with what it is, to show nothing was touched. */
function snapshot(dir: string): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    entries[name] = st.isSymbolicLink() ? `-> ${readlinkSync(path)}` : `${st.ino}:${st.mtimeMs}`;
  }
  return entries;
}

function expectBadConfig(fn: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isFnPinnerError(caught, 'BAD_CONFIG')).toBe(true);
  expect((caught as Error).message).toMatch(message);
}

describe('ensureServingCerts', () => {
  describe('when the directory is empty', () => {
    it('issues a CA and a leaf for the service names, localhost and 127.0.0.1', () => {
      const dir = freshDir();
      const result = ensure(dir);
      expect(result).toMatchObject({ generated: true, caGenerated: true, renewalDue: undefined });
      expect(result.reason).toMatch(/no ca\.crt, tls\.crt or tls\.key/);
      expect(result.certs).toEqual({
        caPem: read(dir, 'ca.crt'),
        certPem: read(dir, 'tls.crt'),
        keyPem: read(dir, 'tls.key'),
      });

      const leaf = new X509Certificate(result.certs.certPem);
      const ca = new X509Certificate(result.certs.caPem);
      expect(leaf.verify(ca.publicKey)).toBe(true);
      expect(ca.ca).toBe(true);
      const described = describeCert(result.certs.certPem);
      expect(described.dnsNames).toEqual([
        'fn-pinner.porch-fn-system.svc',
        'fn-pinner.porch-fn-system.svc.cluster.local',
        'localhost',
      ]);
      expect(described.ipAddresses).toEqual(['127.0.0.1']);
      expect(described.notAfter.getTime()).toBe(T0.getTime() + 365 * DAY);
      expect(result.notAfter.getTime()).toBe(T0.getTime() + 365 * DAY);
    });

    it('writes keys 0600 and certificates 0644, as kubelet-style symlinks into one version directory', () => {
      const dir = freshDir();
      ensure(dir);
      for (const name of FILES) {
        expect(lstatSync(join(dir, name)).isSymbolicLink()).toBe(true);
        expect(readlinkSync(join(dir, name))).toBe(`..data/${name}`);
        const mode = statSync(join(dir, name)).mode & 0o777;
        expect(mode).toBe(name.endsWith('.key') ? 0o600 : 0o644);
      }
      const versions = readdirSync(dir).filter((n) => n.startsWith('..') && n !== '..data');
      expect(versions).toHaveLength(1);
      expect(readlinkSync(join(dir, '..data'))).toBe(versions[0]);
    });
  });

  describe('when valid files exist', () => {
    it('reuses them and touches nothing', () => {
      const dir = freshDir(true);
      const before = snapshot(dir);
      const versionBefore = snapshot(realpathSync(join(dir, '..data')));
      const result = ensure(dir, { now: new Date(T0.getTime() + 100 * DAY) });
      expect(result).toMatchObject({ generated: false, caGenerated: false, certs: templateCerts });
      expect(result.reason).toMatch(/^reused the certificate/);
      expect(snapshot(dir)).toEqual(before);
      expect(snapshot(realpathSync(join(dir, '..data')))).toEqual(versionBefore);
    });

    it('reuses plain files written by other tools (no ..data layout)', () => {
      const dir = freshDir();
      mkdirSync(dir);
      for (const name of FILES) writeFileSync(join(dir, name), read(template, name));
      expect(ensure(dir)).toMatchObject({ generated: false, certs: templateCerts });
    });
  });

  describe('when the leaf is within the renewal window', () => {
    it('issues a new leaf from the same CA, so the caBundle stays the same', () => {
      const dir = freshDir(true);
      const result = ensure(dir, { now: new Date(T0.getTime() + 340 * DAY) });
      expect(result).toMatchObject({ generated: true, caGenerated: false });
      expect(result.reason).toMatch(/tls\.crt expires at .*within the 30-day renewal window; kept the CA/);
      expect(result.certs.caPem).toBe(templateCerts.caPem);
      expect(read(dir, 'ca.key')).toBe(read(template, 'ca.key'));
      expect(serial(result.certs.certPem)).not.toBe(serial(templateCerts.certPem));
      expect(
        new X509Certificate(result.certs.certPem).verify(new X509Certificate(templateCerts.caPem).publicKey),
      ).toBe(true);
    });

    it('issues a new CA too when the old one would expire before the new leaf', () => {
      const dir = freshDir();
      const ca = generateCa({ validityDays: 400, now: T0 });
      const leaf = generateServingCert({
        ca,
        dnsNames: servingDnsNames(SVC.service, SVC.namespace),
        ipAddresses: ['127.0.0.1'],
        now: T0,
      });
      writeCertDirFiles(dir, [
        { name: 'ca.crt', data: ca.certPem, mode: 0o644 },
        { name: 'ca.key', data: ca.keyPem, mode: 0o600 },
        { name: 'tls.crt', data: leaf.certPem, mode: 0o644 },
        { name: 'tls.key', data: leaf.keyPem, mode: 0o600 },
      ]);
      const result = ensure(dir, { now: new Date(T0.getTime() + 340 * DAY) });
      expect(result).toMatchObject({ generated: true, caGenerated: true });
      expect(result.reason).toMatch(/new CA, because ca\.crt expires at .* before a new leaf would/);
      expect(result.certs.caPem).not.toBe(ca.certPem);
    });
  });

  describe('when the files are not fit to serve', () => {
    it('re-issues when a required SAN is missing, keeping the CA', () => {
      const dir = freshDir(true);
      const result = ensure(dir, {
        extraDnsNames: ['fn-pinner.example.com'],
        ipAddresses: ['127.0.0.1', '::1'],
      });
      expect(result).toMatchObject({ generated: true, caGenerated: false });
      expect(result.reason).toMatch(/lacks the subject alternative names fn-pinner\.example\.com, ::1/);
      expect(describeCert(result.certs.certPem)).toMatchObject({
        dnsNames: expect.arrayContaining(['fn-pinner.example.com']),
        ipAddresses: ['127.0.0.1', '::1'],
      });
    });

    it('re-issues when tls.key does not match tls.crt', () => {
      const dir = freshDir(true);
      writeFileSync(join(dir, 'tls.key'), generateCa().keyPem);
      const result = ensure(dir);
      expect(result.generated).toBe(true);
      expect(result.reason).toMatch(/tls\.key does not match the certificate in tls\.crt/);
      // The published pair matches again.
      expect(
        new X509Certificate(read(dir, 'tls.crt')).checkPrivateKey(createPrivateKey(read(dir, 'tls.key'))),
      ).toBe(true);
    });

    it('re-issues when tls.crt was signed by another CA, or is expired or garbage', () => {
      const other = generateCa({ now: T0 });
      const foreign = generateServingCert({
        ca: other,
        dnsNames: servingDnsNames(SVC.service, SVC.namespace),
        ipAddresses: ['127.0.0.1'],
        now: T0,
      });
      const cases: Array<[(dir: string) => void, RegExp, Date]> = [
        [
          (dir) => {
            writeFileSync(join(dir, 'tls.crt'), foreign.certPem);
            writeFileSync(join(dir, 'tls.key'), foreign.keyPem);
          },
          /tls\.crt does not chain to ca\.crt/,
          T0,
        ],
        [() => undefined, /tls\.crt expired at/, new Date(T0.getTime() + 400 * DAY)],
        [
          (dir) => writeFileSync(join(dir, 'tls.crt'), 'not a certificate'),
          /tls\.crt holds no PEM certificate/,
          T0,
        ],
        [(dir) => rmSync(join(dir, 'tls.key')), /tls\.key is missing/, T0],
      ];
      for (const [damage, reason, now] of cases) {
        const dir = freshDir(true);
        damage(dir);
        const result = ensure(dir, { now });
        expect(result.reason).toMatch(reason);
        expect(result.generated).toBe(true);
      }
    });
  });

  describe('when generation is off (cert-manager mode)', () => {
    it('refuses to write into an empty directory, naming the files', () => {
      const dir = freshDir();
      expectBadConfig(
        () => ensure(dir, { generate: false }),
        /no ca\.crt, tls\.crt or tls\.key in .*nothing was written/,
      );
      expect(existsSync(dir)).toBe(false);
    });

    it('refuses invalid files and leaves them alone', () => {
      const dir = freshDir(true);
      writeFileSync(join(dir, 'tls.key'), generateCa().keyPem);
      const before = snapshot(dir);
      expectBadConfig(
        () => ensure(dir, { generate: false }),
        /tls\.key does not match the certificate in tls\.crt/,
      );
      expect(snapshot(dir)).toEqual(before);
    });

    it('serves a certificate within the renewal window (the issuer renews it) and reports it', () => {
      const dir = freshDir(true);
      const result = ensure(dir, { generate: false, now: new Date(T0.getTime() + 340 * DAY) });
      expect(result).toMatchObject({ generated: false, certs: templateCerts });
      expect(result.renewalDue).toMatch(/tls\.crt expires at .* within the 30-day renewal window/);
    });

    it('only requires the name the API server dials', () => {
      const dir = freshDir();
      const ca = generateCa({ now: T0 });
      const leaf = generateServingCert({ ca, dnsNames: ['fn-pinner.porch-fn-system.svc'], now: T0 });
      mkdirSync(dir);
      writeFileSync(join(dir, 'ca.crt'), ca.certPem);
      writeFileSync(join(dir, 'tls.crt'), leaf.certPem);
      writeFileSync(join(dir, 'tls.key'), leaf.keyPem);
      expect(ensure(dir, { generate: false }).generated).toBe(false);
      expectBadConfig(
        () => ensure(dir, { generate: false, namespace: 'other' }),
        /lacks .*fn-pinner\.other\.svc/,
      );
    });

    it('accepts a chain with an intermediate in tls.crt', () => {
      const dir = freshDir();
      const rootCa = generateCa({ commonName: 'Root', now: T0 });
      const intermediate = intermediateCa(rootCa);
      const leaf = generateServingCert({
        ca: intermediate,
        dnsNames: ['fn-pinner.porch-fn-system.svc'],
        now: T0,
      });
      mkdirSync(dir);
      writeFileSync(join(dir, 'ca.crt'), rootCa.certPem);
      writeFileSync(join(dir, 'tls.crt'), leaf.certPem + intermediate.certPem);
      writeFileSync(join(dir, 'tls.key'), leaf.keyPem);
      expect(ensure(dir, { generate: false }).generated).toBe(false);
      writeFileSync(join(dir, 'tls.crt'), leaf.certPem);
      expectBadConfig(() => ensure(dir, { generate: false }), /does not chain to ca\.crt/);
    });
  });

  describe('atomic writes', () => {
    it('publishes a complete new set while readers of the old files keep complete old contents', () => {
      const dir = freshDir(true);
      const fd = openSync(join(dir, 'tls.crt'), 'r');
      ensure(dir, { now: new Date(T0.getTime() + 340 * DAY) });
      const buf = Buffer.alloc(8192);
      const n = readSync(fd, buf, 0, buf.length, 0);
      closeSync(fd);
      expect(buf.subarray(0, n).toString('utf8')).toBe(templateCerts.certPem);
      expect(read(dir, 'tls.crt')).not.toBe(templateCerts.certPem);
    });

    it('ignores and cleans up what a crash mid-write leaves behind', () => {
      const dir = freshDir(true);
      // A version directory that never got published, a half-made ..data_tmp and a temporary name link.
      mkdirSync(join(dir, '..2020_01_01_00_00_00.deadbeef'));
      writeFileSync(join(dir, '..2020_01_01_00_00_00.deadbeef', 'tls.crt'), '-----BEGIN CERT');
      symlinkSync('..2020_01_01_00_00_00.deadbeef', join(dir, '..data_tmp'));
      symlinkSync('..data/tls.crt', join(dir, '.tls.crt.tmp-0badf00d'));
      expect(ensure(dir)).toMatchObject({ generated: false, certs: templateCerts });

      ensure(dir, { now: new Date(T0.getTime() + 340 * DAY) });
      const left = readdirSync(dir).sort();
      expect(left.filter((n) => !FILES.includes(n) && n !== '..data')).toHaveLength(1);
      expect(left).not.toContain('..data_tmp');
      expect(left).not.toContain('.tls.crt.tmp-0badf00d');
    });

    it('turns plain files into links when it has to re-issue', () => {
      const dir = freshDir();
      mkdirSync(dir);
      for (const name of FILES) writeFileSync(join(dir, name), read(template, name));
      const result = ensure(dir, { now: new Date(T0.getTime() + 340 * DAY) });
      expect(result).toMatchObject({ generated: true, caGenerated: false });
      for (const name of FILES) expect(lstatSync(join(dir, name)).isSymbolicLink()).toBe(true);
    });
  });

  it('rejects a renewal window that is not shorter than the validity', () => {
    expectBadConfig(
      () => ensure(freshDir(), { validityDays: 30, renewBeforeDays: 30 }),
      /renewBeforeDays \(30\) must be at least 0 and below validityDays \(30\)/,
    );
  });
});

describe('caBundle', () => {
  it('is the CA PEM in base64', () => {
    expect(Buffer.from(caBundle(templateCerts.caPem), 'base64').toString('utf8')).toBe(templateCerts.caPem);
  });
});

/** certs.ts only makes root CAs; cert-manager chains can have an intermediate, so build one by hand. */
function intermediateCa(rootCa: CertKeyPair): CertKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const issuer = forge.pki.certificateFromPem(rootCa.certPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '4a01';
  cert.validity.notBefore = new Date(T0.getTime() - 60_000);
  cert.validity.notAfter = new Date(T0.getTime() + 1000 * DAY);
  cert.setSubject([{ name: 'commonName', value: 'Intermediate' }]);
  cert.setIssuer(issuer.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(rootCa.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: privateKey };
}
