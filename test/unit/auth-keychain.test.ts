import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';

import { defaultDockerConfigs } from '../../src/config/inputs.js';
import { isFnPinnerError } from '../../src/errors.js';
import { DockerConfigKeychain } from '../../src/registry/auth/keychain.js';
import { ImageReference } from '../../src/reference/reference.js';
import { DockerConfigSource } from '../../src/sources/docker-config.js';
import { captureLogger } from '../support/capture-logger.js';
import type { LogLine } from '../support/capture-logger.js';

const SECRET = 'Pa55:w0rd-do-not-log';
const ref = (image: string): ImageReference => ImageReference.parse(image);
const auth = (user: string, pass = SECRET): { auth: string } => ({
  auth: Buffer.from(`${user}:${pass}`).toString('base64'),
});
const config = (auths: Record<string, unknown>): string => JSON.stringify({ auths });

/**
 * A Secret volume as the kubelet's AtomicWriter lays it out:
 *   <dir>/config.json → ..data/config.json, ..data → ..<timestamp>/
 * and updates it by writing a new timestamped directory and renaming a fresh symlink over `..data`.
 */
class SecretVolume {
  private generation = 0;
  private current: string | undefined;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  get file(): string {
    return path.join(this.dir, 'config.json');
  }

  write(content: string): void {
    const tsDir = `..2026_01_01_00_00_0${this.generation++}.000`;
    fs.mkdirSync(path.join(this.dir, tsDir));
    fs.writeFileSync(path.join(this.dir, tsDir, 'config.json'), content);
    const tmpLink = path.join(this.dir, '..data_tmp');
    fs.symlinkSync(tsDir, tmpLink);
    fs.renameSync(tmpLink, path.join(this.dir, '..data'));
    if (!fs.existsSync(this.file)) fs.symlinkSync(path.join('..data', 'config.json'), this.file);
    if (this.current) fs.rmSync(path.join(this.dir, this.current), { recursive: true });
    this.current = tsDir;
  }
}

let tmp: string;
let lines: LogLine[];
const sources: DockerConfigSource[] = [];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-pinner-keychain-'));
  lines = [];
});

