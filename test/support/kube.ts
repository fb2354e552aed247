import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Agent, request as undiciRequest } from 'undici';
import type { Dispatcher } from 'undici';
import { parse, parseAllDocuments, stringify } from 'yaml';

import { ORIGINAL_IMAGES_ANNOTATION } from '../../src/mutation/types.js';
import { generateCa, generateServingCert } from '../../src/tls/certs.js';
import type { CertKeyPair } from '../../src/tls/certs.js';
import { caBundle } from '../../src/tls/ca-bundle.js';
import { captured, knownSecret } from './leak-scan.js';
import { freePort } from './ports.js';

/**
 * A real Kubernetes control plane for end-to-end tests: etcd plus kube-apiserver (v1.20.2, built from
 * Debian's source package by scripts/build-kube-apiserver.sh, or whatever KUBEBUILDER_ASSETS holds), both
 * on 127.0.0.1 with random ports and temp dirs. Only the apiserver runs: no controller-manager, scheduler
 * or kubelet, so pods stay Pending, there are no ServiceAccount tokens, and namespaces never finish deleting.
 * Start takes ~4-5 s on 2 cores (etcd 0.2-1 s, apiserver 3.5-4.5 s to /readyz ok), ~320 MiB RSS.
 */

/** Parsed API JSON. Loosely typed on purpose: tests read arbitrary fields of objects and Status bodies. */
export type KubeJson = any;

/** A created, read or rejected object: the status and the parsed JSON (or text) body. */
export interface KubeResponse {
  status: number;
  body: KubeJson;
  /**
   * The texts of the Warning headers (`299 - "text"`), e.g. admission webhook warnings: what kubectl
   * prints as `Warning: ...`.
   */
  warnings: string[];
}

export interface KubeRequestOptions {
  /** Bearer token; default the admin token (system:masters). */
  token?: string;
  /** Default application/json; e.g. application/merge-patch+json for PATCH. */
  contentType?: string;
}

export interface ApplyOptions {
  token?: string;
  /** Appends ?dryRun=All: admission (webhooks included) runs, nothing is stored. */
  dryRun?: boolean;
}

export interface ServerSideApplyOptions extends ApplyOptions {
  /** Default 'fn-pinner-e2e'. */
  fieldManager?: string;
  /** Take over fields owned by other managers (kubectl apply --server-side --force-conflicts); default true. */
  force?: boolean;
}

export interface TestKube {
  /** https://127.0.0.1:PORT */
  server: string;
  port: number;
  /** The CA of the apiserver's serving certificate. */
  caPem: string;
  /** User "admin", group system:masters. */
  adminToken: string;
  /** User USER_NAME ("fn-pinner"), no groups: can do nothing until RBAC grants it something. */
  userToken: string;
  userName: string;
  /**
   * The identity of manifests/base/01-serviceaccount.yaml as a pod would present it (SA_USER_NAME with
   * SA_GROUPS), but from the token file: without a controller-manager there are no ServiceAccount tokens.
   * It can do what RBAC grants the ServiceAccount fn-pinner-system/fn-pinner, i.e. manifests/base/02-rbac.yaml.
   */
  saToken: string;
  saUserName: string;
  /** kubeconfig files (CA embedded, token auth, namespace default). */
  kubeconfigPath: string;
  userKubeconfigPath: string;
  saKubeconfigPath: string;
  /** Trusts caPem; closed by stop(). */
  dispatcher: Agent;
  /** Where kube-apiserver and etcd came from. */
  binDir: string;
  /** ca.crt, sa.key (the ServiceAccount signing key) and the serving pair, for other control-plane parts. */
  pkiDir: string;
  timings: { etcdReadyMs: number; apiserverReadyMs: number; totalMs: number };
  /** `path` starts with /api or /apis and may carry a query. Never throws on HTTP errors. */
  request(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
    opts?: KubeRequestOptions,
  ): Promise<KubeResponse>;
  /** POSTs `obj` to its collection (see collectionPath for the kinds known). Never throws on HTTP errors. */
  apply(obj: KubeObject, opts?: ApplyOptions): Promise<KubeResponse>;
  /** Like apply, but throws unless the apiserver answered 2xx; returns the object it returned. */
  create(obj: KubeObject, opts?: ApplyOptions): Promise<KubeJson>;
  /**
   * Server-side apply (`kubectl apply --server-side`): PATCH application/apply-patch+yaml to the object's
   * path; 201 when it creates, 200 when the object exists. Never throws on HTTP errors.
   */
  serverSideApply(obj: KubeObject, opts?: ServerSideApplyOptions): Promise<KubeResponse>;
  /** GETs the object named by obj's apiVersion, kind, metadata.name and metadata.namespace. */
  get(obj: KubeObject, opts?: KubeRequestOptions): Promise<KubeResponse>;
  /** DELETEs it (404 is returned, not thrown). */
  remove(obj: KubeObject, opts?: KubeRequestOptions): Promise<KubeResponse>;
  /** A Namespace labelled kubernetes.io/metadata.name=NAME (v1.20 does not add that label itself). */
  createNamespace(name: string, labels?: Record<string, string>): Promise<KubeJson>;
  /** The logs so far (files in the temp dirs). */
  logs(): { etcd: string; apiserver: string };
  /**
   * Stops kube-apiserver only (etcd keeps everything): SIGKILL by default, a crash with requests in
   * flight; SIGTERM for a graceful stop.
   */
  stopApiserver(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same etcd, certificates and tokens; resolves at /readyz ok. */
  startApiserver(): Promise<void>;
  /** Kills both processes and removes the temp dirs; safe to call twice. */
  stop(): Promise<void>;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; generateName?: string; namespace?: string; [field: string]: unknown };
  [field: string]: unknown;
}

