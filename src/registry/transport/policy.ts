import { BlockList, isIP } from 'node:net';

import { FnPinnerError } from '../../errors.js';
import { splitHostPort, unbracket } from '../../reference/host.js';

/**
 * Which hosts fn-pinner may connect to. Image references come from pods, and a review can be forged by
 * anything that reaches /mutate, so every outbound connection (registry, token realm, blob redirect) is
 * checked twice: on the name before anything else happens, and on each address the name resolves to,
 * inside the dialer, right before connecting (so DNS rebinding cannot slip past the name check).
 *
 * Patterns: `host` (any port), `host:port`, `*.domain` (any name below it, not the domain itself), an IP
 * address (`10.0.0.5`, `[fd00::1]:5000`) or a CIDR (`10.0.0.0/8`, `fd00::/8`). Deny always wins; when any
 * allow pattern is given, only what matches one is contacted.
 */

/** Cloud metadata services and link-local addresses: never a registry, often a credential store. */
export const BUILTIN_DENY: readonly string[] = [
  '169.254.0.0/16',
  'fe80::/10',
  'fd00:ec2::254',
  '100.100.100.200',
];

type Pattern =
  | { kind: 'name'; name: string; port: string; text: string }
  | { kind: 'suffix'; suffix: string; port: string; text: string }
  | { kind: 'net'; list: BlockList; port: string; text: string };

export interface AccessPolicyOptions {
  allow: readonly string[];
  deny: readonly string[];
}

/** The verdict on a name: denied now, or allowed pending the address check (which may still deny). */
export type NameVerdict = { denied: string } | { denied?: undefined; allowedByName: boolean };

function badPattern(text: string, why: string): FnPinnerError {
  return new FnPinnerError('BAD_CONFIG', `parse registry access pattern ${JSON.stringify(text)}: ${why}`);
}

function family(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

function netPattern(text: string, address: string, prefix: number | undefined, port: string): Pattern {
  const list = new BlockList();
  const type = family(address);
  if (prefix === undefined) list.addAddress(address, type);
  else list.addSubnet(address, prefix, type);
  return { kind: 'net', list, port, text };
}

function cidr(text: string): Pattern {
  const [address = '', bits = ''] = text.split('/');
  const version = isIP(address);
  const max = version === 6 ? 128 : 32;
  const prefix = Number(bits);
  if (version === 0 || !/^\d{1,3}$/.test(bits) || prefix > max) throw badPattern(text, 'not a CIDR');
  return netPattern(text, address, prefix, '');
}

/** Parses one pattern; throws BAD_CONFIG (config.ts reports it against the flag). */
export function parseAccessPattern(raw: string): Pattern {
  const text = raw.trim().toLowerCase();
  if (text === '') throw badPattern(raw, 'empty');
  if (text.includes('/')) return cidr(text);
  const bare = isIP(text) === 6 ? { hostname: text, port: '' } : splitHostPort(text);
  const hostname = unbracket(bare.hostname).replace(/\.$/, '');
  const port = bare.port;
  if (port !== '' && !/^\d{1,5}$/.test(port)) throw badPattern(raw, 'invalid port');
  if (isIP(hostname) !== 0) return netPattern(text, hostname, undefined, port);
  if (hostname.startsWith('*.')) {
    if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(hostname.slice(2))) throw badPattern(raw, 'invalid domain');
    return { kind: 'suffix', suffix: hostname.slice(1), port, text };
  }
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(hostname)) throw badPattern(raw, 'not a host, *.domain or CIDR');
  return { kind: 'name', name: hostname, port, text };
}

/** `::ffff:169.254.169.254` is 169.254.169.254 as far as where the packets go. */
function canonicalAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

function matchesName(p: Pattern, hostname: string, port: string): boolean {
  if (p.port !== '' && p.port !== port) return false;
  if (p.kind === 'name') return p.name === hostname;
  if (p.kind === 'suffix') return hostname.endsWith(p.suffix);
  return false;
}

function matchesAddress(p: Pattern, address: string, port: string): boolean {
  if (p.kind !== 'net' || (p.port !== '' && p.port !== port)) return false;
  const a = canonicalAddress(address);
  return p.list.check(a, family(a));
}

export class AccessPolicy {
  private readonly deny: Pattern[];
  private readonly builtin: Pattern[];
  private readonly allow: Pattern[];

  constructor(options: AccessPolicyOptions) {
    this.builtin = BUILTIN_DENY.map(parseAccessPattern);
    this.deny = options.deny.map(parseAccessPattern);
    this.allow = options.allow.map(parseAccessPattern);
  }

  /** Checked before anything else: a name (or IP literal) and the port it would be reached on. */
  checkName(host: string, port: string): NameVerdict {
    const hostname = unbracket(host.toLowerCase()).replace(/\.$/, '');
    if (isIP(hostname) !== 0) {
      const denied = this.checkAddress(hostname, port, false);
      return denied ? { denied } : { allowedByName: true };
    }
    const denied = this.denyReason((p) => matchesName(p, hostname, port));
    if (denied) return { denied };
    if (this.allow.length === 0 || this.allow.some((p) => matchesName(p, hostname, port))) {
      return { allowedByName: true };
    }
    // An allowed CIDR may still match what the name resolves to.
    if (this.allow.some((p) => p.kind === 'net')) return { allowedByName: false };
    return { denied: `not allowed: ${host} is not in --registry-allow` };
  }

  /** Checked on every address a name resolves to, right before connecting. Returns why not, or undefined. */
  checkAddress(address: string, port: string, allowedByName: boolean): string | undefined {
    const denied = this.denyReason((p) => matchesAddress(p, address, port));
    if (denied) return denied;
    if (this.allow.length === 0 || allowedByName) return undefined;
    if (this.allow.some((p) => matchesAddress(p, address, port))) return undefined;
    return `not allowed: ${address} is not in --registry-allow`;
  }

  private denyReason(matches: (p: Pattern) => boolean): string | undefined {
    const builtin = this.builtin.find(matches);
    if (builtin) return `denied by the built-in deny list (${builtin.text}: cloud metadata and link-local)`;
    const own = this.deny.find(matches);
    if (own) return `denied by --registry-deny ${own.text}`;
    return undefined;
  }
}

/** The error every policy refusal becomes: not temporary, and it names the host and the flag. */
export function policyError(what: string, target: string, why: string): FnPinnerError {
  return new FnPinnerError(
    'NOT_ALLOWED',
    `${what}: connecting to ${target} ${why} (registry access policy: --registry-allow, --registry-deny)`,
  );
}
