import { FnPinnerError } from '../errors.js';

/** `os/arch[/variant]`, as in OCI image index platform entries. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

const PART_RE = /^[a-z0-9_.-]+$/;

/** Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`. */
export function parsePlatform(input: string): Platform {
  const parts = input.trim().toLowerCase().split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !architecture || parts.some((p) => !PART_RE.test(p))) {
    throw new FnPinnerError('BAD_CONFIG', `parse platform ${JSON.stringify(input)}: want OS/ARCH[/VARIANT]`);
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** containerd normalises arm64's default variant to v8 and arm's to v7; do the same so `linux/arm64` finds `v8`. */
function normalisedVariant(p: Platform): string {
  if (p.variant) return p.variant;
  if (p.architecture === 'arm64') return 'v8';
  if (p.architecture === 'arm') return 'v7';
  return '';
}

/** True when `candidate` can serve `wanted`. A wanted platform without a variant accepts the default one. */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  if (wanted.os !== candidate.os || wanted.architecture !== candidate.architecture) return false;
  if (!wanted.variant && !candidate.variant) return true;
  return normalisedVariant(wanted) === normalisedVariant(candidate);
}
