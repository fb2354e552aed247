import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { captureLogger } from '../support/capture-logger.js';
import { startEcrEndpoint, startMetadataServer } from '../support/cloud-emulators.js';
import type { EcrEndpoint, MetadataServer } from '../support/cloud-emulators.js';
import { mapHostsToLoopback } from '../support/host-override.js';
import { imagePusher } from '../support/images.js';
import type { PushedImage } from '../support/images.js';
import { knownSecret } from '../support/leak-scan.js';
import { freePort } from '../support/ports.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';

/**
 * The default keychain's cloud-provider credentials against loopback emulators of the two protocols: the
 * GCE metadata server (google-auth-library through GCE_METADATA_HOST) and ECR's GetAuthorizationToken
 * (@aws-sdk/client-ecr through AWS_ENDPOINT_URL_ECR). One real registry, with a token server that accepts
 * exactly the credentials the emulators issued and that have not expired, is reached under an Artifact
 * Registry name and an ECR name, both mapped to 127.0.0.1 in this file only (support/host-override.ts).
 */
const GOOGLE_HOST = 'europe-docker.pkg.dev';
const ECR_HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
mapHostsToLoopback([GOOGLE_HOST, ECR_HOST, 'gcr.io']);

const { createResolverStack } = await import('../../src/app/resolver-stack.js');
type ResolverStack = ReturnType<typeof createResolverStack>;
const { loadConfig } = await import('../../src/config/load.js');
const { createMetrics } = await import('../../src/metrics.js');
const { CloudKeychain } = await import('../../src/registry/auth/cloud-keychain.js');
const { googleProvider } = await import('../../src/sources/cloud/google.js');
const { awsProvider } = await import('../../src/sources/cloud/aws.js');
const { ImageReference } = await import('../../src/reference/reference.js');
const { CLOUD_TUNABLES } = await import('../../src/config/tunables.js');

let metadata: MetadataServer;
let ecr: EcrEndpoint;
let reg: TestRegistry;
let anonymous: TestRegistry;
let port: string;
const images: Record<string, PushedImage> = {};
const stacks: ResolverStack[] = [];
const log = captureLogger('debug');

function stack(opts: Record<string, string | string[]> = {}): ResolverStack {
  const config = loadConfig('resolve', { logLevel: 'silent', ...opts }, { HOME: process.env.HOME });
  const s = createResolverStack(config, log.log, createMetrics());
  stacks.push(s);
  return s;
}

/** What the registry stack needs to reach the token registry under a cloud name. */
const viaName = (host: string): Record<string, string[]> => ({
  insecureRegistry: [`${host}:${port}`],
  tokenRealmAllow: [new URL(reg.tokenServer!.realm).host],
});

const ctx = () => ({ signal: new AbortController().signal, deadline: Date.now() + 30_000, what: 'test' });

