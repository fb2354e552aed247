import * as fs from 'node:fs';
import * as path from 'node:path';

import { FnPinnerError, toFnPinnerError } from '../../errors.js';
import type { ImageReference } from '../../reference/reference.js';
import { sameSecret, type Credential, type Keychain } from './credentials.js';
import { parseDockerConfig, type DockerConfigEntry } from './docker-config.js';
import { matchingEntries } from './host-match.js';

export { RoutingKeychain, isDefaultRegistryImage, normalizeImagePrefix } from './routing.js';
export type { RoutingKeychainOptions } from './routing.js';

export interface DockerConfigKeychainOptions {
  /** Docker config files, highest priority first. Matches from all of them are returned. */
  paths: readonly string[];
  /** A missing file means "no credentials here" instead of an error (the default-keychain locations). */
  missingOk?: boolean;
  /** Minimum time between checks of the files for changes. Default 1000. */
  checkIntervalMs?: number;
  now?: () => number;
  /** Reload failures, reported once per distinct failure; resolve() keeps using the last good config. */
  onError?: (err: FnPinnerError) => void;
  /** A file was (re)loaded successfully. */
  onReload?: (file: string, warnings: readonly string[]) => void;
}

/** Identity of the file's content as far as the kubelet's Secret volume updates go. */
interface FileStamp {
  dev: number;
  ino: number;
  mtimeMs: number;
  size: number;
}

const MISSING_CODES = new Set(['ENOENT', 'ENOTDIR']);

/** Duck-typed: `instanceof Error` is false for fs errors under jest's VM contexts (and across realms generally). */
function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

function bad(file: string, why: string, cause?: unknown): FnPinnerError {
  return new FnPinnerError('BAD_DOCKER_CONFIG', `load Docker config ${file}: ${why}`, { cause });
}

function toStamp(stat: fs.Stats): FileStamp {
  return { dev: stat.dev, ino: stat.ino, mtimeMs: stat.mtimeMs, size: stat.size };
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.size === b.size;
}

/**
 * `statSync` follows symlinks: a Secret volume's file is `<key> → ..data/<key>`, and the kubelet updates it
 * by pointing `..data` at a new timestamped directory, so the resolved target gets a new inode.
 * Returns undefined when the file does not exist.
 */
function statFile(file: string): FileStamp | undefined {
  try {
    return toStamp(fs.statSync(file));
  } catch (err) {
    const code = errnoCode(err);
    if (code !== undefined && MISSING_CODES.has(code)) return undefined;
    throw bad(file, `cannot read the file (${code ?? 'unknown error'})`, err);
  }
}