export interface StartKubeOptions {
  /** Keep etcd's data on /dev/shm (tmpfs, no disk fsync; default true when /dev/shm is writable). */
  etcdInMemory?: boolean;
  /** Extra kube-apiserver flags, e.g. ['--v=4']. */
  apiserverArgs?: string[];
  /** Readiness timeout for /readyz, default 60 s. */
  readyTimeoutMs?: number;
  /**
   * Keep the ServiceAccount admission plugin (pods get token volumes; needs a kube-controller-manager to
   * create the ServiceAccounts and their token Secrets, as the node suite runs). Default false.
   */
  serviceAccounts?: boolean;
}

export const USER_NAME = 'fn-pinner';
/** The ServiceAccount of manifests/base/01-serviceaccount.yaml, as the apiserver names it. */
export const SA_NAMESPACE = 'fn-pinner-system';
export const SA_NAME = 'fn-pinner';
export const SA_USER_NAME = `system:serviceaccount:${SA_NAMESPACE}:${SA_NAME}`;
/** The groups the apiserver gives a ServiceAccount token. */
export const SA_GROUPS = [
  'system:serviceaccounts',
  `system:serviceaccounts:${SA_NAMESPACE}`,
  'system:authenticated',
];
export const METADATA_NAME_LABEL = 'kubernetes.io/metadata.name';
const READY_TIMEOUT_MS = 60_000;
const ETCD_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const LOG_TAIL_LINES = 40;

// ---------------------------------------------------------------------------------------------------------
// Binaries

let assets: Promise<string> | undefined;

/**
 * The directory holding kube-apiserver and etcd: KUBEBUILDER_ASSETS (envtest convention) when set, else the
 * output of scripts/build-kube-apiserver.sh, which is cached (a no-op after the first build, ~4 min cold).
 * Builds are serialized with flock, so parallel jest workers do not build twice.
 */
export function kubeAssets(): Promise<string> {
  assets ??= findAssets();
  // A failed lookup is not cached: the next test file tries again.
  void assets.catch(() => (assets = undefined));
  return assets;
}

async function findAssets(): Promise<string> {
  const fromEnv = process.env.KUBEBUILDER_ASSETS;
  if (fromEnv) {
    const missing = ['kube-apiserver', 'etcd'].filter((b) => !isExecutable(join(fromEnv, b)));
    if (missing.length > 0) {
      throw new Error(`KUBEBUILDER_ASSETS=${fromEnv} has no executable ${missing.join(' or ')}`);
    }
    return fromEnv;
  }
  const script = join(import.meta.dirname, '..', '..', 'scripts', 'build-kube-apiserver.sh');
  const lock = join(tmpdir(), 'fn-pinner-kube-build.lock');
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      'flock',
      [lock, 'bash', script],
      { maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60_000 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        reject(
          new Error(
            'no kube-apiserver: KUBEBUILDER_ASSETS is not set and scripts/build-kube-apiserver.sh failed ' +
              `(${err.message.split('\n')[0]}); it needs root or sudo, apt access to Debian's archive and ` +
              `~2 GB of disk. Its output ended with:\n${tail(stderr, LOG_TAIL_LINES)}`,
          ),
        );
      },
    );
  });
  const dir = out.trim().split('\n').pop() ?? '';
  if (!isExecutable(join(dir, 'kube-apiserver')) || !isExecutable(join(dir, 'etcd'))) {
    throw new Error(
      `scripts/build-kube-apiserver.sh printed ${JSON.stringify(dir)}, which lacks the binaries`,
    );
  }
  return dir;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Processes: never left behind

/** Children still running; SIGKILLed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/**
 * A detached shell that SIGKILLs `child` and removes `dirs` if this process dies without stopping it (a
 * SIGKILLed jest worker runs no exit hooks). It ends by itself when the child exits.
 */
function watchdog(child: ChildProcess, dirs: string[]): ChildProcess {
  const script = [
    'parent=$1; pid=$2; shift 2',
    'while kill -0 "$pid" 2>/dev/null; do',
    '  if ! kill -0 "$parent" 2>/dev/null; then kill -9 "$pid"; sleep 0.5; rm -rf -- "$@"; exit 0; fi',
    '  sleep 0.5',
    'done',
  ].join('\n');
  const dog = spawn(
    '/bin/sh',
    ['-c', script, 'fn-pinner-kube-watchdog', String(process.pid), String(child.pid), ...dirs],
    { detached: true, stdio: 'ignore' },
  );
  dog.unref();
  return dog;
}

export interface Proc {
  child: ChildProcess;
  dog: ChildProcess;
  log: string;
}

export function spawnLogged(bin: string, args: string[], log: string, dirs: string[], append = false): Proc {
  // A file, not a pipe: pipes would be open handles in jest and could fill up if nobody reads them.
  const fd = openSync(log, append ? 'a' : 'w');
  try {
    const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
    track(child);
    return { child, dog: watchdog(child, dirs), log };
  } finally {
    closeSync(fd);
  }
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export async function kill(proc: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!proc) return;
  const { child, dog } = proc;
  if (!exited(child)) {
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await done;
    clearTimeout(timer);
  }
  if (dog.exitCode === null && dog.signalCode === null) dog.kill('SIGKILL');
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '(no log)';
  }
}

export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Start

interface Layout {
  dir: string;
  etcdDir: string;
  etcdLog: string;
  apiserverLog: string;
}