afterEach(() => {
  for (const s of sources.splice(0)) s.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function source(file: string, required = true): DockerConfigSource {
  const captured = captureLogger();
  lines = captured.lines;
  const s = new DockerConfigSource({ file, required, log: captured.log, pollMs: 50 });
  sources.push(s);
  return s;
}

const errors = (): (string | undefined)[] =>
  lines.filter((l) => l.level === 'error').map((l) => l.err?.message);

function keychainOf(files: string[], required = true): DockerConfigKeychain {
  return new DockerConfigKeychain(
    files.map((f) => {
      const s = source(f, required);
      s.load();
      return s;
    }),
  );
}

const users = (kc: DockerConfigKeychain, image: string): (string | undefined)[] =>
  kc.resolve(ref(image)).map((c) => c.username);

describe('DockerConfigKeychain resolve', () => {
  it('returns every matching credential from all files, most specific first', () => {
    const a = path.join(tmp, 'a.json');
    const b = path.join(tmp, 'b.json');
    fs.writeFileSync(
      a,
      config({ 'ghcr.io': auth('host-a'), 'ghcr.io/org': auth('org-a'), 'quay.io': auth('q') }),
    );
    fs.writeFileSync(b, config({ 'https://ghcr.io/v2/': auth('host-b'), 'ghcr.io/org/app': auth('app-b') }));
    const kc = keychainOf([a, b]);
    expect(users(kc, 'ghcr.io/org/app:1')).toEqual(['app-b', 'org-a', 'host-a', 'host-b']);
    expect(users(kc, 'ghcr.io/other/app')).toEqual(['host-a', 'host-b']);
    expect(users(kc, 'gcr.io/x/y')).toEqual([]);
  });

  it('returns a secret mounted twice only once', () => {
    const a = path.join(tmp, 'a.json');
    const b = path.join(tmp, 'b.json');
    fs.writeFileSync(a, config({ 'ghcr.io': auth('same') }));
    fs.writeFileSync(b, config({ 'https://ghcr.io': auth('same') }));
    const creds = keychainOf([a, b]).resolve(ref('ghcr.io/o/a'));
    expect(creds).toHaveLength(1);
    expect(creds[0]!.source).toBe(`${a} auths["ghcr.io"]`);
  });

  it('matches Docker Hub images to the legacy https://index.docker.io/v1/ key', () => {
    const file = path.join(tmp, 'c.json');
    fs.writeFileSync(file, config({ 'https://index.docker.io/v1/': auth('hub') }));
    expect(users(keychainOf([file]), 'nginx')).toEqual(['hub']);
  });
});

describe('DockerConfigSource reload (kubelet atomic Secret updates)', () => {
  it('picks up a swapped ..data symlink on its own and tells its listeners', async () => {
    const vol = new SecretVolume(path.join(tmp, 'secret'));
    vol.write(config({ 'ghcr.io': auth('v1') }));
    const s = source(vol.file);
    s.load();
    const kc = new DockerConfigKeychain([s]);
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['v1']);
    s.start();
    const changed = new Promise<void>((resolve) => s.onChange(() => resolve()));
    vol.write(config({ 'ghcr.io': auth('v2') }));
    await changed;
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['v2']);
  });

  it('notices an in-place rewrite of the same file, and does not re-read an unchanged one', () => {
    const file = path.join(tmp, 'plain.json');
    fs.writeFileSync(file, config({ 'ghcr.io': auth('before') }));
    const s = source(file);
    s.load();
    expect(s.refresh()).toBe(false);
    fs.writeFileSync(file, config({ 'ghcr.io': auth('after!') }));
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(s.refresh()).toBe(true);
    expect(users(new DockerConfigKeychain([s]), 'ghcr.io/o/a')).toEqual(['after!']);
    expect(s.refresh()).toBe(false);
  });

  it('keeps the last good config when a reload fails, reports each failure once, and recovers', () => {
    const vol = new SecretVolume(path.join(tmp, 'secret'));
    vol.write(config({ 'ghcr.io': auth('good') }));
    const s = source(vol.file);
    s.load();
    const kc = new DockerConfigKeychain([s]);

    vol.write(`{"auths": {"ghcr.io": {"auth": "${auth('broken').auth}"}}`); // truncated JSON
    s.refresh();
    s.refresh();
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['good']);
    expect(errors()).toHaveLength(1);
    expect(s.lastError).toMatch(
      /^load Docker config .*\/config\.json: not valid JSON( \(at character \d+\))?$/,
    );

    vol.write(config({ 'ghcr.io': { auth: 'not base64!' } }));
    s.refresh();
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['good']);
    expect(errors()).toHaveLength(2);
    expect(s.lastError).toContain('auths["ghcr.io"].auth is not valid base64');

    vol.write(config({ 'ghcr.io': auth('fixed') }));
    expect(s.refresh()).toBe(true);
    expect(s.lastError).toBeUndefined();
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['fixed']);
    expect(JSON.stringify(lines)).not.toContain(SECRET);
  });

  it('treats an emptied required file as invalid and keeps the last good credentials', () => {
    const file = path.join(tmp, 'emptied.json');
    fs.writeFileSync(file, config({ 'ghcr.io': auth('kept') }));
    const s = source(file);
    s.load();
    fs.writeFileSync(file, config({}));
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(s.refresh()).toBe(false);
    expect(s.lastError).toBe(`load Docker config ${file}: no credentials in it`);
    expect(users(new DockerConfigKeychain([s]), 'ghcr.io/o/a')).toEqual(['kept']);
  });

  it('keeps the last good config when a required file disappears', () => {
    const file = path.join(tmp, 'gone.json');
    fs.writeFileSync(file, config({ 'ghcr.io': auth('kept') }));
    const s = source(file);
    s.load();
    fs.rmSync(file);
    s.refresh();
    expect(users(new DockerConfigKeychain([s]), 'ghcr.io/o/a')).toEqual(['kept']);
    expect(s.lastError).toBe(
      `load Docker config ${file}: file not found (is the Secret mounted at this path?)`,
    );
  });

  it('skips missing optional files silently, takes an empty one as no credentials, forgets a removed one', () => {
    const present = path.join(tmp, 'present.json');
    const empty = path.join(tmp, 'empty.json');
    fs.writeFileSync(present, config({ 'ghcr.io': auth('optional') }));
    fs.writeFileSync(empty, config({}));
    const optional = [path.join(tmp, 'absent.json'), empty, present].map((f) => source(f, false));
    optional.forEach((s) => s.load());
    const kc = new DockerConfigKeychain(optional);
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['optional']);
    fs.rmSync(present);
    optional.forEach((s) => s.refresh());
    expect(users(kc, 'ghcr.io/o/a')).toEqual([]);
    expect(optional.map((s) => s.lastError)).toEqual([undefined, undefined, undefined]);
  });
});