beforeAll(async () => {
  metadata = await startMetadataServer();
  ecr = await startEcrEndpoint();
  reg = await startRegistry('token', {
    token: {
      check: (user, password) =>
        (user === 'oauth2accesstoken' && metadata.valid(password)) || (user === 'AWS' && ecr.valid(password)),
    },
  });
  anonymous = await startRegistry('plain');
  port = reg.host.split(':')[1]!;
  for (const tag of ['v1', 'v2', 'v3', 'v4'])
    images[tag] = await imagePusher(reg).pushImage('proj/fn/app', tag, { entrypoint: [`/${tag}`] });
  images.public = await imagePusher(anonymous).pushImage('kpt-fn/app', 'v1', { entrypoint: ['/pub'] });
  process.env.HOME = mkdtempSync(join(tmpdir(), 'fn-pinner-cloud-home-'));
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  process.env.GCE_METADATA_HOST = metadata.host;
  process.env.AWS_ENDPOINT_URL_ECR = ecr.url;
  process.env.AWS_CONFIG_FILE = join(process.env.HOME, 'no-aws-config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(process.env.HOME, 'no-aws-credentials');
  process.env.AWS_ACCESS_KEY_ID = 'AKIAEMULATEDTEST0001';
  process.env.AWS_SECRET_ACCESS_KEY = knownSecret(`emulated-secret-${Date.now()}`, 'AWS secret key');
});

afterAll(async () => {
  await Promise.all(stacks.map((s) => s.close()));
  await Promise.all([metadata?.stop(), ecr?.stop(), reg?.stop(), anonymous?.stop()]);
});

beforeEach(() => {
  reg.tokenServer!.reset();
  metadata.lifetimeS = 3600;
  ecr.lifetimeS = 12 * 3600;
});

describe('Google: Application Default Credentials from the metadata server', () => {
  it('resolves an Artifact Registry image with Basic oauth2accesstoken:<token>, sending Metadata-Flavor', async () => {
    const before = metadata.tokens.length;
    const s = stack(viaName(GOOGLE_HOST));
    const started = performance.now();
    const { metadata: m } = await s.resolver.resolve(`${GOOGLE_HOST}:${port}/proj/fn/app:v1`);
    const cold = performance.now() - started;
    expect(m.digest).toBe(images.v1!.digest);
    expect(metadata.tokens.length - before).toBe(1);
    expect(reg.tokenServer!.log.map((l) => [l.user, l.status])).toEqual([['oauth2accesstoken', 200]]);
    expect(metadata.requests.every((r) => r.headers['metadata-flavor'] === 'Google')).toBe(true);
    expect(metadata.requests.map((r) => r.status)).not.toContain(403);

    // The access token is cached: a second image costs the metadata server nothing.
    const warm = performance.now();
    await s.resolver.resolve(`${GOOGLE_HOST}:${port}/proj/fn/app:v2`);
    expect(metadata.tokens.length - before).toBe(1);
    console.info(
      `cloud credentials, Google: cold resolution ${cold.toFixed(0)} ms (SDK import, probe, token), ` +
        `next image ${(performance.now() - warm).toFixed(0)} ms (token cached)`,
    );
  });

  it('refreshes the token before it expires, never sending an expired one', async () => {
    metadata.lifetimeS = 2;
    const kc = new CloudKeychain([googleProvider()], { ...CLOUD_TUNABLES, log: log.log });
    const ref = ImageReference.parse(`${GOOGLE_HOST}:${port}/proj/fn/app:v1`);
    const first = (await kc.lookup(ref, ctx())).credentials[0]!;
    expect(metadata.valid(first.password!)).toBe(true);
    // Refreshed at half its lifetime: wait past its expiry (a lower bound, not a deadline).
    await sleep(2_200);
    expect(metadata.valid(first.password!)).toBe(false);
    const second = (await kc.lookup(ref, ctx())).credentials[0]!;
    expect(second.password).not.toBe(first.password);
    expect(metadata.valid(second.password!)).toBe(true);
  });

  it('the registry refuses an expired token; a resolution after expiry gets a fresh one and succeeds', async () => {
    metadata.lifetimeS = 1;
    const s = stack(viaName(GOOGLE_HOST));
    await s.resolver.resolve(`${GOOGLE_HOST}:${port}/proj/fn/app:v3`);
    const expired = metadata.tokens.at(-1)!;
    await sleep(1_200);
    const basic = Buffer.from(`oauth2accesstoken:${expired}`).toString('base64');
    const res = await fetch(`${reg.tokenServer!.realm}?service=${reg.tokenServer!.service}`, {
      headers: { authorization: `Basic ${basic}` },
    });
    expect(res.status).toBe(401);
    reg.tokenServer!.reset();
    await s.resolver.resolve(`${GOOGLE_HOST}:${port}/proj/fn/app:v4`);
    expect(metadata.tokens.at(-1)).not.toBe(expired);
    expect(reg.tokenServer!.log.map((l) => l.status)).toEqual([200]);
  });

  it('without a metadata server: skipped fast, remembered as absent, the public image resolved anonymously', async () => {
    const saved = process.env.GCE_METADATA_HOST;
    process.env.GCE_METADATA_HOST = `127.0.0.1:${await freePort()}`;
    try {
      const s = stack({ insecureRegistry: [`gcr.io:${anonymous.host.split(':')[1]}`] });
      const image = `gcr.io:${anonymous.host.split(':')[1]}/kpt-fn/app:v1`;
      const started = performance.now();
      const { metadata: m } = await s.resolver.resolve(image);
      const cold = performance.now() - started;
      expect(m.digest).toBe(images.public!.digest);
      // Remembered: the same keychain does not probe again.
      const google = googleProvider();
      let fetches = 0;
      const counted = { ...google, fetch: (key: string) => (fetches++, google.fetch(key)) };
      const kc = new CloudKeychain([counted], { ...CLOUD_TUNABLES, log: log.log });
      const gcr = ImageReference.parse(image);
      const probed = performance.now();
      expect((await kc.lookup(gcr, ctx())).consulted).toEqual([
        'Google Application Default Credentials: not available (no credentials file, gcloud credentials or metadata server)',
      ]);
      const probeMs = performance.now() - probed;
      const again = performance.now();
      await kc.lookup(gcr, ctx());
      expect(fetches).toBe(1);
      // Figures for the report (docs/benchmarks.md), not bounds.
      console.info(
        `cloud credentials, Google absent: first resolution ${cold.toFixed(0)} ms (probe included), ` +
          `probe ${probeMs.toFixed(0)} ms, remembered ${(performance.now() - again).toFixed(2)} ms`,
      );
      expect(log.lines.some((l) => l.msg === 'cloud credentials: provider not available')).toBe(true);
    } finally {
      process.env.GCE_METADATA_HOST = saved;
    }
  });
});

describe('AWS: ECR GetAuthorizationToken with the default credential chain', () => {
  it('resolves an ECR image with the AWS:<password> the endpoint issued, signed for the registry region', async () => {
    const before = ecr.calls.length;
    const s = stack(viaName(ECR_HOST));
    const started = performance.now();
    const { metadata: m } = await s.resolver.resolve(`${ECR_HOST}:${port}/proj/fn/app:v1`);
    const cold = performance.now() - started;
    expect(m.digest).toBe(images.v1!.digest);
    expect(ecr.calls.slice(before)).toEqual([
      {
        target: 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken',
        accessKeyId: 'AKIAEMULATEDTEST0001',
        region: 'us-east-1',
        service: 'ecr',
        status: 200,
      },
    ]);
    expect(reg.tokenServer!.log.map((l) => [l.user, l.status])).toEqual([['AWS', 200]]);
    const warm = performance.now();
    await s.resolver.resolve(`${ECR_HOST}:${port}/proj/fn/app:v2`);
    expect(ecr.calls.length - before).toBe(1);
    console.info(
      `cloud credentials, AWS: cold resolution ${cold.toFixed(0)} ms (SDK import, chain, token), ` +
        `next image ${(performance.now() - warm).toFixed(0)} ms (token cached)`,
    );
  });

  it('asks again once the token nears its expiry, and the old password stops working', async () => {
    ecr.lifetimeS = 1;
    const before = ecr.calls.length;
    const kc = new CloudKeychain([awsProvider()], { ...CLOUD_TUNABLES, log: log.log });
    const ref = ImageReference.parse(`${ECR_HOST}:${port}/proj/fn/app:v1`);
    const first = (await kc.lookup(ref, ctx())).credentials[0]!;
    expect(first.username).toBe('AWS');
    await sleep(1_200);
    expect(ecr.valid(first.password!)).toBe(false);
    const second = (await kc.lookup(ref, ctx())).credentials[0]!;
    expect(ecr.valid(second.password!)).toBe(true);
    expect(ecr.calls.length - before).toBe(2);
  });

  it('without AWS credentials: absent, remembered, and the denial names what was looked at', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, key: process.env.AWS_SECRET_ACCESS_KEY };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    const before = ecr.calls.length;
    try {
      const s = stack(viaName(ECR_HOST));
      const started = performance.now();
      const err = await s.resolver.resolve(`${ECR_HOST}:${port}/proj/fn/app:v1`).catch((e: unknown) => e);
      console.info(`cloud credentials, AWS absent: denied in ${(performance.now() - started).toFixed(0)} ms`);
      expect(err).toMatchObject({ code: 'UNAUTHORIZED' });
      expect((err as Error).message).toMatch(
        /no credentials matched, tried anonymously; looked in: .*AWS ECR GetAuthorizationToken: not available \(no AWS credentials in the default chain\)/,
      );
      expect(ecr.calls.length).toBe(before);
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.key;
    }
  });

  it('--cloud-credentials=false leaves the providers alone', async () => {
    const before = { ecr: ecr.calls.length, google: metadata.requests.length };
    const s = stack({ ...viaName(ECR_HOST), cloudCredentials: 'false' });
    await expect(s.resolver.resolve(`${ECR_HOST}:${port}/proj/fn/app:v1`)).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    await expect(
      stack({ ...viaName(GOOGLE_HOST), cloudCredentials: 'false' }).resolver.resolve(
        `${GOOGLE_HOST}:${port}/proj/fn/app:v1`,
      ),
    ).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect({ ecr: ecr.calls.length, google: metadata.requests.length }).toEqual(before);
  });
});
