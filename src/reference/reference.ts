import { FnPinnerError } from '../errors.js';
import { quote } from '../util/text.js';
import { DOCKER_HUB, apiHostOf, normalizeRegistryHost } from './host.js';

export { DOCKER_HUB, DOCKER_HUB_API_HOST } from './host.js';

/**
 * Image references, parsed once into a value type. Grammar:
 * https://github.com/distribution/reference/blob/main/reference.go
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain '/'] path-component ['/' path-component]*
 */

export const DEFAULT_TAG = 'latest';

const MAX_NAME_LENGTH = 255;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST_RE = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+(?:%[a-zA-Z0-9]+)?\\])(?::[0-9]+)?$`,
);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

interface ReferenceParts {
  /** Exactly what the user wrote. */
  original: string;
  /** Normalised registry host[:port]; Docker Hub is always `docker.io`. */
  registry: string;
  /** Full repository path; Docker Hub official images get `library/`. */
  repository: string;
  /** The name part as written (no tag or digest), kept so pinning preserves the user's spelling. */
  writtenName: string;
  tag: string | undefined;
  digest: string | undefined;
}

export class ImageReference implements ReferenceParts {
  readonly original: string;
  readonly registry: string;
  readonly repository: string;
  readonly writtenName: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;

  private constructor(parts: ReferenceParts) {
    this.original = parts.original;
    this.registry = parts.registry;
    this.repository = parts.repository;
    this.writtenName = parts.writtenName;
    this.tag = parts.tag;
    this.digest = parts.digest;
  }

  static parse(input: string): ImageReference {
    return parseImageReference(input);
  }

  /** @internal used by the parser only. */
  static create(parts: ReferenceParts): ImageReference {
    return new ImageReference(parts);
  }

  /** `docker.io/library/nginx` */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** The host to talk to for the distribution API. */
  get apiHost(): string {
    return apiHostOf(this.registry);
  }

  /** What to ask the registry for: the digest when there is one, else the tag (default `latest`). */
  get identifier(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** `docker.io/library/nginx:latest`, `host/repo@sha256:…` or `host/repo:tag@sha256:…`. */
  get canonical(): string {
    if (this.digest) return `${this.name}${this.tag ? `:${this.tag}` : ''}@${this.digest}`;
    return `${this.name}:${this.tag ?? DEFAULT_TAG}`;
  }

  /** The reference as written, with `@digest` appended (replacing any digest already there). */
  pin(digest: string): string {
    return `${this.writtenName}${this.tag ? `:${this.tag}` : ''}@${digest}`;
  }

  /**
   * The reference written back from its parts: `name[:tag][@digest]` with the name as written. Equal to
   * `original` for every parsed reference; the property tests hold the parser to that, so no part of the
   * input is ever dropped or invented.
   */
  format(): string {
    return `${this.writtenName}${this.tag ? `:${this.tag}` : ''}${this.digest ? `@${this.digest}` : ''}`;
  }

  toString(): string {
    return this.original;
  }
}

function bad(input: string, why: string): FnPinnerError {
  return new FnPinnerError('BAD_REFERENCE', `parse image reference ${quote(input, 300)}: ${why}`);
}

function splitDigest(input: string): { rest: string; digest: string | undefined } {
  const at = input.indexOf('@');
  if (at < 0) return { rest: input, digest: undefined };
  const digest = input.slice(at + 1);
  if (!DIGEST_RE.test(digest)) {
    throw bad(
      input,
      `malformed digest ${JSON.stringify(digest)} (want sha256: and 64 lower-case hex digits)`,
    );
  }
  return { rest: input.slice(0, at), digest };
}

function splitTag(input: string, rest: string): { name: string; tag: string | undefined } {
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon < 0) return { name: rest, tag: undefined };
  const tag = rest.slice(colon + 1);
  if (!TAG_RE.test(tag)) throw bad(input, `invalid tag ${JSON.stringify(tag)}`);
  return { name: rest.slice(0, colon), tag };
}

function isDomain(component: string): boolean {
  return (
    component.includes('.') ||
    component.includes(':') ||
    component === 'localhost' ||
    component.startsWith('[') ||
    component.toLowerCase() !== component
  );
}

function splitDomain(input: string, name: string): { registry: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (slash < 0 || !isDomain(first)) return { registry: DOCKER_HUB, path: name };
  if (!HOST_RE.test(first)) throw bad(input, `invalid registry host ${JSON.stringify(first)}`);
  return { registry: normalizeRegistryHost(first), path: name.slice(slash + 1) };
}

function checkPath(input: string, path: string): void {
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT_RE.test(component)) {
      const hint = component.toLowerCase() !== component ? ' (repository names must be lower case)' : '';
      throw bad(input, `invalid repository path component ${JSON.stringify(component)}${hint}`);
    }
  }
}

export function parseImageReference(input: string): ImageReference {
  if (typeof input !== 'string' || input.trim() === '') throw bad(String(input), 'empty image name');
  if (input !== input.trim()) throw bad(input, 'leading or trailing whitespace');
  const { rest, digest } = splitDigest(input);
  const { name, tag } = splitTag(input, rest);
  if (name === '') throw bad(input, 'empty image name');
  if (name.length > MAX_NAME_LENGTH) throw bad(input, `name longer than ${MAX_NAME_LENGTH} characters`);
  const { registry, path } = splitDomain(input, name);
  checkPath(input, path);
  const repository = registry === DOCKER_HUB && !path.includes('/') ? `library/${path}` : path;
  return ImageReference.create({ original: input, registry, repository, writtenName: name, tag, digest });
}
