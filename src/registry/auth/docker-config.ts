import { FnPinnerError } from '../../errors.js';
import { makeCredential, type Credential } from './credentials.js';
import { parseRegistryKey, redactKey, type RegistryKey } from './host-match.js';

/**
 * Docker config files: `config.json` / `.dockerconfigjson` (`{"auths": {...}}`) and the legacy
 * `.dockercfg` form (the same entries at the top level). Error messages name the file and the key, never
 * a value: these files hold passwords, and a bad one is exactly when its content would end up in a log.
 */
export interface DockerConfigEntry {
  key: RegistryKey;
  credential: Credential;
}

export interface ParsedDockerConfig {
  entries: DockerConfigEntry[];
  /** Things that were ignored on purpose (credential helpers, empty entries), for the startup log. */
  warnings: string[];
}

const STRING_FIELDS = ['auth', 'username', 'password', 'identitytoken', 'registrytoken'] as const;
type EntryFields = Partial<Record<(typeof STRING_FIELDS)[number], string>>;

const HELPER_WARNING =
  'credential helpers are executables on a workstation; they do not exist inside the webhook container, ' +
  'and running binaries named by a mounted file would be a security risk. Put the credentials into "auths" instead';

/** The one builder of Docker config errors, for the parser here and the file's owner (src/sources). */
export function dockerConfigError(file: string, why: string, cause?: unknown): FnPinnerError {
  return new FnPinnerError('BAD_DOCKER_CONFIG', `load Docker config ${file}: ${why}`, { cause });
}

const bad = dockerConfigError;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON.parse messages may quote the input (newer V8 does); keep only the position. */
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const position = /position (\d+)/.exec(err instanceof Error ? err.message : '')?.[1];
    throw bad(file, `not valid JSON${position === undefined ? '' : ` (at character ${position})`}`);
  }
}

function looksLikeRegistry(key: string): boolean {
  return /[.:/]/.test(key) || key === 'localhost';
}

/** `.dockercfg` has entries at the top level; config.json's own settings (`credsStore`, `psFormat`…) do not look like hosts. */
function isLegacyFormat(root: Record<string, unknown>): boolean {
  const keys = Object.keys(root);
  return !('auths' in root) && keys.length > 0 && keys.every(looksLikeRegistry);
}

function decodeAuth(value: string, where: string): { username: string; password: string } {
  const compact = value.replace(/[\r\n]/g, '').trim();
  const validAlphabet = /^[A-Za-z0-9+/]*={0,2}$/.test(compact);
  const validLength = compact.includes('=') ? compact.length % 4 === 0 : compact.length % 4 !== 1;
  if (!validAlphabet || !validLength) throw new Error(`${where}.auth is not valid base64`);
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(compact, 'base64'));
  } catch {
    throw new Error(`${where}.auth does not decode to UTF-8 text`);
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new Error(`${where}.auth must be base64 of "username:password" (no colon found)`);
  // Only the first colon separates: passwords (and tokens used as passwords) may contain colons.
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Go's encoding/json matches field names case-insensitively, so `identityToken` and `Auth` work in docker. */
function readFields(value: unknown, where: string): EntryFields {
  if (!isObject(value)) throw new Error(`${where} must be an object`);
  const fields: EntryFields = {};
  for (const [name, fieldValue] of Object.entries(value)) {
    const field = STRING_FIELDS.find((f) => f === name.toLowerCase());
    if (field === undefined || fieldValue === undefined || fieldValue === null) continue;
    if (typeof fieldValue !== 'string') throw new Error(`${where}.${name} must be a string`);
    if (fieldValue !== '') fields[field] = fieldValue;
  }
  return fields;
}

function toCredential(fields: EntryFields, source: string, where: string): Credential | undefined {
  // Like docker and go-containerregistry, `auth` wins over separate username/password fields.
  const basic = fields.auth === undefined ? fields : decodeAuth(fields.auth, where);
  const credential = makeCredential({
    source,
    username: basic.username,
    password: basic.password,
    identityToken: fields.identitytoken,
    registryToken: fields.registrytoken,
  });
  const empty = !credential.username && !credential.password && !credential.identityToken;
  return empty && !credential.registryToken ? undefined : credential;
}

function helperWarnings(root: Record<string, unknown>, file: string): string[] {
  const warnings: string[] = [];
  if (root.credsStore !== undefined && root.credsStore !== '') {
    warnings.push(`load Docker config ${file}: ignoring "credsStore": ${HELPER_WARNING}`);
  }
  if (isObject(root.credHelpers) && Object.keys(root.credHelpers).length > 0) {
    const hosts = Object.keys(root.credHelpers).map((h) => JSON.stringify(h));
    warnings.push(
      `load Docker config ${file}: ignoring "credHelpers" for ${hosts.join(', ')}: ${HELPER_WARNING}`,
    );
  }
  return warnings;
}

function authsOf(
  root: Record<string, unknown>,
  file: string,
): { map: Record<string, unknown>; prefix: string } {
  if (isLegacyFormat(root)) return { map: root, prefix: '' };
  if (root.auths === undefined || root.auths === null) return { map: {}, prefix: 'auths' };
  if (!isObject(root.auths)) throw bad(file, '"auths" must be an object mapping registry to credentials');
  return { map: root.auths, prefix: 'auths' };
}

function parseKey(file: string, rawKey: string): RegistryKey {
  try {
    return parseRegistryKey(rawKey);
  } catch (err) {
    throw bad(file, err instanceof Error ? err.message : String(err));
  }
}

function parseEntry(
  file: string,
  label: string,
  rawKey: string,
  value: unknown,
): DockerConfigEntry | undefined {
  const key = parseKey(file, rawKey);
  try {
    const credential = toCredential(readFields(value, label), `${file} ${label}`, label);
    return credential === undefined ? undefined : { key, credential };
  } catch (err) {
    // Our own messages only: nothing from the entry's values is ever interpolated.
    throw bad(file, err instanceof Error ? err.message : String(err));
  }
}

/**
 * Parses the text of a Docker config file. `file` is only used in messages and credential sources.
 * Throws FnPinnerError('BAD_DOCKER_CONFIG') for anything malformed; returns warnings for what it ignored.
 */
export function parseDockerConfig(text: string, file: string): ParsedDockerConfig {
  const root = parseJson(text, file);
  if (!isObject(root)) throw bad(file, 'top level must be a JSON object');
  const warnings = helperWarnings(root, file);
  const { map, prefix } = authsOf(root, file);
  const entries: DockerConfigEntry[] = [];
  for (const [rawKey, value] of Object.entries(map)) {
    const label = `${prefix}[${JSON.stringify(redactKey(rawKey))}]`;
    const entry = parseEntry(file, label, rawKey, value);
    if (entry) entries.push(entry);
    else warnings.push(`load Docker config ${file}: ${label} has no credentials; ignored`);
  }
  return { entries, warnings };
}
