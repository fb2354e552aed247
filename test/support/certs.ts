import { X509Certificate } from 'node:crypto';

/** What tests read back from a certificate fn-pinner wrote (node:crypto's view, not node-forge's). */
export interface CertDescription {
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ipAddresses: string[];
  isCa: boolean;
  /** Hex, as printed by node:crypto (upper case, no leading sign). */
  serialNumber: string;
}

export function describeCert(pem: string): CertDescription {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(pem);
  } catch (err) {
    throw new Error(`describe certificate: not a PEM X.509 certificate (${(err as Error).message})`, {
      cause: err,
    });
  }
  const names = parseSubjectAltName(x509.subjectAltName);
  return {
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    dnsNames: names.dns,
    ipAddresses: names.ip,
    isCa: x509.ca,
    serialNumber: x509.serialNumber,
  };
}

function parseSubjectAltName(san: string | undefined): { dns: string[]; ip: string[] } {
  const result = { dns: [] as string[], ip: [] as string[] };
  if (!san) return result;
  const entry = /(DNS|IP Address|[A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,\s*|$)/g;
  for (const match of san.matchAll(entry)) {
    const [, kind, raw = ''] = match;
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    if (kind === 'DNS') result.dns.push(value);
    else if (kind === 'IP Address') result.ip.push(canonicalIp(value));
  }
  return result;
}

function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}
