import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { generateCa, generateServingCert } from '../../src/tls/certs.js';
import type { CertKeyPair } from '../../src/tls/certs.js';
import { freePort } from './ports.js';
import { startTokenServer } from './token-server.js';
import type { TokenServer, TokenServerOptions } from './token-server.js';

/**
 * Real CNCF distribution registries (Debian package docker-registry 2.8.2) on 127.0.0.1, one process per
 * call, each with its own temp dir. Start takes ~30-50 ms, plus RSA key generation for the first TLS
 * registry of a test file and for every token server.
 */

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export type RegistryKind = 'plain' | 'basic' | 'tls' | 'token' | 'tls-basic';

export interface StartRegistryOptions {
  username?: string;
  password?: string;
  /** For kind 'token': options for its token server (users come from username/password). */
  token?: Omit<TokenServerOptions, 'users'>;
  /**
   * TLS kinds share one CA and serving certificate per test file (RSA key generation costs 50-400 ms);
   * set this for a registry whose CA nobody else trusts.
   */
  freshCa?: boolean;
  /** Last chance to change the generated config (a plain object written as YAML). */
  configure?: (config: Record<string, unknown>) => void;
}

export interface TestRegistry {
  kind: RegistryKind;
  /** '127.0.0.1:PORT' */
  host: string;
  /** 'http(s)://127.0.0.1:PORT' */
  url: string;
  /** TLS kinds: the CA that signed the serving cert (SANs 127.0.0.1 and localhost). */
  caPem?: string;
  /** TLS kinds: a directory holding only ca.crt (certs.d style). */
  caDir?: string;
  username: string;
  password: string;
  tokenServer?: TokenServer;
  /** Trusts caPem for TLS kinds; closed by stop(). */
  dispatcher: Agent;
  dir: string;
  /** The registry's log so far (level warn; the access log too when `configure` enabled it). */
  logs(): string;
  /**
   * htpasswd kinds: restarts the registry on the same port and storage with only these credentials, as a
   * credentials rotation (the registry reads its htpasswd file once, at startup).
   */
  rotateCredentials(username: string, password: string): Promise<void>;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
const TLS_KINDS: ReadonlySet<RegistryKind> = new Set(['tls', 'tls-basic']);
const BASIC_KINDS: ReadonlySet<RegistryKind> = new Set(['basic', 'tls-basic']);

/** Children still running; killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

export async function startRegistry(
  kind: RegistryKind,
  opts: StartRegistryOptions = {},
): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BIN)) {
    throw new Error(
      `${REGISTRY_BIN} not found: install the Debian package docker-registry; .ci/run does this`,
    );
  }
  const username = opts.username ?? 'testuser';
  const password = opts.password ?? 'testpass';
  const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-test-'));
  const extras: Partial<TestRegistry> = {};
  let dispatcher: Agent | undefined;
  try {
    const config = await baseConfig(kind, dir, { username, password, opts, extras });
    opts.configure?.(config);
    dispatcher = new Agent(extras.caPem ? { connect: { ca: extras.caPem } } : {});
    const scheme = TLS_KINDS.has(kind) ? 'https' : 'http';
    const started = await spawnWithRetry(dir, config, dispatcher, scheme);
    const url = `${scheme}://${started.host}`;
    const agent = dispatcher;
    const registry: TestRegistry = {
      kind,
      host: started.host,
      url,
      ...extras,
      username,
      password,
      dispatcher: agent,
      dir,
      logs: () => readLog(dir),
      async rotateCredentials(user, pass) {
        if (!BASIC_KINDS.has(kind)) throw new Error(`a ${kind} registry has no htpasswd credentials`);
        await killChild(started.child);
        writeHtpasswd(dir, user, pass);
        started.child = spawnRegistry(dir);
        await waitReady(started.child, `${url}/v2/`, agent, dir);
        registry.username = user;
        registry.password = pass;
      },
      stop: () => stopAll(started.child, agent, extras.tokenServer, dir),
    };
    return registry;
  } catch (err) {
    await dispatcher?.close();
    await extras.tokenServer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

interface ConfigInputs {
  username: string;
  password: string;
  opts: StartRegistryOptions;
  /** Filled in with caPem/caDir/tokenServer as they are created. */
  extras: Partial<TestRegistry>;
}