function layout(opts: StartKubeOptions): Layout {
  const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-kube-'));
  const shm = '/dev/shm';
  const inMemory = opts.etcdInMemory ?? isWritableDir(shm);
  const etcdDir = mkdtempSync(join(inMemory ? shm : dir, 'fn-pinner-etcd-'));
  return {
    dir,
    etcdDir,
    etcdLog: join(dir, 'etcd.log'),
    apiserverLog: join(dir, 'kube-apiserver.log'),
  };
}

function isWritableDir(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Starts etcd and kube-apiserver; resolves once /readyz says ok. */
export async function startKube(opts: StartKubeOptions = {}): Promise<TestKube> {
  const binDir = await kubeAssets();
  const started = performance.now();
  const paths = layout(opts);
  const procs: { etcd?: Proc; apiserver?: Proc } = {};
  const logs = (): { etcd: string; apiserver: string } => ({
    etcd: readLog(paths.etcdLog),
    apiserver: readLog(paths.apiserverLog),
  });
  const cleanup = async (): Promise<void> => {
    await kill(procs.apiserver);
    await kill(procs.etcd);
    rmSync(paths.etcdDir, { recursive: true, force: true });
    rmSync(paths.dir, { recursive: true, force: true });
  };
  let dispatcher: Agent | undefined;
  try {
    let secrets: ApiserverFiles | undefined;
    const etcdUrl = await startEtcd(binDir, paths, procs, () => {
      secrets ??= writeApiserverFiles(paths.dir);
    });
    const etcdReadyMs = performance.now() - started;
    secrets ??= writeApiserverFiles(paths.dir);
    dispatcher = new Agent({ connect: { ca: secrets.caPem } });
    const start: ApiserverStart = {
      etcdUrl,
      dispatcher,
      adminToken: secrets.adminToken,
      extraArgs: [
        // No controller-manager, so no `default` ServiceAccount: pods would be rejected.
        ...(opts.serviceAccounts ? [] : ['--disable-admission-plugins=ServiceAccount']),
        ...(opts.apiserverArgs ?? []),
      ],
      readyTimeoutMs: opts.readyTimeoutMs ?? READY_TIMEOUT_MS,
      logs,
    };
    const port = await startApiserver(binDir, paths, procs, start);
    const totalMs = performance.now() - started;
    const server = `https://127.0.0.1:${port}`;
    const kube = makeKube({
      server,
      port,
      caPem: secrets.caPem,
      adminToken: secrets.adminToken,
      userToken: secrets.userToken,
      saToken: secrets.saToken,
      dir: paths.dir,
      dispatcher,
      binDir,
      pkiDir: join(paths.dir, 'pki'),
      timings: { etcdReadyMs, apiserverReadyMs: totalMs - etcdReadyMs, totalMs },
      logs,
      cleanup,
      apiserver: {
        stop: (signal) => kill(procs.apiserver, signal),
        start: () => restartApiserver(binDir, paths, procs, { ...start, port }),
      },
    });
    return kube;
  } catch (err) {
    await dispatcher?.close();
    await cleanup();
    throw err;
  }
}

/** `whileBooting` runs right after the first spawn, to overlap CPU work with etcd's start. */
async function startEtcd(
  binDir: string,
  paths: Layout,
  procs: { etcd?: Proc },
  whileBooting: () => void,
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const [client, peer] = [await freePort(), await freePort()];
    const clientUrl = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    const data = join(paths.etcdDir, `data-${attempt}`);
    // A fresh data dir per attempt: a half-started member leaves state behind.
    procs.etcd = spawnLogged(
      join(binDir, 'etcd'),
      [
        '--name=fn-pinner-test',
        `--data-dir=${data}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=fn-pinner-test=${peerUrl}`,
        '--log-level=warn',
        '--logger=zap',
      ],
      paths.etcdLog,
      [paths.etcdDir, paths.dir],
    );
    try {
      whileBooting();
      await waitEtcd(procs.etcd, clientUrl);
      return clientUrl;
    } catch (err) {
      await kill(procs.etcd);
      if (attempt >= 3 || !readLog(paths.etcdLog).includes('address already in use')) throw err;
    }
  }
}

async function waitEtcd(proc: Proc, url: string): Promise<void> {
  const deadline = Date.now() + ETCD_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (exited(proc.child)) {
      throw new Error(`etcd exited (${proc.child.exitCode ?? proc.child.signalCode}):\n${tailOf(proc.log)}`);
    }
    try {
      const res = await undiciRequest(`${url}/health`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
      last = await res.body.text();
      if (res.statusCode === 200 && /"health":\s*"true"/.test(last)) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(50);
  }
  throw new Error(`etcd not healthy at ${url} within ${ETCD_TIMEOUT_MS} ms (${last}):\n${tailOf(proc.log)}`);
}

function tailOf(log: string): string {
  return tail(readLog(log), LOG_TAIL_LINES);
}

interface ApiserverFiles {
  caPem: string;
  adminToken: string;
  userToken: string;
  saToken: string;
}

interface Pki {
  ca: CertKeyPair;
  serving: CertKeyPair;
  sa: { publicKey: string; privateKey: string };
}

let sharedPki: Pki | undefined;

/** RSA key generation costs ~0.5 s for the three keys: done once per test process, while etcd boots. */
function pki(): Pki {
  if (sharedPki) return sharedPki;
  const ca = generateCa({ commonName: 'fn-pinner test kube-apiserver CA' });
  sharedPki = {
    ca,
    serving: generateServingCert({
      ca,
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      ipAddresses: ['127.0.0.1'],
    }),
    sa: generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    }),
  };
  return sharedPki;
}

