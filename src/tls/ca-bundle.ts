import { X509Certificate } from 'node:crypto';

import { pemBlocks } from './pem.js';

/** The `caBundle` field of a MutatingWebhookConfiguration: the PEM, base64-encoded. */
export function caBundle(caPem: string): string {
  return Buffer.from(caPem, 'utf8').toString('base64');
}

/** CAs kept in a bundle besides the required ones: replicas and rollouts overlap. */
const MAX_BUNDLE_CAS = 3;

/** The CA certificates of a caBundle (base64 of PEM), in order. */
export function bundleCas(bundle: string | undefined): string[] {
  return pemBlocks(Buffer.from(bundle ?? '', 'base64').toString('utf8'));
}

/**
 * Adds the CAs of `required` (a caBundle too: every CA in it must be trusted) to `existing`. A bundle that
 * already holds them all is returned as it is, so replicas that agree never rewrite it (nor conflict). A
 * new replica (or a restarted pod) may serve with a new CA, and replacing the bundle would make the API
 * server reject the replicas still serving with the old one. So: the required CAs first, then the others
 * that are still valid, at most MAX_BUNDLE_CAS in all unless more are required, without duplicates.
 */
export function mergeCaBundle(existing: string | undefined, required: string): string {
  const wanted = bundleCas(required);
  if (wanted.length === 0) return required;
  const current = bundleCas(existing);
  if (existing !== undefined && wanted.every((pem) => current.includes(pem))) return existing;
  const now = Date.now();
  const others = current.filter((pem) => {
    if (wanted.includes(pem)) return false;
    try {
      return Date.parse(new X509Certificate(pem).validTo) > now;
    } catch {
      return false;
    }
  });
  const kept = [...wanted, ...others].slice(0, Math.max(MAX_BUNDLE_CAS, wanted.length));
  return Buffer.from(`${kept.join('\n')}\n`).toString('base64');
}
