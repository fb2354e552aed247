import { describe, expect, it } from '@jest/globals';

import { mergeCaBundle } from '../../src/tls/ca-bundle.js';
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

  it('starts a bundle from nothing', () => {
    expect(decoded(mergeCaBundle(undefined, b64([a]))).trim()).toBe(a.trim());
  });
});