/** Serving certificate, service-account keys and the token file (fresh tokens per apiserver). */
function writeApiserverFiles(dir: string): ApiserverFiles {
  const { ca, serving, sa } = pki();
  const files: ApiserverFiles = {
    caPem: ca.certPem,
    adminToken: `admin-${randomBytes(16).toString('hex')}`,
    userToken: `user-${randomBytes(16).toString('hex')}`,
    saToken: `sa-${randomBytes(16).toString('hex')}`,
  };
  knownSecret(files.adminToken, 'kube-apiserver admin token');
  knownSecret(files.userToken, 'kube-apiserver user token');
  knownSecret(files.saToken, 'kube-apiserver ServiceAccount token');
  const dest = join(dir, 'pki');
  mkdirSync(dest, { mode: 0o700 });
  writeFileSync(join(dest, 'ca.crt'), ca.certPem);
  writeFileSync(join(dest, 'server.crt'), serving.certPem);
  writeFileSync(join(dest, 'server.key'), serving.keyPem, { mode: 0o600 });
  writeFileSync(join(dest, 'sa.pub'), sa.publicKey);
  writeFileSync(join(dest, 'sa.key'), sa.privateKey, { mode: 0o600 });
  // token,user,uid[,"group1,group2"]
  const lines = [
    `${files.adminToken},admin,uid-admin,"system:masters"`,
    `${files.userToken},${USER_NAME},uid-${USER_NAME}`,
    `${files.saToken},${SA_USER_NAME},uid-sa-${SA_NAME},"${SA_GROUPS.join(',')}"`,
  ];
  writeFileSync(join(dest, 'tokens.csv'), `${lines.join('\n')}\n`, { mode: 0o600 });
  return files;
}

interface ApiserverStart {
  etcdUrl: string;
  dispatcher: Agent;
  adminToken: string;
  extraArgs: string[];
  readyTimeoutMs: number;
  logs: () => { etcd: string; apiserver: string };
}

