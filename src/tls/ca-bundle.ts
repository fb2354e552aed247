import { X509Certificate } from 'node:crypto';

import { pemBlocks } from './pem.js';

/** The `caBundle` field of a MutatingWebhookConfiguration: the PEM, base64-encoded. */
export function caBundle(caPem: string): string {
  return Buffer.from(caPem, 'utf8').toString('base64');
}

/** CAs kept in a bundle: the new one and the most recent others, so replicas and rollouts overlap. */
const MAX_BUNDLE_CAS = 3;

/**
 * A new replica (or a restarted pod) may serve with a new CA; replacing the bundle would make the API server
 * reject the replicas still serving with the old one. So: the new CA first, then the others that are still
 * valid, at most MAX_BUNDLE_CAS, without duplicates.
 */
export function mergeCaBundle(existing: string | undefined, added: string): string {
  const pems = (b64: string | undefined): string[] =>
    pemBlocks(Buffer.from(b64 ?? '', 'base64').toString('utf8'));
  const [fresh] = pems(added);
  if (!fresh) return added;
  const now = Date.now();
  const others = pems(existing).filter((pem) => {
    if (pem === fresh) return false;
    try {
      return Date.parse(new X509Certificate(pem).validTo) > now;
    } catch {
      return false;
    }
  });
  const kept = [fresh, ...others].slice(0, MAX_BUNDLE_CAS);
  return Buffer.from(`${kept.join('\n')}\n`).toString('base64');
}
