import { X509Certificate } from 'node:crypto';

import { FnPinnerError } from '../errors.js';

const BLOCK_RE = /-----BEGIN CERTIFICATE-----\r?\n([\s\S]*?)-----END CERTIFICATE-----/g;

/**
 * Checks that a PEM bundle holds at least one certificate and that every CERTIFICATE block in it parses:
 * a bundle with a header but garbage inside would otherwise pass a text check and fail every registry
 * TLS handshake later. Returns how many certificates it holds; throws BAD_CONFIG naming `source`.
 */
export function assertPemCertificates(pem: string, source: string): number {
  const blocks = [...pem.matchAll(BLOCK_RE)];
  if (blocks.length === 0) {
    throw new FnPinnerError('BAD_CONFIG', `load CA bundle ${source}: holds no PEM certificate`);
  }
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block[0]);
    } catch (err) {
      throw new FnPinnerError(
        'BAD_CONFIG',
        `load CA bundle ${source}: certificate ${i + 1} of ${blocks.length} is not a valid X.509 certificate`,
        { cause: err },
      );
    }
  }
  return blocks.length;
}