async function baseConfig(
  kind: RegistryKind,
  dir: string,
  i: ConfigInputs,
): Promise<Record<string, unknown>> {
  const http: Record<string, unknown> = { secret: randomBytes(16).toString('hex') };
  const config: Record<string, unknown> = {
    version: '0.1',
    log: { level: 'warn', formatter: 'text', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: join(dir, 'data') },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http,
  };
  if (TLS_KINDS.has(kind)) http.tls = writeTls(dir, i.extras, i.opts.freshCa === true);
  if (BASIC_KINDS.has(kind)) config.auth = { htpasswd: writeHtpasswd(dir, i.username, i.password) };
  if (kind === 'token') {
    const users = { [i.username]: i.password };
    const tokenServer = await startTokenServer({ ...i.opts.token, users });
    i.extras.tokenServer = tokenServer;
    writeFileSync(join(dir, 'token.crt'), tokenServer.certPem);
    config.auth = {
      token: {
        realm: tokenServer.realm,
        service: tokenServer.service,
        issuer: tokenServer.issuer,
        rootcertbundle: join(dir, 'token.crt'),
      },
    };
  }
  return config;
}

let sharedTls: TlsMaterial | undefined;

interface TlsMaterial {
  ca: CertKeyPair;
  serving: CertKeyPair;
}

function tlsMaterial(fresh: boolean): TlsMaterial {
  if (!fresh && sharedTls) return sharedTls;
  const ca = generateCa({ commonName: 'fn-pinner test registry CA' });
  const material = {
    ca,
    serving: generateServingCert({ ca, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }),
  };
  if (!fresh) sharedTls = material;
  return material;
}

function writeTls(
  dir: string,
  extras: Partial<TestRegistry>,
  fresh: boolean,
): { certificate: string; key: string } {
  const { ca, serving } = tlsMaterial(fresh);
  const caDir = join(dir, 'certs.d');
  mkdirSync(caDir);
  writeFileSync(join(caDir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'server.crt'), serving.certPem);
  writeFileSync(join(dir, 'server.key'), serving.keyPem, { mode: 0o600 });
  extras.caPem = ca.certPem;
  extras.caDir = caDir;
  return { certificate: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

/** The registry only honours bcrypt entries (-B); it reads the file once, at startup. */
function writeHtpasswd(dir: string, username: string, password: string): { realm: string; path: string } {
  const path = join(dir, 'htpasswd');
  writeFileSync(path, execFileSync('htpasswd', ['-Bbn', username, password]));
  return { realm: 'test-realm', path };
}

async function spawnWithRetry(
  dir: string,
  config: Record<string, unknown>,
  dispatcher: Agent,
  scheme: 'http' | 'https',
): Promise<{ child: ChildProcess; host: string }> {
  for (let attempt = 1; ; attempt++) {
    const host = `127.0.0.1:${await freePort()}`;
    (config.http as Record<string, unknown>).addr = host;
    writeFileSync(join(dir, 'config.yml'), stringify(config));
    const child = spawnRegistry(dir);
    try {
      await waitReady(child, `${scheme}://${host}/v2/`, dispatcher, dir);
      return { child, host };
    } catch (err) {
      await killChild(child);
      // freePort() can race with another process grabbing the port before the registry binds it.
      if (attempt >= 3 || !readLog(dir).includes('address already in use')) throw err;
    }
  }
}

function spawnRegistry(dir: string): ChildProcess {
  // A file, not a pipe: pipes would be open handles in Jest and could fill up if nobody reads them.
  const logFd = openSync(join(dir, 'registry.log'), 'w');
  try {
    const child = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], {
      cwd: dir,
      stdio: ['ignore', logFd, logFd],
    });
    track(child);
    return child;
  } finally {
    closeSync(logFd);
  }
}

async function waitReady(child: ChildProcess, url: string, dispatcher: Agent, dir: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}):\n${readLog(dir)}`);
    }
    try {
      const res = await request(url, { dispatcher, headersTimeout: 1_000, bodyTimeout: 1_000 });
      await res.body.dump();
      return;
    } catch (err) {
      lastError = err;
      await sleep(15);
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(
    `docker-registry did not answer ${url} within ${START_TIMEOUT_MS} ms (${reason}):\n${readLog(dir)}`,
  );
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'registry.log'), 'utf8');
  } catch {
    return '(no registry log)';
  }
}

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

async function stopAll(
  child: ChildProcess,
  dispatcher: Agent,
  tokenServer: TokenServer | undefined,
  dir: string,
): Promise<void> {
  await killChild(child);
  await dispatcher.close();
  await tokenServer?.stop();
  rmSync(dir, { recursive: true, force: true });
}
