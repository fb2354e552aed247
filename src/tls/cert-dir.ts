import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * Reading and atomically replacing the files of a certificate directory.
 *
 * Writes use the layout kubelet gives a mounted Secret (its AtomicWriter): the files live in a versioned
 * directory `..<timestamp>`, a symlink `..data` points at the current version, and each visible name is a
 * symlink `name -> ..data/name`. Replacing `..data` with rename(2) switches every file at once, so a crash
 * leaves either the old set or the new one, never a new certificate beside an old key. It also means one
 * watcher handles both our own writes and a kubelet-mounted Secret (both swap `..data`).
 */

/** The symlink kubelet (and we) swap to publish a new set of files. */
export const DATA_LINK = '..data';
const DATA_LINK_TMP = '..data_tmp';

export interface CertDirFile {
  name: string;
  data: string;
  /** 0o600 for private keys, 0o644 for certificates. */
  mode: number;
}

export type ReadResult = { ok: true; data: string } | { ok: false; missing: boolean; error: string };

/** Reads one file, following the symlinks; a missing file is reported separately from an unreadable one. */
export function readCertDirFile(dir: string, name: string): ReadResult {
  try {
    return { ok: true, data: readFileSync(join(dir, name), 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const missing = code === 'ENOENT' || code === 'ENOTDIR';
    return { ok: false, missing, error: missing ? 'missing' : `unreadable (${code ?? String(err)})` };
  }
}

/**
 * Publishes `files` as one atomic set in `dir` (created if needed). Visible names that are still regular
 * files (written by an older layout or by hand) are turned into symlinks one by one; that migration step is
 * the only non-atomic moment, and a mismatch it could leave is caught by validation on the next load.
 */
export function writeCertDirFiles(dir: string, files: CertDirFile[]): void {
  mkdirSync(dir, { recursive: true });
  const version = versionName();
  const versionDir = join(dir, version);
  mkdirSync(versionDir, { mode: 0o755 });
  for (const file of files) writeDurably(join(versionDir, file.name), file.data, file.mode);
  fsyncPath(versionDir);

  rmSync(join(dir, DATA_LINK_TMP), { force: true });
  symlinkSync(version, join(dir, DATA_LINK_TMP));
  renameSync(join(dir, DATA_LINK_TMP), join(dir, DATA_LINK));
  for (const file of files) linkVisibleName(dir, file.name);
  fsyncPath(dir);
  removeOldVersions(dir, version);
}

/** kubelet's naming (`..2006_01_02_15_04_05.<random>`), so the directory reads the same either way. */
function versionName(): string {
  const stamp = new Date().toISOString().replace(/[-:T]/g, '_').replace(/\..*$/, '');
  return `..${stamp}.${randomBytes(6).toString('hex')}`;
}

/** `wx`: a fresh file in a fresh directory; fsync so the rename never publishes unflushed data. */
function writeDurably(path: string, data: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function linkVisibleName(dir: string, name: string): void {
  const target = `${DATA_LINK}/${name}`;
  if (isSymlinkTo(join(dir, name), target)) return;
  const tmp = join(dir, `.${name}.tmp-${randomBytes(4).toString('hex')}`);
  symlinkSync(target, tmp);
  renameSync(tmp, join(dir, name));
}

function isSymlinkTo(path: string, target: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink() && readlinkSync(path) === target;
  } catch {
    return false;
  }
}

/**
 * Earlier versions and whatever a crash left behind (half-written versions, temporary links); none of them
 * is what `..data` points at.
 */
function removeOldVersions(dir: string, current: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const oldVersion = entry.isDirectory() && entry.name.startsWith('..') && entry.name !== current;
    const tmpLink = entry.isSymbolicLink() && /^\.[^.].*\.tmp-[0-9a-f]+$/.test(entry.name);
    if (oldVersion || tmpLink) rmSync(join(dir, entry.name), { recursive: true, force: true });
  }
}
