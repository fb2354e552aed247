import { describe, expect, it, beforeAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The registry access policy against the real thing: 169.254.169.254 (the cloud metadata address) on the
 * loopback of a network namespace made for this test with unshare(1) and ip(8) (iproute2), so no packet
 * can leave the machine. Inside it, test/support/netns-scenario.ts runs hostile registries and the CLI and
 * counts the TCP connections at the listeners: "denied" means zero. A private mount namespace lets the
 * scenario's /etc/hosts point a name at 169.254.169.254 (DNS rebinding) without touching the machine's.
 */

interface Outcome {
  code: number;
  stderr: string;
  connections: Record<string, number>;
}

const METADATA = '169.254.169.254:80';
let out: Record<string, Outcome>;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fnp-netns-'));
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, '127.0.0.1 localhost\n169.254.169.254 metadata.rebind.test\n');
  const script = [
    'set -e',
    'ip link set lo up',
    'ip addr add 169.254.169.254/32 dev lo',
    `mount --bind ${hosts} /etc/hosts`,
    'exec node --import tsx test/support/netns-scenario.ts',
  ].join('\n');
  try {
    const { stdout } = await promisify(execFile)(
      'unshare',
      ['--net', '--mount', '--propagation', 'private', '--', 'bash', '-c', script],
      { timeout: 120_000, maxBuffer: 16 * 2 ** 20 },
    );
    out = JSON.parse(stdout) as Record<string, Outcome>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 150_000);

function expectDenied(o: Outcome | undefined, host: string): void {
  expect(o?.code).toBe(1);
  expect(o?.stderr).toContain('registry not allowed');
  expect(o?.stderr).toMatch(/denied|not allowed/);
  expect(o?.stderr).toContain(host);
  expect(o?.stderr).toContain('--registry-deny');
  expect(o?.connections[METADATA]).toBe(0);
}

describe('the registry access policy in a network namespace holding 169.254.169.254', () => {
  it('can be reached at all: a plain TCP connect counts at the listener (the control)', () => {
    expect(out.rawConnectControl?.connections[METADATA]).toBe(1);
  });

  it('denies the metadata address by default, before any connection, over http and https', () => {
    expectDenied(out.metadataIp, '169.254.169.254');
    expect(out.metadataIp?.stderr).toContain('built-in deny list (169.254.0.0/16');
    expectDenied(out.metadataIpHttps, '169.254.169.254');
  });

  it('denies a name that resolves to the metadata address (checked on the resolved address too)', () => {
    expectDenied(out.rebinding, 'metadata.rebind.test (169.254.169.254)');
  });

  it('denies the metadata address written as an IPv4-mapped IPv6 address', () => {
    expectDenied(out.mappedIpv6, '::ffff:169.254.169.254');
  });

  it('does not fetch a token realm on the metadata address, even when the realm allow-list names it', () => {
    expectDenied(out.realm, '169.254.169.254');
  });

  it('closes loopback too when asked (--registry-deny 127.0.0.0/8): no connection to the local registry', () => {
    const o = out.denyLoopback;
    expect(o?.code).toBe(1);
    expect(o?.stderr).toContain('denied by --registry-deny 127.0.0.0/8');
    expect(Object.entries(o?.connections ?? {}).every(([, n]) => n === 0)).toBe(true);
  });

  it('leaves loopback registries allowed by default', () => {
    expect(out.allowedControl?.code).toBe(0);
  });
});
