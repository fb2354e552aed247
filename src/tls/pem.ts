import { X509Certificate } from 'node:crypto';

/** Small PEM helpers shared by the CA checks, the caBundle merge and the certificate logs (no node-forge). */
export const DAY_MS = 24 * 60 * 60 * 1000;

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificate blocks of a PEM bundle, in order. */
export function pemBlocks(text: string): string[] {
  return text.match(PEM_CERT_RE) ?? [];
}

/**
 * Parses every certificate of a PEM bundle; throws naming the first block that is not an X.509 certificate.
 * A file that merely contains the BEGIN line is not a CA: Node would reject it only at the first TLS call.
 */
export function parsePemCertificates(text: string): X509Certificate[] {
  const blocks = pemBlocks(text);
  if (blocks.length === 0) throw new Error('no PEM certificate in it');
  return blocks.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch (err) {
      throw new Error(`certificate ${i + 1} of ${blocks.length} cannot be parsed (${errorMessage(err)})`, {
        cause: err,
      });
    }
  });
}

/** The serial number for log lines; undefined for a PEM that does not parse. */
export function serialOf(certPem: string): string | undefined {
  try {
    return new X509Certificate(certPem).serialNumber;
  } catch {
    return undefined;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
