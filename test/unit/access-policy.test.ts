import { describe, expect, it } from '@jest/globals';

import { AccessPolicy, parseAccessPattern } from '../../src/registry/transport/policy.js';

const policy = (allow: string[] = [], deny: string[] = []): AccessPolicy => new AccessPolicy({ allow, deny });

describe('registry access patterns', () => {
  it.each([
    ['registry.example.com'],
    ['registry.example.com:5000'],
    ['*.example.com'],
    ['10.0.0.0/8'],
    ['fd00::/8'],
    ['10.1.2.3'],
    ['10.1.2.3:5000'],
    ['[fd00::1]:5000'],
    ['fd00::1'],
  ])('accepts %s', (pattern) => {
    expect(() => parseAccessPattern(pattern)).not.toThrow();
  });

  it.each([
    ['', 'empty'],
    ['10.0.0.0/33', 'not a CIDR'],
    ['registry/x', 'not a CIDR'],
    ['host:port', 'invalid port'],
    ['*.a b', 'invalid domain'],
    ['a b', 'not a host, *.domain or CIDR'],
  ])('refuses %j (%s) as a configuration problem', (pattern, why) => {
    expect(() => parseAccessPattern(pattern)).toThrow(
      expect.objectContaining({ code: 'BAD_CONFIG', message: expect.stringContaining(why) }),
    );
  });
});

describe('the access policy', () => {
  it.each([
    ['169.254.169.254', '80'],
    ['169.254.0.1', '443'],
    ['fe80::1', '443'],
    ['fd00:ec2::254', '80'],
    ['100.100.100.200', '80'],
    ['::ffff:169.254.169.254', '80'],
  ])('denies the built-in %s on any port, with no allow list at all', (address, port) => {
    expect(policy().checkName(address, port).denied).toContain('denied by the built-in deny list');
  });

  it('keeps loopback and private ranges allowed by default (in-cluster registries)', () => {
    for (const host of ['127.0.0.1', '10.0.0.5', '192.168.1.1', 'registry.kube-system.svc']) {
      expect(policy().checkName(host, '5000')).toEqual({ allowedByName: true });
    }
  });

  it('denies by name, by host:port and by *.domain, and lets deny win over allow', () => {
    const p = policy(
      ['*.example.com'],
      ['bad.example.com', 'reg.example.com:5000', '*.internal.example.com'],
    );
    expect(p.checkName('bad.example.com', '443').denied).toBe('denied by --registry-deny bad.example.com');
    expect(p.checkName('reg.example.com', '5000').denied).toContain('reg.example.com:5000');
    expect(p.checkName('reg.example.com', '443')).toEqual({ allowedByName: true });
    expect(p.checkName('a.internal.example.com', '443').denied).toContain('*.internal.example.com');
    expect(p.checkName('example.com', '443').denied).toBe(
      'not allowed: example.com is not in --registry-allow',
    );
  });

  it('with an allow list, contacts only what matches: a bare host on any port, host:port on that port', () => {
    const p = policy(['ghcr.io', 'registry.local:5000']);
    expect(p.checkName('ghcr.io', '443')).toEqual({ allowedByName: true });
    expect(p.checkName('ghcr.io', '8443')).toEqual({ allowedByName: true });
    expect(p.checkName('registry.local', '5000')).toEqual({ allowedByName: true });
    expect(p.checkName('registry.local', '5001').denied).toContain('not allowed');
    expect(p.checkName('docker.io', '443').denied).toContain('not allowed');
  });

  it('checks the address a name resolves to (DNS rebinding): deny CIDRs, and allow CIDRs for names', () => {
    const p = policy(['10.0.0.0/8'], ['10.9.0.0/16']);
    const verdict = p.checkName('registry.corp', '443');
    expect(verdict).toEqual({ allowedByName: false });
    expect(p.checkAddress('10.1.2.3', '443', false)).toBeUndefined();
    expect(p.checkAddress('10.9.0.1', '443', false)).toBe('denied by --registry-deny 10.9.0.0/16');
    expect(p.checkAddress('192.168.0.1', '443', false)).toBe(
      'not allowed: 192.168.0.1 is not in --registry-allow',
    );
    expect(policy().checkAddress('169.254.169.254', '80', true)).toContain('built-in deny list');
  });
});
