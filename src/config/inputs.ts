import * as fs from 'node:fs';
import * as path from 'node:path';

import { ImageReference } from '../reference/reference.js';
import { errorMessage, parsePemCertificates } from '../tls/pem.js';
import type { Env, Problems } from './load.js';
import { DIRECT, SETTINGS } from './settings.js';
import type { CommandName, Setting, SettingValues } from './settings.js';
import { WARM_TUNABLES } from './tunables.js';

/** What the settings point at, checked at start so that every problem is reported at once. */
export interface Inputs {
  /** The custom-registry Docker config: `--docker-config`, or the mounted file with private registries. */
  customDockerConfig: string | undefined;
  /** Where docker, podman and go-containerregistry look for credentials, highest priority first. */
  defaultDockerConfigs: string[];
  /** PEM added to the system roots for registry TLS. */
  ca: { pem: string; source: string } | undefined;
  /** Running in a pod: the service account's in-cluster config is there. */
  inCluster: boolean;
  /** The images of --warm-images, read and parsed at start (empty without it). */
  warmImages: string[];
}

/** `resolve` and `audit` take --docker-config and --ca-file directly; the others use the mounted Secrets. */
const isDirect = (command: CommandName): boolean => (DIRECT as readonly CommandName[]).includes(command);

function settingAt(field: string): Setting {
  const found = (SETTINGS as readonly Setting[]).find((s) => s.to[1] === field);
  if (!found) throw new Error(`no setting for ${field}`);
  return found;
}

/**
 * `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`, `$REGISTRY_AUTH_FILE`,
 * `$XDG_RUNTIME_DIR/containers/auth.json`. Unset (or empty) variables are skipped, and so are duplicates.
 */
export function defaultDockerConfigs(env: Env): string[] {
  const candidates = [
    env.DOCKER_CONFIG ? path.join(env.DOCKER_CONFIG, 'config.json') : undefined,
    env.HOME ? path.join(env.HOME, '.docker', 'config.json') : undefined,
    env.REGISTRY_AUTH_FILE || undefined,
    env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json') : undefined,
  ];
  return [...new Set(candidates.filter((p): p is string => p !== undefined))];
}

function readCa(file: string, setting: Setting, problems: Problems): Inputs['ca'] {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    problems.add(setting, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    return undefined;
  }
  try {
    parsePemCertificates(pem);
  } catch (err) {
    problems.add(setting, `${file}: ${errorMessage(err)}`);
    return undefined;
  }
  return { pem, source: file };
}

/** ca.crt, else ca.pem, as Porch looks for them. */
function registryCa(command: CommandName, values: SettingValues, problems: Problems): Inputs['ca'] {
  if (isDirect(command)) {
    const file = values.trust.caFile;
    return file === undefined ? undefined : readCa(file, settingAt('caFile'), problems);
  }
  if (!values.trust.enablePrivateRegistriesTls) return undefined;
  const dir = values.trust.tlsSecretPath;
  const file = ['ca.crt', 'ca.pem'].map((name) => path.join(dir, name)).find((f) => fs.existsSync(f));
  if (file) return readCa(file, settingAt('tlsSecretPath'), problems);
  problems.add(settingAt('tlsSecretPath'), `neither ca.crt nor ca.pem found in ${dir}`);
  return undefined;
}

function customDockerConfig(
  command: CommandName,
  values: SettingValues,
  problems: Problems,
): string | undefined {
  if (isDirect(command)) {
    const file = values.auth.dockerConfig;
    if (file !== undefined && !fs.existsSync(file))
      problems.add(settingAt('dockerConfig'), `${file} does not exist`);
    return file === undefined ? undefined : path.resolve(file);
  }
  if (!values.auth.enablePrivateRegistries) return undefined;
  const file = values.auth.registryAuthSecretPath;
  if (!fs.existsSync(file))
    problems.add(settingAt('registryAuthSecretPath'), `${file} does not exist (is the Secret mounted?)`);
  return path.resolve(file);
}

function checkDeadlines(values: SettingValues, problems: Problems): void {
  const review = values.admission.reviewDeadlineMs;
  // undefined when that value was itself invalid (and reported).
  if (review === undefined || values.resolver.deadlineMs === undefined) return;
  if (values.resolver.deadlineMs < review) return;
  problems.add(
    settingAt('deadlineMs'),
    `must be shorter than --review-timeout (${review / 1000} s) so a registry error is reported before the review deadline`,
  );
}

/** One image per line; blank lines and `#` comments skipped. Every bad line is reported, by number. */
function readWarmImages(file: string | undefined, problems: Problems): string[] {
  if (file === undefined) return [];
  const setting = settingAt('imagesFile');
  let text: string;
  try {
    if (fs.statSync(file).size > WARM_TUNABLES.maxFileBytes)
      throw new Error(`larger than ${WARM_TUNABLES.maxFileBytes} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    problems.add(setting, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    return [];
  }
  const images: string[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      images.push(ImageReference.parse(line).original);
    } catch (err) {
      problems.add(setting, `${file} line ${i + 1}: ${errorMessage(err)}`);
    }
  }
  if (images.length > WARM_TUNABLES.maxImages)
    problems.add(setting, `${file} lists ${images.length} images; at most ${WARM_TUNABLES.maxImages}`);
  return images;
}

/** The shared CA is published by the replicas themselves, so they need the configuration to publish it in. */
function checkSharedTls(values: SettingValues, problems: Problems): void {
  const { selfSignedCerts, tlsSecretName } = values.server;
  if (!selfSignedCerts || tlsSecretName === undefined || values.cluster.webhookConfigName !== undefined)
    return;
  problems.add(
    settingAt('tlsSecretName'),
    'needs --webhook-config-name: the replicas publish the shared CA into that configuration',
  );
}

/** The drift check lists pods: without a kubeconfig or a pod's service account it could never run. */
function checkDrift(values: SettingValues, inCluster: boolean, problems: Problems): void {
  if (!values.drift.intervalMs || values.cluster.kubeconfig !== undefined || inCluster) return;
  problems.add(
    settingAt('intervalMs'),
    'lists pods through the Kubernetes API: give --kubeconfig (or KUBECONFIG), or run in a cluster',
  );
}

/** The pod's pull secrets are read through the API: the same need. */
function checkPodPullSecrets(values: SettingValues, inCluster: boolean, problems: Problems): void {
  if (!values.auth.podPullSecrets || values.cluster.kubeconfig !== undefined || inCluster) return;
  problems.add(
    settingAt('podPullSecrets'),
    'reads Secrets and ServiceAccounts through the Kubernetes API: give --kubeconfig (or KUBECONFIG), or run in a cluster',
  );
}

/**
 * Checks the files the settings name, and the settings that depend on each other. A value that was itself
 * invalid is undefined here (it was reported already), so every check tolerates that.
 */
export function checkInputs(
  command: CommandName,
  values: SettingValues,
  env: Env,
  problems: Problems,
): Inputs {
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST);
  if (command === 'mutate' || command === 'serve') checkDeadlines(values, problems);
  if (command === 'serve') {
    checkDrift(values, inCluster, problems);
    checkPodPullSecrets(values, inCluster, problems);
    checkSharedTls(values, problems);
  }
  return {
    customDockerConfig: command === 'gen-certs' ? undefined : customDockerConfig(command, values, problems),
    defaultDockerConfigs: defaultDockerConfigs(env),
    ca: command === 'gen-certs' ? undefined : registryCa(command, values, problems),
    inCluster,
    warmImages: command === 'serve' ? readWarmImages(values.warm.imagesFile, problems) : [],
  };
}
