import { describe, expect, it } from '@jest/globals';

import { checkRealm } from '../../src/registry/auth/realm.js';

const ok = (realm: string, registry: string, allow: string[] = []): boolean => {
  checkRealm(realm, registry, allow, 'resolve x');
  return true;
};
const refusal = (realm: string, registry: string, allow: string[] = []): string => {
  try {
    checkRealm(realm, registry, allow, 'resolve x');
  } catch (err) {
    expect(err).toMatchObject({ code: 'REALM_NOT_TRUSTED' });
    return (err as Error).message;
  }
  throw new Error(`${realm} was trusted for ${registry}`);
};

describe('token realm trust', () => {
  it('trusts the registry host on any port, and its registrable domain', () => {
    expect(ok('https://registry.example.com:5001/token', 'https://registry.example.com')).toBe(true);
    expect(ok('https://auth.docker.io/token', 'https://index.docker.io')).toBe(true);
    expect(ok('https://auth.docker.io/token', 'https://registry-1.docker.io')).toBe(true);
    expect(ok('http://127.0.0.1:5001/token', 'http://127.0.0.1:5000')).toBe(true);
  });

  it('refuses another domain, naming the realm and the flag', () => {
    expect(refusal('https://evil.example.net/token?x=1', 'https://registry.example.com')).toBe(
      'resolve x: token realm "https://evil.example.net/token?…" of registry registry.example.com is on another host and domain (allow it with --token-realm-allow evil.example.net)',
    );
  });

  it('uses the private section of the public suffix list: one github.io site cannot vouch for another', () => {
    expect(refusal('https://attacker.github.io/token', 'https://victim.github.io')).toContain('another host');
  });

  it('matches IP addresses exactly', () => {
    expect(refusal('http://127.0.0.2/token', 'http://127.0.0.1:5000')).toContain('another host');
    expect(refusal('http://169.254.169.254/latest', 'http://10.0.0.1')).toContain('another host');
  });

  it('accepts --token-realm-allow entries: a host on any port, host:port on that port only', () => {
    expect(ok('https://auth.corp/token', 'https://registry.example.com', ['auth.corp'])).toBe(true);
    expect(ok('https://auth.corp:8443/token', 'https://registry.example.com', ['auth.corp:8443'])).toBe(true);
    expect(
      refusal('https://auth.corp:9443/token', 'https://registry.example.com', ['auth.corp:8443']),
    ).toContain('--token-realm-allow auth.corp:9443');
  });

  it('accepts a plain-http realm only for a plain-http registry', () => {
    expect(refusal('http://registry.example.com/token', 'https://registry.example.com')).toContain(
      'is plain http while the registry is https',
    );
    expect(ok('http://registry.local:5001/token', 'http://registry.local:5000')).toBe(true);
  });

  it.each([['not a url'], ['file:///etc/passwd'], ['https://user:pw@registry.example.com/token']])(
    'refuses %j',
    (realm) => {
      expect(refusal(realm, 'https://registry.example.com')).toMatch(
        /is not a URL|is not http|carries user info/,
      );
    },
  );
});
