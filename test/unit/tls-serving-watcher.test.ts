import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Logger } from '../../src/logging.js';
import { writeCertDirFiles } from '../../src/tls/cert-dir.js';
import { generateCa } from '../../src/tls/certs.js';
import { describeCert } from '../support/certs.js';
import { ensureServingCerts } from '../../src/tls/serving.js';
import type { ServingCerts } from '../../src/tls/serving.js';
import { ServingCertManager } from '../../src/tls/serving-watcher.js';
import type { ServingCertManagerOptions } from '../../src/tls/serving-watcher.js';
import { captureLogger } from '../support/capture-logger.js';

jest.setTimeout(30_000);

const DAY = 86_400_000;
const T0 = new Date('2026-01-15T12:00:00Z');
const SVC = { service: 'fn-pinner', namespace: 'porch-fn-system' };

let root: string;
let template: string;
let templateCerts: ServingCerts;
/** A second, unrelated valid set: what cert-manager would publish on renewal. */
let renewed: ServingCerts;
const managers: ServingCertManager[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fn-pinner-watch-'));
  template = join(root, 'template');
  templateCerts = ensureServingCerts({ dir: template, ...SVC, generate: true, now: T0 }).certs;
  renewed = ensureServingCerts({ dir: join(root, 'renewed'), ...SVC, generate: true, now: T0 }).certs;
});

afterEach(() => {
  for (const m of managers.splice(0)) m.stop();
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
function seededDir(): string {
  const dir = join(root, `case-${++counter}`);
  cpSync(template, dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

function manager(
  opts: Partial<ServingCertManagerOptions> & { dir: string; log: Logger },
): ServingCertManager {
  const m = new ServingCertManager({
    ...SVC,
    clock: () => T0,
    debounceMs: 20,
    checkIntervalMs: 3_600_000,
    ...opts,
  });
  managers.push(m);
  return m;
}

/** What kubelet does when the mounted Secret changes: a new version directory, then swap `..data`. */
function kubeletPublish(dir: string, certs: ServingCerts): void {
  writeCertDirFiles(dir, [
    { name: 'ca.crt', data: certs.caPem, mode: 0o644 },
    { name: 'tls.crt', data: certs.certPem, mode: 0o644 },
    { name: 'tls.key', data: certs.keyPem, mode: 0o600 },
  ]);
}

function nextChange(m: ServingCertManager): Promise<ServingCerts> {
  return new Promise((resolve) => {
    const off = m.onChange((certs) => {
      off();
      resolve(certs);
    });
  });
}

describe('ServingCertManager', () => {
  describe('in cert-manager mode (generate: false)', () => {
    it('reloads when kubelet swaps the mounted files', async () => {
      const dir = seededDir();
      const { log } = captureLogger();
      const m = manager({ dir, log, generate: false });
      expect(m.certs).toEqual(templateCerts);
      m.start();
      const changed = nextChange(m);
      kubeletPublish(dir, renewed);
      await expect(changed).resolves.toEqual(renewed);
      expect(m.certs).toEqual(renewed);
    });

    it('keeps the current certificate and logs an error when the new files are invalid, writing nothing', () => {
      const dir = seededDir();
      const { log, lines } = captureLogger();
      const m = manager({ dir, log, generate: false });
      const onChange = jest.fn();
      m.onChange(onChange);
      kubeletPublish(dir, { ...renewed, keyPem: generateCa().keyPem });
      const before = readdirSync(dir).sort();

      expect(m.check()).toBe(false);
      expect(m.certs).toEqual(templateCerts);
      expect(onChange).not.toHaveBeenCalled();
      expect(readdirSync(dir).sort()).toEqual(before);
      const error = lines.find((l) => l.level === 'error');
      expect(error?.msg).toMatch(/still serving the current certificate/);
      expect(error?.err?.message).toMatch(/tls\.key does not match the certificate in tls\.crt/);
    });

    it('throws at construction when there is nothing valid to serve', () => {
      const { log } = captureLogger();
      expect(() => manager({ dir: join(root, 'absent'), log, generate: false })).toThrow(
        /no ca\.crt, tls\.crt or tls\.key/,
      );
    });

    it('stops reacting after stop()', async () => {
      const dir = seededDir();
      const { log } = captureLogger();
      const m = manager({ dir, log, generate: false });
      const onChange = jest.fn();
      m.onChange(onChange);
      m.start();
      m.stop();
      kubeletPublish(dir, renewed);
      await new Promise((r) => setTimeout(r, 150));
      expect(onChange).not.toHaveBeenCalled();
      expect(m.certs).toEqual(templateCerts);
    });
  });

  describe('when self-managed (generate: true)', () => {
    it('rotates on the periodic check once the leaf is due, keeping the CA', async () => {
      const dir = seededDir();
      const { log, lines } = captureLogger();
      let now = T0;
      const m = manager({ dir, log, generate: true, watch: false, clock: () => now, checkIntervalMs: 25 });
      m.start();
      const changed = nextChange(m);
      now = new Date(T0.getTime() + 340 * DAY);
      const certs = await changed;
      expect(certs.caPem).toBe(templateCerts.caPem);
      expect(describeCert(certs.certPem).serialNumber).not.toBe(
        describeCert(templateCerts.certPem).serialNumber,
      );
      expect(describeCert(certs.certPem).notAfter.getTime()).toBe(now.getTime() + 365 * DAY);
      const info = lines.find((l) => l.msg === 'serving certificate changed') as unknown as Record<
        string,
        unknown
      >;
      expect(info).toMatchObject({ generated: true, caGenerated: false });
      expect(info.reason).toMatch(/within the 30-day renewal window; kept the CA/);
    });

    it('does not report a change for its own write seen by the watch', async () => {
      const dir = seededDir();
      const { log } = captureLogger();
      let now = T0;
      const m = manager({ dir, log, generate: true, clock: () => now });
      m.start();
      const onChange = jest.fn();
      m.onChange(onChange);
      now = new Date(T0.getTime() + 340 * DAY);
      expect(m.check()).toBe(true);
      await new Promise((r) => setTimeout(r, 150));
      expect(onChange).toHaveBeenCalledTimes(1);
    });

    it('survives a throwing listener', () => {
      const dir = seededDir();
      const { log, lines } = captureLogger();
      let now = T0;
      const m = manager({ dir, log, generate: true, watch: false, clock: () => now });
      const second = jest.fn();
      m.onChange(() => {
        throw new Error('boom');
      });
      m.onChange(second);
      now = new Date(T0.getTime() + 340 * DAY);
      expect(m.check()).toBe(true);
      expect(second).toHaveBeenCalledTimes(1);
      expect(lines.some((l) => l.level === 'error' && l.msg === 'serving certificate listener failed')).toBe(
        true,
      );
    });

    it('issues into an empty directory at construction', () => {
      const dir = join(root, `case-${++counter}`);
      const { log, lines } = captureLogger();
      const m = manager({ dir, log, generate: true });
      expect(describeCert(m.certs.certPem).dnsNames).toContain('fn-pinner.porch-fn-system.svc');
      expect(lines[0]).toMatchObject({
        msg: 'serving certificate ready',
        generated: true,
        caGenerated: true,
      });
    });
  });
});
