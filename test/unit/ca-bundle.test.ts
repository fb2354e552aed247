import { describe, expect, it } from '@jest/globals';

import { bundleCas, mergeCaBundle } from '../../src/tls/ca-bundle.js';
import { generateCa } from '../../src/tls/certs.js';

const b64 = (pems: string[]): string => Buffer.from(pems.join('')).toString('base64');
const decoded = (bundle: string): string => Buffer.from(bundle, 'base64').toString('utf8');

describe('mergeCaBundle', () => {
  const a = generateCa({ commonName: 'a' }).certPem;
  const b = generateCa({ commonName: 'b' }).certPem;
  const c = generateCa({ commonName: 'c' }).certPem;
  const d = generateCa({ commonName: 'd' }).certPem;
  const expired = generateCa({ commonName: 'old', now: new Date('2000-01-01'), validityDays: 1 }).certPem;

  it('adds the new CA in front of the ones still serving, so an old replica keeps working', () => {
    const merged = decoded(mergeCaBundle(b64([a]), b64([b])));
    expect(merged.indexOf(b.trim())).toBe(0);
    expect(merged).toContain(a.trim());
  });

  it('is a no-op when the CA is already first, drops expired CAs, and keeps at most three', () => {
    const once = mergeCaBundle(b64([a]), b64([b]));
    expect(mergeCaBundle(once, b64([b]))).toBe(once);
    const merged = decoded(mergeCaBundle(b64([c, b, a, expired]), b64([d])));
    expect(merged).toContain(d.trim());
    expect(merged).toContain(c.trim());
    expect(merged).toContain(b.trim());
    expect(merged).not.toContain(a.trim());
    expect(merged).not.toContain(expired.trim());
  });

  it('leaves a bundle that already holds every required CA as it is, whatever their order', () => {
    const bundle = b64([c, a, b]);
    expect(mergeCaBundle(bundle, b64([a, b]))).toBe(bundle);
  });

  it('puts every required CA first, in order, and keeps them all even beyond three', () => {
    const merged = bundleCas(mergeCaBundle(b64([d, expired]), b64([a, b, c])));
    expect(merged.map((pem) => pem.trim())).toEqual([a, b, c].map((pem) => pem.trim()));
    const grown = bundleCas(mergeCaBundle(b64([d]), b64([a, b])));
    expect(grown.map((pem) => pem.trim())).toEqual([a, b, d].map((pem) => pem.trim()));
  });

  it('starts a bundle from nothing', () => {
    expect(decoded(mergeCaBundle(undefined, b64([a]))).trim()).toBe(a.trim());
  });
});