describe('DockerConfigSource load', () => {
  it('throws the FnPinnerError for a malformed file, without secrets', () => {
    const file = path.join(tmp, 'bad.json');
    fs.writeFileSync(file, config({ 'ghcr.io': { username: 'u', password: 42 }, 'quay.io': auth('q') }));
    let caught: unknown;
    try {
      source(file).load();
    } catch (err) {
      caught = err;
    }
    expect(isFnPinnerError(caught, 'BAD_DOCKER_CONFIG')).toBe(true);
    expect((caught as Error).message).toBe(
      `load Docker config ${file}: auths["ghcr.io"].password must be a string`,
    );
  });

  it('throws for a missing required file and not for a missing optional one', () => {
    const missing = path.join(tmp, 'nope.json');
    expect(() => source(missing).load()).toThrow('file not found');
    expect(() => source(missing, false).load()).not.toThrow();
  });

  it('loads valid files and logs what it ignored on purpose', () => {
    const file = path.join(tmp, 'helpers.json');
    fs.writeFileSync(file, JSON.stringify({ auths: { 'ghcr.io': auth('w') }, credsStore: 'desktop' }));
    const s = source(file);
    s.load();
    expect(s.current?.warnings).toHaveLength(1);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      expect.stringContaining('ignoring "credsStore"'),
    ]);
    expect(users(new DockerConfigKeychain([s]), 'ghcr.io/o/a')).toEqual(['w']);
  });

  it('reports a directory where a file should be as unreadable', () => {
    const dir = path.join(tmp, 'adir');
    fs.mkdirSync(dir);
    expect(() => source(dir).load()).toThrow(`load Docker config ${dir}: cannot read the file (EISDIR)`);
  });
});

describe('defaultDockerConfigs', () => {
  it('lists the docker, podman and go-containerregistry locations in priority order', () => {
    expect(
      defaultDockerConfigs({
        DOCKER_CONFIG: '/cfg',
        HOME: '/home/me',
        REGISTRY_AUTH_FILE: '/run/auth.json',
        XDG_RUNTIME_DIR: '/run/user/1000',
      }),
    ).toEqual([
      '/cfg/config.json',
      '/home/me/.docker/config.json',
      '/run/auth.json',
      '/run/user/1000/containers/auth.json',
    ]);
  });

  it('skips unset and empty variables and duplicates', () => {
    expect(defaultDockerConfigs({})).toEqual([]);
    expect(defaultDockerConfigs({ HOME: '/h', DOCKER_CONFIG: '', XDG_RUNTIME_DIR: undefined })).toEqual([
      '/h/.docker/config.json',
    ]);
    expect(defaultDockerConfigs({ HOME: '/h', DOCKER_CONFIG: '/h/.docker/' })).toEqual([
      '/h/.docker/config.json',
    ]);
  });
});
