import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { imagePusher } from '../images.js';
import { knownCredential } from '../leak-scan.js';
import type { ImagePusher, PlatformSpec } from '../images.js';
import { startRegistry } from '../registry.js';
import type { TestRegistry } from '../registry.js';

/**
 * The real side of the soak: CNCF distribution registries (docker-registry 2.8) on 127.0.0.1, as a
 * function catalog and private registries look to fn-pinner, with the files `serve` mounts in a cluster
 * (the Docker config, the registry CA).
 *
 *   - `plain`: plain HTTP, anonymous (an --insecure-registry);
 *   - `priv`: TLS with its own CA + htpasswd (Basic), credentials in the mounted Docker config;
 *   - `token`: Bearer tokens from a token server, credentials in the Docker config;
 *   - `badCreds`: TLS + htpasswd, but the Docker config holds a wrong password;
 *   - `down`: a registry that was started and stopped: its port refuses connections.
 */
export interface RealSide {
  plain: TestRegistry;
  priv: TestRegistry;
  token: TestRegistry;
  badCreds: TestRegistry;
  /** host:port where a registry used to be. */
  downHost: string;
  /** The mounted Docker config (--registry-auth-secret-path). */
  dockerConfigPath: string;
  /** A directory holding the registries' CA as ca.crt (--tls-secret-path). */
  caDir: string;
  /** image reference (host/repo:tag) → the digest a review must pin it to. */
  digests: Map<string, string>;
  /** Cold images per registry, in the order reviews use them. */
  cold: { plain: string[]; priv: string[]; token: string[] };
  stop(): Promise<void>;
}

const PUSH_CONCURRENCY = 8;
const MULTI: PlatformSpec[] = ['amd64', 'arm64'].map((arch) => ({
  os: 'linux',
  arch,
  entrypoint: ['/fn/multi', arch],
}));

/** `cold`: how many never-reviewed images to push to each registry (each one is a cache miss once). */
export async function startRealSide(cold: { plain: number; priv: number; token: number }): Promise<RealSide> {
  const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-soak-'));
  const [plain, priv, token, badCreds, down] = await Promise.all([
    startRegistry('plain'),
    startRegistry('tls-basic'),
    startRegistry('token'),
    startRegistry('tls-basic'),
    startRegistry('plain'),
  ]);
  const downHost = down.host;
  await down.stop();
  const digests = new Map<string, string>();
  const hot = async (reg: TestRegistry, push: ImagePusher): Promise<void> => {
    const single = await push.pushImage('hot/app', 'v1', { entrypoint: ['/fn/app'], cmd: ['--serve'] });
    digests.set(`${reg.host}/hot/app:v1`, single.digest);
    const docker = await push.pushImage('hot/docker', 'v1', { entrypoint: ['/fn/docker'], format: 'docker' });
    digests.set(`${reg.host}/hot/docker:v1`, docker.digest);
    digests.set(`${reg.host}/hot/multi:v1`, (await push.pushIndex('hot/multi', 'v1', MULTI)).digest);
  };
  const pushers = { plain: imagePusher(plain), priv: imagePusher(priv), token: imagePusher(token) };
  await Promise.all([hot(plain, pushers.plain), hot(priv, pushers.priv), hot(token, pushers.token)]);
  digests.set(`${badCreds.host}/hot/app:v1`, (await imagePusher(badCreds).pushImage('hot/app', 'v1')).digest);
  const coldRefs = {
    plain: await pushCold(plain, pushers.plain, cold.plain, digests),
    priv: await pushCold(priv, pushers.priv, cold.priv, digests),
    token: await pushCold(token, pushers.token, cold.token, digests),
  };
  const dockerConfigPath = join(dir, 'config.json');
  const auth = (user: string, pass: string): { auth: string } => ({
    auth: Buffer.from(`${user}:${pass}`).toString('base64'),
  });
  const wrongPassword = `${badCreds.password}-wrong`;
  knownCredential(badCreds.username, wrongPassword, 'soak registry (wrong password)');
  const auths = {
    [priv.host]: auth(priv.username, priv.password),
    [token.host]: auth(token.username, token.password),
    [badCreds.host]: auth(badCreds.username, wrongPassword),
  };
  writeFileSync(dockerConfigPath, JSON.stringify({ auths }));
  const caDir = join(dir, 'tls');
  mkdirSync(caDir);
  writeFileSync(join(caDir, 'ca.crt'), priv.caPem!);
  return {
    plain,
    priv,
    token,
    badCreds,
    downHost,
    dockerConfigPath,
    caDir,
    digests,
    cold: coldRefs,
    stop: async () => {
      await Promise.all([plain, priv, token, badCreds].map((r) => r.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function pushCold(
  reg: TestRegistry,
  push: ImagePusher,
  count: number,
  digests: Map<string, string>,
): Promise<string[]> {
  const refs: string[] = [];
  for (let start = 0; start < count; start += PUSH_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(PUSH_CONCURRENCY, count - start) }, (_, k) => start + k);
    const pushed = await Promise.all(
      batch.map((i) =>
        push.pushImage('cold/app', `c${i}`, { entrypoint: [`/fn/cold-${i}`], cmd: ['--serve'] }),
      ),
    );
    batch.forEach((i, k) => {
      const ref = `${reg.host}/cold/app:c${i}`;
      digests.set(ref, pushed[k]!.digest);
      refs.push(ref);
    });
  }
  return refs;
}
