import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';

import { isFnPinnerError, type FnPinnerError } from '../../src/errors.js';
import {
  DockerConfigKeychain,
  createDefaultKeychain,
  defaultKeychainPaths,
} from '../../src/registry/auth/keychain.js';
import { ImageReference } from '../../src/reference/reference.js';

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
let clock: number;
let errors: FnPinnerError[];
const now = (): number => clock;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-pinner-keychain-'));
  clock = 1_000_000;
  errors = [];
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function keychain(paths: string[], extra: { missingOk?: boolean } = {}): DockerConfigKeychain {
  return new DockerConfigKeychain({ paths, now, onError: (err) => errors.push(err), ...extra });
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
    const kc = keychain([a, b]);
    expect(users(kc, 'ghcr.io/org/app:1')).toEqual(['app-b', 'org-a', 'host-a', 'host-b']);
    expect(users(kc, 'ghcr.io/other/app')).toEqual(['host-a', 'host-b']);
    expect(users(kc, 'gcr.io/x/y')).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('returns a secret mounted twice only once', () => {
    const a = path.join(tmp, 'a.json');
    const b = path.join(tmp, 'b.json');
    fs.writeFileSync(a, config({ 'ghcr.io': auth('same') }));
    fs.writeFileSync(b, config({ 'https://ghcr.io': auth('same') }));
    const creds = keychain([a, b]).resolve(ref('ghcr.io/o/a'));
    expect(creds).toHaveLength(1);
    expect(creds[0]!.source).toBe(`${a} auths["ghcr.io"]`);
  });

  it('matches Docker Hub images to the legacy https://index.docker.io/v1/ key', () => {
    const file = path.join(tmp, 'c.json');
    fs.writeFileSync(file, config({ 'https://index.docker.io/v1/': auth('hub') }));
    expect(users(keychain([file]), 'nginx')).toEqual(['hub']);
  });
});

describe('DockerConfigKeychain reload (kubelet atomic Secret updates)', () => {
  it('picks up a swapped ..data symlink after the check interval, not before', () => {
    const vol = new SecretVolume(path.join(tmp, 'secret'));
    vol.write(config({ 'ghcr.io': auth('v1') }));
    const reloads: string[] = [];
    const kc = new DockerConfigKeychain({ paths: [vol.file], now, onReload: (f) => reloads.push(f) });
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['v1']);

    vol.write(config({ 'ghcr.io': auth('v2') }));
    clock += 999;
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['v1']);
    clock += 1;
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['v2']);
    expect(reloads).toEqual([vol.file, vol.file]);
  });

  it('notices an in-place rewrite of the same file', () => {
    const file = path.join(tmp, 'plain.json');
    fs.writeFileSync(file, config({ 'ghcr.io': auth('before') }));
    const kc = keychain([file]);
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['before']);
    fs.writeFileSync(file, config({ 'ghcr.io': auth('after!') }));
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    clock += 1000;
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['after!']);
  });

  it('does not re-read an unchanged file', () => {
    const file = path.join(tmp, 'same.json');
    fs.writeFileSync(file, config({ 'ghcr.io': auth('x') }));
    const reloads: string[] = [];
    const kc = new DockerConfigKeychain({ paths: [file], now, onReload: (f) => reloads.push(f) });
    for (let i = 0; i < 5; i++, clock += 1000) kc.resolve(ref('ghcr.io/o/a'));
    expect(reloads).toHaveLength(1);
  });

  it('keeps the last good config when a reload fails, reports it once, and recovers', () => {
    const vol = new SecretVolume(path.join(tmp, 'secret'));
    vol.write(config({ 'ghcr.io': auth('good') }));
    const kc = keychain([vol.file]);
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['good']);

    vol.write(`{"auths": {"ghcr.io": {"auth": "${auth('broken').auth}"}}`); // truncated JSON
    clock += 1000;
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['good']);
    clock += 1000;
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['good']);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('BAD_DOCKER_CONFIG');
    expect(errors[0]!.message).toMatch(
      /^load Docker config .*\/config\.json: not valid JSON( \(at character \d+\))?$/,
    );

    vol.write(config({ 'ghcr.io': { auth: 'not base64!' } }));
    clock += 1000;
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['good']);
    expect(errors).toHaveLength(2);
    expect(errors[1]!.message).toContain('auths["ghcr.io"].auth is not valid base64');

    vol.write(config({ 'ghcr.io': auth('fixed') }));
    clock += 1000;
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['fixed']);
    expect(errors).toHaveLength(2);
    for (const err of errors) expect(err.message).not.toContain(SECRET);
  });

  it('treats a missing required file as no credentials, reported once, and loads it when it appears', () => {
    const file = path.join(tmp, 'later', 'config.json');
    const kc = keychain([file]);
    expect(kc.resolve(ref('ghcr.io/o/a'))).toEqual([]);
    clock += 1000;
    expect(kc.resolve(ref('ghcr.io/o/a'))).toEqual([]);
    expect(errors.map((e) => e.message)).toEqual([
      `load Docker config ${file}: file not found (is the Secret mounted at this path?)`,
    ]);
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, config({ 'ghcr.io': auth('arrived') }));
    clock += 1000;
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['arrived']);
  });

  it('keeps the last good config when a required file disappears', () => {
    const file = path.join(tmp, 'gone.json');
    fs.writeFileSync(file, config({ 'ghcr.io': auth('kept') }));
    const kc = keychain([file]);
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['kept']);
    fs.rmSync(file);
    clock += 1000;
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['kept']);
    expect(errors).toHaveLength(1);
  });

  it('skips missing optional files silently and forgets one that is removed', () => {
    const present = path.join(tmp, 'present.json');
    fs.writeFileSync(present, config({ 'ghcr.io': auth('optional') }));
    const kc = keychain([path.join(tmp, 'absent.json'), present], { missingOk: true });
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['optional']);
    fs.rmSync(present);
    clock += 1000;
    expect(users(kc, 'ghcr.io/o/a')).toEqual([]);
    expect(errors).toEqual([]);
  });
});

