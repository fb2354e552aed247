import * as fs from 'node:fs';
import * as path from 'node:path';

import { toFnPinnerError } from '../errors.js';
import type { FnPinnerError } from '../errors.js';
import type { Logger } from '../logging.js';
import { dockerConfigError, parseDockerConfig } from '../registry/auth/docker-config.js';
import type { DockerConfigEntry } from '../registry/auth/docker-config.js';

/**
 * The one owner of a Docker config file: it reads and parses the file, keeps the last good copy, notices
 * changes (a folder watch for the kubelet's `..data` swap, and a poll for volumes that send no events), and
 * tells its listeners. The keychain and the pull-Secret sync both read `current`, so they can never disagree
 * about what the file holds, and the admission hot path does no file I/O.
 *
 * The one rule for what is valid: the file parses, and a `required` file (the mounted custom config) exists
 * and holds at least one credential. An invalid change is logged once and the last good copy stays, so a
 * half-written or emptied Secret never replaces working credentials. Optional files (the default keychain's
 * ~/.docker/config.json and friends) may be missing or empty: that just means no credentials.
 */
export interface DockerConfigSnapshot {
  file: string;
  bytes: Buffer;
  entries: readonly DockerConfigEntry[];
  /** Things ignored on purpose (credential helpers, empty entries), for the log. */
  warnings: readonly string[];
}

export interface DockerConfigSourceOptions {
  file: string;
  required: boolean;
  log: Logger;
  pollMs: number;
}

/** Identity of the content as far as the kubelet's Secret volume updates go (it swaps inodes). */
type Stamp = string;

const stampOf = (s: fs.Stats): Stamp => `${s.dev}:${s.ino}:${s.mtimeMs}:${s.size}`;

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export class DockerConfigSource {
  #current: DockerConfigSnapshot | undefined;
  #stamp: Stamp | undefined;
  #lastError: string | undefined;
  readonly #listeners = new Set<(snapshot: DockerConfigSnapshot | undefined) => void>();
  #watcher: fs.FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;

  constructor(private readonly opts: DockerConfigSourceOptions) {}

  get file(): string {
    return this.opts.file;
  }

  /** The last good copy; undefined before the first good read, or for a missing optional file. */
  get current(): DockerConfigSnapshot | undefined {
    return this.#current;
  }

  /** Why the file on disk is not what `current` holds, if it is not. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Reads the file now; throws BAD_DOCKER_CONFIG when it is invalid (for checking configuration at start). */
  load(): void {
    this.refresh({ throwOnError: true });
  }

  /** Watches for changes; not persistent, so a watcher alone never keeps the process alive. */
  start(): void {
    const dir = path.dirname(this.opts.file);
    try {
      this.#watcher = fs.watch(dir, { persistent: false }, () => {
        clearTimeout(this.#debounce);
        // A kubelet swap is a burst of events; read once it settles.
        this.#debounce = setTimeout(() => this.refresh(), 100);
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      // No such folder (an optional file's): the poll notices when it appears.
    }
    this.#timer = setInterval(() => this.refresh(), this.opts.pollMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#watcher?.close();
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
  }

  onChange(listener: (snapshot: DockerConfigSnapshot | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-reads the file if it changed; returns whether `current` changed. */
  refresh({ throwOnError = false } = {}): boolean {
    try {
      const changed = this.read();
      this.#lastError = undefined;
      if (changed) this.announce();
      return changed;
    } catch (err) {
      const error = toFnPinnerError(err, `load Docker config ${this.opts.file}`);
      if (throwOnError) throw error;
      if (error.message !== this.#lastError) {
        this.opts.log.error({ err: error.message }, 'Docker config unusable; keeping the last good copy');
      }
      this.#lastError = error.message;
      return false;
    }
  }

  private read(): boolean {
    const { file, required } = this.opts;
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR')
        throw this.bad(`cannot read the file (${code ?? 'error'})`, err);
      if (required) throw this.bad('file not found (is the Secret mounted at this path?)');
      const had = this.#current !== undefined;
      this.#current = undefined;
      this.#stamp = undefined;
      return had;
    }
    if (this.#stamp === stampOf(stat)) return false;
    const { bytes, stamp } = this.readBytes();
    const parsed = parseDockerConfig(bytes.toString('utf8'), file);
    if (required && parsed.entries.length === 0) throw this.bad('no credentials in it');
    this.#current = { file, bytes, entries: parsed.entries, warnings: parsed.warnings };
    this.#stamp = stamp;
    return true;
  }

  /** Through one descriptor, so the stamp describes exactly the bytes parsed, even mid-swap. */
  private readBytes(): { bytes: Buffer; stamp: Stamp } {
    let fd: number | undefined;
    try {
      fd = fs.openSync(this.opts.file, 'r');
      const stamp = stampOf(fs.fstatSync(fd));
      return { bytes: fs.readFileSync(fd), stamp };
    } catch (err) {
      throw this.bad(`cannot read the file (${errnoCode(err) ?? 'error'})`, err);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  private announce(): void {
    const snapshot = this.#current;
    this.opts.log.info({ file: this.opts.file, loaded: snapshot !== undefined }, 'Docker config loaded');
    for (const warning of snapshot?.warnings ?? []) this.opts.log.warn({ file: this.opts.file }, warning);
    for (const listener of this.#listeners) listener(snapshot);
  }

  private bad(why: string, cause?: unknown): FnPinnerError {
    return dockerConfigError(this.opts.file, why, cause);
  }
}