/** Reads through one descriptor so the stamp describes exactly the bytes parsed, even mid-swap. */
function readFile(file: string): { text: string; stamp: FileStamp } {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const stamp = toStamp(fs.fstatSync(fd));
    return { text: fs.readFileSync(fd, 'utf8'), stamp };
  } catch (err) {
    throw bad(file, `cannot read the file (${errnoCode(err) ?? 'unknown error'})`, err);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** One config file and the last good parse of it. */
class ConfigFile {
  entries: DockerConfigEntry[] = [];
  warnings: string[] = [];
  /** Message of the last failure reported, so a broken file is reported once, not on every check. */
  lastError: string | undefined;
  private stamp: FileStamp | undefined;

  constructor(
    readonly file: string,
    private readonly missingOk: boolean,
  ) {}

  /** Re-parses when the file changed; returns whether it did. Throws, keeping the last good state, on failure. */
  refresh(): boolean {
    const current = statFile(this.file);
    if (current === undefined) return this.handleMissing();
    if (this.stamp !== undefined && sameStamp(current, this.stamp)) return false;
    const { text, stamp } = readFile(this.file);
    const parsed = parseDockerConfig(text, this.file);
    this.entries = parsed.entries;
    this.warnings = parsed.warnings;
    this.stamp = stamp;
    return true;
  }

  private handleMissing(): boolean {
    if (!this.missingOk) {
      throw bad(this.file, 'file not found (is the Secret mounted at this path?)');
    }
    const hadConfig = this.stamp !== undefined;
    this.entries = [];
    this.warnings = [];
    this.stamp = undefined;
    return hadConfig;
  }
}

function asConfigError(err: unknown, file: string): FnPinnerError {
  return toFnPinnerError(err, `load Docker config ${file}`);
}

function dedupe(credentials: Credential[]): Credential[] {
  return credentials.filter((c, i) => credentials.findIndex((other) => sameSecret(c, other)) === i);
}

/**
 * Credentials from Docker config files, picked up again when the files change (Secret rotation) without
 * a restart. Files are checked at most every `checkIntervalMs`, from inside resolve(), so an idle webhook
 * does no I/O and a busy one does at most one stat per file per interval.
 */
export class DockerConfigKeychain implements Keychain {
  private readonly files: ConfigFile[];
  private readonly checkIntervalMs: number;
  private readonly now: () => number;
  private readonly onError: (err: FnPinnerError) => void;
  private readonly onReload: (file: string, warnings: readonly string[]) => void;
  private lastCheck: number | undefined;

  constructor(options: DockerConfigKeychainOptions) {
    this.files = options.paths.map((p) => new ConfigFile(p, options.missingOk ?? false));
    this.checkIntervalMs = options.checkIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? ((): void => undefined);
    this.onReload = options.onReload ?? ((): void => undefined);
  }

  /** Loads every file now; throws the first failure (for validating configuration at startup). */
  load(): void {
    this.lastCheck = this.now();
    const failures: FnPinnerError[] = [];
    for (const file of this.files) {
      try {
        this.refreshFile(file);
      } catch (err) {
        const error = asConfigError(err, file.file);
        file.lastError = error.message;
        failures.push(error);
      }
    }
    if (failures[0] !== undefined) throw failures[0];
  }

  resolve(ref: ImageReference): Credential[] {
    this.maybeRefresh();
    const entries = this.files.flatMap((f) => f.entries);
    return dedupe(matchingEntries(entries, ref).map((e) => e.credential));
  }

  registryHosts(): string[] {
    return this.files.flatMap((f) => f.entries.filter((e) => !e.key.wildcard).map((e) => e.key.host));
  }

  /** What was ignored on purpose in the files as last loaded (credential helpers, empty entries). */
  get warnings(): string[] {
    return this.files.flatMap((f) => f.warnings);
  }

  private maybeRefresh(): void {
    const now = this.now();
    if (this.lastCheck !== undefined && now - this.lastCheck < this.checkIntervalMs) return;
    this.lastCheck = now;
    for (const file of this.files) {
      try {
        this.refreshFile(file);
      } catch (err) {
        this.report(file, asConfigError(err, file.file));
      }
    }
  }

  private refreshFile(file: ConfigFile): void {
    const changed = file.refresh();
    file.lastError = undefined;
    if (changed) this.onReload(file.file, file.warnings);
  }

  private report(file: ConfigFile, err: FnPinnerError): void {
    if (file.lastError === err.message) return;
    file.lastError = err.message;
    this.onError(err);
  }
}

/** The environment variables the default keychain looks at, passed in (only src/config.ts reads process.env). */
export interface KeychainEnv {
  DOCKER_CONFIG?: string | undefined;
  REGISTRY_AUTH_FILE?: string | undefined;
  HOME?: string | undefined;
  XDG_RUNTIME_DIR?: string | undefined;
}

/**
 * Where docker, podman and go-containerregistry look for credentials, highest priority first:
 * `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`, `$REGISTRY_AUTH_FILE`,
 * `$XDG_RUNTIME_DIR/containers/auth.json`. Unset (or empty) variables are skipped, and so are duplicates.
 */
export function defaultKeychainPaths(env: KeychainEnv): string[] {
  const candidates = [
    env.DOCKER_CONFIG ? path.join(env.DOCKER_CONFIG, 'config.json') : undefined,
    env.HOME ? path.join(env.HOME, '.docker', 'config.json') : undefined,
    env.REGISTRY_AUTH_FILE || undefined,
    env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json') : undefined,
  ];
  return [...new Set(candidates.filter((p): p is string => p !== undefined))];
}

/** The keychain for the default locations: files that do not exist are simply skipped (anonymous). */
export function createDefaultKeychain(
  env: KeychainEnv,
  options: Omit<DockerConfigKeychainOptions, 'paths' | 'missingOk'> = {},
): DockerConfigKeychain {
  return new DockerConfigKeychain({ ...options, paths: defaultKeychainPaths(env), missingOk: true });
}