describe('DockerConfigKeychain load', () => {
  it('throws the FnPinnerError for a malformed file, without secrets', () => {
    const file = path.join(tmp, 'bad.json');
    fs.writeFileSync(file, config({ 'ghcr.io': { username: 'u', password: 42 }, 'quay.io': auth('q') }));
    const kc = keychain([file]);
    let caught: unknown;
    try {
      kc.load();
    } catch (err) {
      caught = err;
    }
    expect(isFnPinnerError(caught, 'BAD_DOCKER_CONFIG')).toBe(true);
    expect((caught as Error).message).toBe(
      `load Docker config ${file}: auths["ghcr.io"].password must be a string`,
    );
    // the same failure is not reported again by the next resolve()
    expect(kc.resolve(ref('quay.io/a/b'))).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('throws for a missing required file and not for a missing optional one', () => {
    const missing = path.join(tmp, 'nope.json');
    expect(() => keychain([missing]).load()).toThrow('file not found');
    expect(() => keychain([missing], { missingOk: true }).load()).not.toThrow();
  });

  it('loads valid files and exposes their warnings', () => {
    const file = path.join(tmp, 'helpers.json');
    fs.writeFileSync(file, JSON.stringify({ auths: { 'ghcr.io': auth('w') }, credsStore: 'desktop' }));
    const kc = keychain([file]);
    kc.load();
    expect(kc.warnings).toHaveLength(1);
    expect(kc.warnings[0]).toContain('ignoring "credsStore"');
    expect(users(kc, 'ghcr.io/o/a')).toEqual(['w']);
  });

  it('reports a directory where a file should be as unreadable', () => {
    const dir = path.join(tmp, 'adir');
    fs.mkdirSync(dir);
    expect(() => keychain([dir]).load()).toThrow(`load Docker config ${dir}: cannot read the file (EISDIR)`);
  });
});

describe('defaultKeychainPaths', () => {
  it('lists the docker, podman and go-containerregistry locations in priority order', () => {
    expect(
      defaultKeychainPaths({
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
    expect(defaultKeychainPaths({})).toEqual([]);
    expect(defaultKeychainPaths({ HOME: '/h', DOCKER_CONFIG: '', XDG_RUNTIME_DIR: undefined })).toEqual([
      '/h/.docker/config.json',
    ]);
    expect(defaultKeychainPaths({ HOME: '/h', DOCKER_CONFIG: '/h/.docker/' })).toEqual([
      '/h/.docker/config.json',
    ]);
  });

  it('gives an anonymous keychain when none of the files exist', () => {
    const kc = createDefaultKeychain({ HOME: tmp }, { now, onError: (err) => errors.push(err) });
    kc.load();
    expect(kc.resolve(ref('ghcr.io/o/a'))).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('reads $HOME/.docker/config.json', () => {
    fs.mkdirSync(path.join(tmp, '.docker'));
    fs.writeFileSync(path.join(tmp, '.docker', 'config.json'), config({ 'ghcr.io': auth('home') }));
    expect(users(createDefaultKeychain({ HOME: tmp }, { now }), 'ghcr.io/o/a')).toEqual(['home']);
  });
});
