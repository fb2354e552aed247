import { describe, expect, it } from '@jest/globals';

import { isFnPinnerError } from '../../src/errors.js';
import type { CallContext } from '../../src/registry/auth/context.js';
import type { Keychain, KeychainLookup } from '../../src/registry/auth/credentials.js';
import { RoutingKeychain } from '../../src/registry/auth/keychain.js';
import { RegistryPrefixes, normalizeImagePrefix } from '../../src/reference/prefixes.js';
import { ImageReference } from '../../src/reference/reference.js';

const ref = (image: string): ImageReference => ImageReference.parse(image);
const CATALOG = RegistryPrefixes.parse(['gcr.io/kpt-fn/', 'ghcr.io/kptdev/krm-functions-catalog/']);
const isDefaultRegistryImage = (r: ImageReference, prefixes: string[]): boolean =>
  RegistryPrefixes.parse(prefixes).matches(r);

class NamedKeychain implements Keychain {
  readonly seen: string[] = [];
  constructor(readonly name: string) {}
  async lookup(r: ImageReference): Promise<KeychainLookup> {
    this.seen.push(r.original);
    return { credentials: [{ username: this.name, source: this.name }], consulted: [this.name] };
  }
}

const ctx = (credentials?: Keychain): CallContext => ({
  signal: new AbortController().signal,
  deadline: Date.now() + 1000,
  what: 'test',
  credentials,
});

describe('normalizeImagePrefix', () => {
  it.each([
    ['gcr.io/kpt-fn/', 'gcr.io/kpt-fn/'],
    ['gcr.io/kpt-fn', 'gcr.io/kpt-fn/'],
    [' ghcr.io/kptdev/krm-functions-catalog// ', 'ghcr.io/kptdev/krm-functions-catalog/'],
    ['docker.io/x/', 'docker.io/x/'],
    ['index.docker.io/x/', 'docker.io/x/'],
    ['registry-1.docker.io/x', 'docker.io/x/'],
    ['x/', 'docker.io/x/'],
    ['library', 'docker.io/library/'],
    ['docker.io', 'docker.io/'],
    ['ghcr.io', 'ghcr.io/'],
    ['GHCR.IO/org/', 'ghcr.io/org/'],
    ['localhost:5000/fns/', 'localhost:5000/fns/'],
  ])('%j → %j', (prefix, want) => {
    expect(normalizeImagePrefix(prefix)).toBe(want);
  });

  it.each(['', '/', 'gcr.io/kpt-fn:v1/', 'gcr.io/Kpt-Fn/', 'gcr.io/kpt-fn/set-', 'gcr.io/kpt-fn@sha256:abc'])(
    'rejects %j with BAD_CONFIG',
    (prefix) => {
      let caught: unknown;
      try {
        normalizeImagePrefix(prefix);
      } catch (err) {
        caught = err;
      }
      expect(isFnPinnerError(caught, 'BAD_CONFIG')).toBe(true);
      expect((caught as Error).message).toMatch(/^parse default registry prefix /);
    },
  );
});

describe('RegistryPrefixes.matches', () => {
  it.each([
    ['gcr.io/kpt-fn/set-labels:v0.1', true],
    ['gcr.io/kpt-fn/set-labels@sha256:' + 'a'.repeat(64), true],
    ['ghcr.io/kptdev/krm-functions-catalog/apply-setters:v0.2', true],
    ['GHCR.io/kptdev/krm-functions-catalog/apply-setters', true],
    ['gcr.io/kpt-fn-contrib/thing', false],
    ['gcr.io/kpt/set-labels', false],
    ['ghcr.io/kptdev/other/apply-setters', false],
    ['registry.example.com/gcr.io/kpt-fn/x', false],
    ['set-labels', false],
  ])('%s → %s', (image, want) => {
    expect(CATALOG.matches(ref(image))).toBe(want);
  });

  it('treats Docker Hub spellings of a prefix as the same', () => {
    for (const prefix of ['docker.io/kptdev/', 'index.docker.io/kptdev/', 'kptdev']) {
      expect(isDefaultRegistryImage(ref('kptdev/fn:v1'), [prefix])).toBe(true);
      expect(isDefaultRegistryImage(ref('index.docker.io/kptdev/fn'), [prefix])).toBe(true);
      expect(isDefaultRegistryImage(ref('docker.io/other/fn'), [prefix])).toBe(false);
    }
  });

  it('is false with no prefixes', () => {
    expect(isDefaultRegistryImage(ref('gcr.io/kpt-fn/x'), [])).toBe(false);
  });
});

describe('RoutingKeychain', () => {
  const setup = (withCustom: boolean): { kc: RoutingKeychain; custom: NamedKeychain } => {
    const custom = new NamedKeychain('custom');
    const kc = new RoutingKeychain({
      defaultRegistries: CATALOG,
      custom: withCustom ? custom : undefined,
      fallback: new NamedKeychain('fallback'),
    });
    return { kc, custom };
  };
  const userFor = async (kc: Keychain, image: string): Promise<string | undefined> =>
    (await kc.lookup(ref(image), ctx())).credentials[0]?.username;

  it('sends custom images to the custom keychain when there is one (private registries)', async () => {
    const { kc, custom } = setup(true);
    expect(await userFor(kc, 'registry.example.com/team/fn:v1')).toBe('custom');
    expect(custom.seen).toEqual(['registry.example.com/team/fn:v1']);
  });

  it('sends default-registry images to the fallback keychain even with private registries enabled', async () => {
    const { kc, custom } = setup(true);
    expect(await userFor(kc, 'ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4')).toBe('fallback');
    expect(await userFor(kc, 'gcr.io/kpt-fn/set-namespace:v0.4')).toBe('fallback');
    expect(custom.seen).toEqual([]);
  });

  it('sends everything to the fallback keychain without a custom one (private registries disabled)', async () => {
    const { kc, custom } = setup(false);
    expect(await userFor(kc, 'registry.example.com/team/fn:v1')).toBe('fallback');
    expect(await userFor(kc, 'gcr.io/kpt-fn/set-namespace')).toBe('fallback');
    expect(custom.seen).toEqual([]);
  });

  it('tries the mounted config, then the pod, then cloud for custom images; the pod, then the default keychain for the rest', async () => {
    const kc = new RoutingKeychain({
      defaultRegistries: CATALOG,
      custom: new NamedKeychain('custom'),
      fallback: new NamedKeychain('docker-config'),
      cloud: new NamedKeychain('cloud'),
    });
    const order = async (image: string): Promise<string[]> => {
      const found = await kc.lookup(ref(image), ctx(new NamedKeychain('pod')));
      expect(found.consulted).toEqual(found.credentials.map((c) => c.source));
      return found.credentials.map((c) => c.source);
    };
    expect(await order('registry.example.com/team/fn:v1')).toEqual(['custom', 'pod', 'cloud']);
    expect(await order('gcr.io/kpt-fn/set-namespace:v0.4')).toEqual(['pod', 'docker-config', 'cloud']);
  });
});

describe('RegistryPrefixes', () => {
  it('rejects an invalid default registry prefix, naming it', () => {
    expect(() => RegistryPrefixes.parse(['gcr.io/kpt-fn/', 'gcr.io/kpt-fn:v1/'])).toThrow(
      /^parse default registry prefix "gcr.io\/kpt-fn:v1\/"/,
    );
  });
});