function apiserverArgs(dir: string, port: number, etcdUrl: string, extra: string[]): string[] {
  const pki = join(dir, 'pki');
  return [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${join(pki, 'generated')}`,
    `--tls-cert-file=${join(pki, 'server.crt')}`,
    `--tls-private-key-file=${join(pki, 'server.key')}`,
    `--token-auth-file=${join(pki, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--anonymous-auth=false',
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${join(pki, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
    '--service-cluster-ip-range=10.96.0.0/24',
    // Would write 127.0.0.1 into the `kubernetes` Endpoints; nothing is meant to dial it.
    '--endpoint-reconciler-type=none',
    '--profiling=false',
    ...extra,
  ];
}

/**
 * kube-apiserver again, after stopApiserver: the same port (clients keep their URL), etcd, certificates and
 * tokens. The port was freed by the old process; if something else took it meanwhile, retry for a while.
 */
async function restartApiserver(
  binDir: string,
  paths: Layout,
  procs: { apiserver?: Proc },
  s: ApiserverStart & { port: number },
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const args = apiserverArgs(paths.dir, s.port, s.etcdUrl, s.extraArgs);
    procs.apiserver = spawnLogged(
      join(binDir, 'kube-apiserver'),
      args,
      paths.apiserverLog,
      [paths.etcdDir, paths.dir],
      true,
    );
    try {
      await waitReady(procs.apiserver, s.port, s);
      return;
    } catch (err) {
      await kill(procs.apiserver);
      if (attempt >= 5 || !readLog(paths.apiserverLog).includes('address already in use')) throw err;
      await sleep(500);
    }
  }
}

async function startApiserver(
  binDir: string,
  paths: Layout,
  procs: { apiserver?: Proc },
  s: ApiserverStart,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    procs.apiserver = spawnLogged(
      join(binDir, 'kube-apiserver'),
      apiserverArgs(paths.dir, port, s.etcdUrl, s.extraArgs),
      paths.apiserverLog,
      [paths.etcdDir, paths.dir],
    );
    try {
      await waitReady(procs.apiserver, port, s);
      return port;
    } catch (err) {
      await kill(procs.apiserver);
      if (attempt >= 3 || !readLog(paths.apiserverLog).includes('address already in use')) throw err;
    }
  }
}

async function waitReady(proc: Proc, port: number, s: ApiserverStart): Promise<void> {
  const deadline = Date.now() + s.readyTimeoutMs;
  const url = `https://127.0.0.1:${port}/readyz`;
  const headers = { authorization: `Bearer ${s.adminToken}` };
  let last = '';
  while (Date.now() < deadline) {
    if (exited(proc.child)) break;
    try {
      const res = await undiciRequest(url, {
        dispatcher: s.dispatcher,
        headers,
        headersTimeout: 2_000,
        bodyTimeout: 2_000,
      });
      last = `HTTP ${res.statusCode} ${await res.body.text()}`;
      if (res.statusCode === 200 && last.endsWith(' ok')) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  const why = exited(proc.child)
    ? `kube-apiserver exited (${proc.child.exitCode ?? proc.child.signalCode})`
    : `kube-apiserver /readyz not ok within ${s.readyTimeoutMs} ms (last: ${tail(last, 30)})`;
  const { etcd, apiserver } = s.logs();
  throw new Error(
    `${why}\n--- kube-apiserver log (tail) ---\n${tail(apiserver, LOG_TAIL_LINES)}\n` +
      `--- etcd log (tail) ---\n${tail(etcd, LOG_TAIL_LINES)}`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Client side

interface KubeParts {
  server: string;
  port: number;
  caPem: string;
  adminToken: string;
  userToken: string;
  saToken: string;
  dir: string;
  dispatcher: Agent;
  binDir: string;
  pkiDir: string;
  timings: TestKube['timings'];
  logs: TestKube['logs'];
  cleanup: () => Promise<void>;
  apiserver: { stop(signal?: NodeJS.Signals): Promise<void>; start(): Promise<void> };
}

function makeKube(p: KubeParts): TestKube {
  const kubeconfigPath = writeKubeconfig(p, 'admin', p.adminToken);
  const userKubeconfigPath = writeKubeconfig(p, USER_NAME, p.userToken);
  const saKubeconfigPath = writeKubeconfig(p, 'sa-fn-pinner', p.saToken);
  let stopped: Promise<void> | undefined;
  const relayed: unknown[] = [];
  captured(`kube-apiserver ${p.server}: pods, Status messages and warnings it answered`, () => relayed);
  const request: TestKube['request'] = async (method, path, body, opts = {}) => {
    // An attached cluster may authenticate by client certificate: no token, no Authorization header.
    const token = opts.token ?? p.adminToken;
    const res = await undiciRequest(`${p.server}${path}`, {
      method,
      dispatcher: p.dispatcher,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': opts.contentType ?? 'application/json' }),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await res.body.text();
    const json = String(res.headers['content-type'] ?? '').includes('json');
    const answer = {
      status: res.statusCode,
      body: json && text ? JSON.parse(text) : text,
      warnings: warningTexts(res.headers.warning),
    };
    relayed.push(...relayedByApiserver(answer));
    return answer;
  };
  const apply: TestKube['apply'] = (obj, opts = {}) =>
    request('POST', `${collectionPath(obj)}${opts.dryRun ? '?dryRun=All' : ''}`, obj, {
      ...(opts.token ? { token: opts.token } : {}),
    });
  const serverSideApply: TestKube['serverSideApply'] = (obj, opts = {}) => {
    const query = new URLSearchParams({ fieldManager: opts.fieldManager ?? 'fn-pinner-e2e' });
    if (opts.force ?? true) query.set('force', 'true');
    if (opts.dryRun) query.set('dryRun', 'All');
    return request('PATCH', `${objectPath(obj)}?${query.toString()}`, obj, {
      contentType: 'application/apply-patch+yaml',
      ...(opts.token ? { token: opts.token } : {}),
    });
  };
  const create: TestKube['create'] = async (obj, opts) => {
    const res = await apply(obj, opts);
    if (res.status < 200 || res.status > 299) {
      const what = `${obj.kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? obj.metadata?.generateName}`;
      throw new Error(`create ${what}: HTTP ${res.status} ${describeStatus(res.body)}`);
    }
    return res.body;
  };
  return {
    server: p.server,
    port: p.port,
    caPem: p.caPem,
    adminToken: p.adminToken,
    userToken: p.userToken,
    userName: USER_NAME,
    saToken: p.saToken,
    saUserName: SA_USER_NAME,
    kubeconfigPath,
    userKubeconfigPath,
    saKubeconfigPath,
    dispatcher: p.dispatcher,
    binDir: p.binDir,
    pkiDir: p.pkiDir,
    timings: p.timings,
    request,
    apply,
    create,
    serverSideApply,
    get: (obj, opts) => request('GET', objectPath(obj), undefined, opts),
    remove: (obj, opts) => request('DELETE', objectPath(obj), undefined, opts),
    createNamespace: (name, labels = {}) =>
      create({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { ...labels, [METADATA_NAME_LABEL]: name } },
      }),
    logs: p.logs,
    stopApiserver: (signal = 'SIGKILL') => p.apiserver.stop(signal),
    startApiserver: () => p.apiserver.start(),
    stop() {
      stopped ??= (async () => {
        await p.dispatcher.close();
        await p.cleanup();
      })();
      return stopped;
    },
  };
}

/**
 * A TestKube for a cluster that runs elsewhere (kind, for the node suite's cluster mode), from the current
 * context of its kubeconfig: a bearer token or a client certificate, the CA inline or in a file (no exec
 * plugins). It cannot stop or restart that API server, and it has no user or ServiceAccount tokens.
 */
export function attachKube(kubeconfigPath: string): TestKube {
  const kc: KubeJson = parse(readFileSync(kubeconfigPath, 'utf8'));
  const named = (list: KubeJson[] | undefined, name: string, what: string): KubeJson => {
    const found = list?.find((x) => x.name === name);
    if (!found) throw new Error(`${kubeconfigPath}: no ${what} named ${JSON.stringify(name)}`);
    return found;
  };
  const context = named(kc.contexts, kc['current-context'], 'context').context;
  const cluster = named(kc.clusters, context.cluster, 'cluster').cluster;
  const user = named(kc.users, context.user, 'user').user ?? {};
  const pem = (data: string | undefined, file: string | undefined): string | undefined =>
    data ? Buffer.from(data, 'base64').toString() : file ? readFileSync(file, 'utf8') : undefined;
  const caPem = pem(cluster['certificate-authority-data'], cluster['certificate-authority']) ?? '';
  const cert = pem(user['client-certificate-data'], user['client-certificate']);
  const key = pem(user['client-key-data'], user['client-key']);
  const dispatcher = new Agent({ connect: { ca: caPem || undefined, cert, key } });
  const server = String(cluster.server).replace(/\/$/, '');
  const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-attached-'));
  const elsewhere = async (): Promise<void> => {
    throw new Error(`${server} runs elsewhere: the tests cannot stop or start its API server`);
  };
  const kube = makeKube({
    server,
    port: Number(new URL(server).port || 443),
    caPem,
    adminToken: typeof user.token === 'string' ? user.token : '',
    userToken: '',
    saToken: '',
    dir,
    dispatcher,
    binDir: '',
    pkiDir: '',
    timings: { etcdReadyMs: 0, apiserverReadyMs: 0, totalMs: 0 },
    logs: () => ({ etcd: '', apiserver: '' }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    apiserver: { stop: elsewhere, start: elsewhere },
  });
  return { ...kube, kubeconfigPath };
}

/**
 * What of an answer may carry fn-pinner's words: pods (its patch, annotations), Status messages (its
 * denials) and warnings. Secrets are left out: their data is the Docker config, by design.
 */
function relayedByApiserver(answer: KubeResponse): unknown[] {
  const body = answer.body;
  const kind = typeof body === 'object' && body !== null ? body.kind : undefined;
  const kept: unknown[] = [...answer.warnings];
  if (kind === 'Pod' || kind === 'PodList') kept.push(body);
  else if (kind === 'Status') kept.push(body.message);
  return kept;
}

function writeKubeconfig(p: KubeParts, user: string, token: string): string {
  const path = join(p.dir, `kubeconfig-${user}`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'fn-pinner-test',
        cluster: { server: p.server, 'certificate-authority-data': caBundle(p.caPem) },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'fn-pinner-test', user, namespace: 'default' } }],
    'current-context': user,
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}

/** `299 - "text"` (RFC 7234 warn-code, agent, quoted text; one header or several) → the texts. */
export function warningTexts(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const texts: string[] = [];
  for (const value of values) {
    for (const m of value.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g))
      texts.push(m[1]!.replace(/\\(.)/g, '$1'));
  }
  return texts;
}

/** A Status body's reason and message, or a short preview of whatever came back. */
export function describeStatus(body: unknown): string {
  if (body && typeof body === 'object' && 'message' in body) {
    const s = body as { reason?: string; message?: string };
    return `${s.reason ?? ''}: ${s.message ?? ''}`;
  }
  return JSON.stringify(body).slice(0, 500);
}

interface Resource {
  plural: string;
  namespaced: boolean;
}

const RESOURCES: Record<string, Record<string, Resource>> = {
  v1: {
    Namespace: { plural: 'namespaces', namespaced: false },
    Secret: { plural: 'secrets', namespaced: true },
    Pod: { plural: 'pods', namespaced: true },
    ServiceAccount: { plural: 'serviceaccounts', namespaced: true },
    Service: { plural: 'services', namespaced: true },
    ConfigMap: { plural: 'configmaps', namespaced: true },
    ResourceQuota: { plural: 'resourcequotas', namespaced: true },
  },
  'admissionregistration.k8s.io/v1': {
    MutatingWebhookConfiguration: { plural: 'mutatingwebhookconfigurations', namespaced: false },
    ValidatingWebhookConfiguration: { plural: 'validatingwebhookconfigurations', namespaced: false },
  },
  'rbac.authorization.k8s.io/v1': {
    Role: { plural: 'roles', namespaced: true },
    RoleBinding: { plural: 'rolebindings', namespaced: true },
    ClusterRole: { plural: 'clusterroles', namespaced: false },
    ClusterRoleBinding: { plural: 'clusterrolebindings', namespaced: false },
  },
  'apps/v1': {
    Deployment: { plural: 'deployments', namespaced: true },
  },
  'policy/v1beta1': {
    PodDisruptionBudget: { plural: 'poddisruptionbudgets', namespaced: true },
  },
  'policy/v1': {
    PodDisruptionBudget: { plural: 'poddisruptionbudgets', namespaced: true },
  },
  'scheduling.k8s.io/v1': {
    PriorityClass: { plural: 'priorityclasses', namespaced: false },
  },
  // The cert-manager overlay, deployed by the node suite's cluster mode (its CRDs installed first).
  'cert-manager.io/v1': {
    Issuer: { plural: 'issuers', namespaced: true },
    Certificate: { plural: 'certificates', namespaced: true },
  },
};

/** /api/v1/namespaces/NS/pods and the like; namespaced kinds default to namespace "default". */
export function collectionPath(obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const resource = RESOURCES[obj.apiVersion]?.[obj.kind];
  if (!resource) {
    const known = Object.entries(RESOURCES).flatMap(([v, kinds]) =>
      Object.keys(kinds).map((k) => `${v} ${k}`),
    );
    throw new Error(`no REST path known for ${obj.apiVersion} ${obj.kind} (known: ${known.join(', ')})`);
  }
  const root = obj.apiVersion === 'v1' ? '/api/v1' : `/apis/${obj.apiVersion}`;
  const ns = resource.namespaced ? `/namespaces/${obj.metadata?.namespace ?? 'default'}` : '';
  return `${root}${ns}/${resource.plural}`;
}

export function objectPath(obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`${obj.kind} has no metadata.name`);
  return `${collectionPath(obj)}/${encodeURIComponent(name)}`;
}

// ---------------------------------------------------------------------------------------------------------
// MutatingWebhookConfiguration

export interface RegisterWebhookOptions {
  /** The configuration's name; the webhook inside is `${name}.fn-pinner.io` unless webhookName is set. */
  name: string;
  webhookName?: string;
  /** https://127.0.0.1:PORT/mutate; a URL without a path gets /mutate appended. */
  url: string;
  /** The webhook's CA (PEM); becomes the caBundle. */
  caPem: string;
  failurePolicy?: 'Fail' | 'Ignore';
  /** Only pods in this namespace (matched on kubernetes.io/metadata.name, see createNamespace). */
  namespace?: string;
  /** Or any selector; wins over `namespace`. */
  namespaceSelector?: Record<string, unknown>;
  objectSelector?: Record<string, unknown>;
  /** Default 10. */
  timeoutSeconds?: number;
  /** Default IfNeeded, as in manifests/. */
  reinvocationPolicy?: 'Never' | 'IfNeeded';
  /** Default NoneOnDryRun, as in manifests/. */
  sideEffects?: 'None' | 'NoneOnDryRun' | 'Some' | 'Unknown';
  /** Default: CREATE of v1 pods. */
  rules?: Array<Record<string, unknown>>;
}

export function webhookConfiguration(opts: RegisterWebhookOptions): KubeObject {
  const url = new URL(opts.url);
  if (url.pathname === '/') url.pathname = '/mutate';
  const namespaceSelector =
    opts.namespaceSelector ??
    (opts.namespace ? { matchLabels: { [METADATA_NAME_LABEL]: opts.namespace } } : undefined);
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: opts.name, labels: { 'app.kubernetes.io/name': 'fn-pinner-test' } },
    webhooks: [
      {
        name: opts.webhookName ?? `${opts.name}.fn-pinner.io`,
        admissionReviewVersions: ['v1'],
        clientConfig: { url: url.href, caBundle: caBundle(opts.caPem) },
        rules: opts.rules ?? [
          {
            operations: ['CREATE'],
            apiGroups: [''],
            apiVersions: ['v1'],
            resources: ['pods'],
            scope: 'Namespaced',
          },
        ],
        ...(namespaceSelector ? { namespaceSelector } : {}),
        ...(opts.objectSelector ? { objectSelector: opts.objectSelector } : {}),
        failurePolicy: opts.failurePolicy ?? 'Fail',
        sideEffects: opts.sideEffects ?? 'NoneOnDryRun',
        timeoutSeconds: opts.timeoutSeconds ?? 10,
        reinvocationPolicy: opts.reinvocationPolicy ?? 'IfNeeded',
        matchPolicy: 'Equivalent',
      },
    ],
  };
}

/**
 * Creates the MutatingWebhookConfiguration, or replaces it if one of that name exists. The apiserver picks
 * changes up asynchronously (an informer): follow with waitForWebhook before relying on it.
 */
export async function registerWebhook(kube: TestKube, opts: RegisterWebhookOptions): Promise<KubeJson> {
  const desired = webhookConfiguration(opts);
  const existing = await kube.get(desired);
  if (existing.status === 404) return kube.create(desired);
  if (existing.status !== 200) {
    throw new Error(
      `get webhook configuration ${opts.name}: HTTP ${existing.status} ${describeStatus(existing.body)}`,
    );
  }
  const metadata = { ...desired.metadata, resourceVersion: existing.body.metadata.resourceVersion };
  const res = await kube.request('PUT', objectPath(desired), { ...desired, metadata });
  if (res.status !== 200) {
    throw new Error(
      `replace webhook configuration ${opts.name}: HTTP ${res.status} ${describeStatus(res.body)}`,
    );
  }
  return res.body;
}

/** Deletes it; a missing configuration is fine. */
export async function deleteWebhook(kube: TestKube, name: string): Promise<void> {
  const res = await kube.remove({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
  });
  if (res.status !== 200 && res.status !== 404) {
    throw new Error(`delete webhook configuration ${name}: HTTP ${res.status} ${describeStatus(res.body)}`);
  }
}

export interface WebhookProbe {
  namespace: string;
  /** The image of the default probe pod. */
  image?: string;
  /** Or a whole pod to dry-run create (metadata.namespace is set to `namespace`). */
  pod?: KubeObject;
  /**
   * When the webhook has acted on the dry-run response. Default: the pod was admitted with fn-pinner's
   * original-images annotation, or rejected with a message naming an admission webhook.
   */
  acted?: (res: KubeResponse) => boolean;
  /** Default 10 s. */
  timeoutMs?: number;
}

export function defaultActed(res: KubeResponse): boolean {
  if (res.status === 201) return res.body?.metadata?.annotations?.[ORIGINAL_IMAGES_ANNOTATION] !== undefined;
  return /admission webhook|failed calling webhook/.test(String(res.body?.message ?? ''));
}

/**
 * Retries a dry-run pod create until `acted` says the webhook took part, i.e. until the apiserver has
 * noticed a new or changed configuration. Returns the last response and how long it took. Use a negated
 * `acted` to wait for a deleted webhook to stop being called.
 */
export async function waitForWebhook(
  kube: TestKube,
  probe: WebhookProbe,
): Promise<{ res: KubeResponse; ms: number; attempts: number }> {
  const started = performance.now();
  const timeoutMs = probe.timeoutMs ?? 10_000;
  const acted = probe.acted ?? defaultActed;
  const pod: KubeObject = probe.pod ?? {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'webhook-probe-' },
    spec: { containers: [{ name: 'probe', image: probe.image ?? 'probe.invalid/probe:v1' }] },
  };
  const body = { ...pod, metadata: { ...pod.metadata, namespace: probe.namespace } };
  for (let attempts = 1; ; attempts++) {
    const res = await kube.apply(body, { dryRun: true });
    const ms = performance.now() - started;
    if (acted(res)) return { res, ms, attempts };
    if (ms > timeoutMs) {
      throw new Error(
        `webhook not observed within ${timeoutMs} ms (${attempts} dry-run creates in ${probe.namespace}); ` +
          `last: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 800)}`,
      );
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Manifests

/** Objects of another tool in manifests/ (kustomization.yaml): not API objects, never sent. */
const NOT_API_OBJECTS = /^kustomize\.config\.k8s\.io\//;

/** Every YAML document of a file that is a Kubernetes object, in order (empty documents and Kustomizations skipped). */
export function readManifests(path: string): KubeObject[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const objects: KubeObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const obj = doc.toJS() as KubeObject | null;
    if (obj === null || obj === undefined) continue;
    if (NOT_API_OBJECTS.test(String(obj.apiVersion))) continue;
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
      throw new Error(`${path}: a document without apiVersion and kind`);
    }
    objects.push(obj);
  }
  return objects;
}

export interface ApplyManifestOptions extends ApplyOptions {
  /** Server-side apply (PATCH, 200 for an existing object) instead of a create (POST, 409 if it exists). */
  serverSide?: boolean;
  /** Only the documents this keeps. */
  filter?: (obj: KubeObject) => boolean;
  /** Rewrites each object before it is sent (e.g. to move a Role into another namespace). */
  transform?: (obj: KubeObject) => KubeObject;
}

export interface AppliedManifest {
  file: string;
  object: KubeObject;
  res: KubeResponse;
}

/**
 * POSTs every document of a manifests file (see readManifests). Never throws on HTTP errors: the caller
 * checks each response (a dry run of a whole file is only useful if every answer is looked at).
 */
export async function applyManifestFile(
  kube: TestKube,
  file: string,
  opts: ApplyManifestOptions = {},
): Promise<AppliedManifest[]> {
  const applied: AppliedManifest[] = [];
  for (const original of readManifests(file)) {
    if (opts.filter && !opts.filter(original)) continue;
    const object = opts.transform ? opts.transform(structuredClone(original)) : original;
    const send = {
      ...(opts.token ? { token: opts.token } : {}),
      ...(opts.dryRun ? { dryRun: true } : {}),
    };
    const res = opts.serverSide ? await kube.serverSideApply(object, send) : await kube.apply(object, send);
    applied.push({ file, object, res });
  }
  return applied;
}

/** Like applyManifestFile, but throws unless every document was accepted (2xx). */
export async function createManifestFile(
  kube: TestKube,
  file: string,
  opts: ApplyManifestOptions = {},
): Promise<AppliedManifest[]> {
  const applied = await applyManifestFile(kube, file, opts);
  const failed = applied.filter((a) => a.res.status < 200 || a.res.status > 299);
  if (failed.length > 0) {
    const why = failed.map(
      (a) =>
        `${a.object.kind} ${a.object.metadata?.namespace ?? ''}/${a.object.metadata?.name}: HTTP ${a.res.status} ${describeStatus(a.res.body)}`,
    );
    throw new Error(`apply ${file}: ${why.join('; ')}`);
  }
  return applied;
}

// ---------------------------------------------------------------------------------------------------------
// A Secret volume, as the kubelet writes it

/**
 * A folder laid out like a kubelet Secret volume: `KEY -> ..data/KEY`, `..data -> ..<timestamp>`, and the
 * files in `..<timestamp>/`. update() writes a new timestamped folder and swaps `..data` atomically with a
 * rename, then removes the old folder, so a reader never sees a half-written file (and an fs.watch on the
 * folder sees a rename, not a change of KEY itself).
 */
export interface SecretVolume {
  dir: string;
  /** `${dir}/${key}`, the path a container would be given. */
  path(key: string): string;
  update(files: Record<string, string | Buffer>): void;
  remove(): void;
}

export function secretVolume(files: Record<string, string | Buffer>): SecretVolume {
  const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-secret-volume-'));
  let current: string | undefined;
  let generation = 0;
  const write = (next: Record<string, string | Buffer>): void => {
    const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${generation++}`;
    mkdirSync(join(dir, stamp), { mode: 0o755 });
    for (const [key, content] of Object.entries(next)) writeFileSync(join(dir, stamp, key), content);
    symlinkSync(stamp, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    for (const key of Object.keys(next)) {
      try {
        symlinkSync(join('..data', key), join(dir, key));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    if (current) rmSync(join(dir, current), { recursive: true, force: true });
    current = stamp;
  };
  write(files);
  return {
    dir,
    path: (key) => join(dir, key),
    update: write,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Another mutating webhook, to make the apiserver re-invoke fn-pinner

export interface PatchWebhook {
  /** https://127.0.0.1:PORT/mutate */
  url: string;
  /** Trust this for it (the test apiserver's CA). */
  caPem: string;
  /** AdmissionReview requests answered so far. */
  calls: number;
  stop(): Promise<void>;
}

/**
 * A minimal mutating webhook (AdmissionReview v1 over HTTPS on 127.0.0.1) answering every review with the
 * JSONPatch `patchFor` returns for the object (none: allowed unchanged). Serves the test apiserver's own
 * certificate (its SANs include 127.0.0.1), so it costs no key generation.
 */
export async function startPatchWebhook(
  patchFor: (object: KubeJson, request: KubeJson) => unknown[] | undefined,
): Promise<PatchWebhook> {
  const { ca, serving } = pki();
  let calls = 0;
  const server = createHttpsServer({ key: serving.keyPem, cert: serving.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls++;
      let answer: unknown;
      try {
        const review: KubeJson = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const patch = patchFor(review.request.object, review.request);
        answer = {
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: {
            uid: review.request.uid,
            allowed: true,
            ...(patch?.length
              ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
              : {}),
          },
        };
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/mutate`,
    caPem: ca.certPem,
    get calls() {
      return calls;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
