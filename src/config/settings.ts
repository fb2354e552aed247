import type * as z from 'zod/mini';

import { BUILTIN_DENY } from '../registry/transport/policy.js';
import * as s from './schema.js';

/**
 * Every setting, declared once: its flag, environment variable, default, schema, the commands that take it,
 * its help text, and where its value goes in the typed Config (`to: [group, field]`). The commander options,
 * the README's table and the Config type are all derived from this table; adding a flag is one entry here
 * (plus reading `config.group.field` where it is used).
 *
 * The flag wins over the environment, which wins over the default. Porch's flag names are kept where Porch
 * has one, so Porch users need not relearn them.
 */
export type CommandName = 'resolve' | 'mutate' | 'serve' | 'audit' | 'gen-certs';

export interface Setting<G extends string = string, F extends string = string, S = z.ZodMiniType> {
  flag: string;
  env: string;
  help: string;
  /** As text, the way a user would type it; parsed by `schema` like any other value. */
  default?: string;
  /** A different default for some commands (one-shot commands keep stderr quiet). */
  defaultFor?: Partial<Record<CommandName, string>>;
  /** The flag may be given several times; the environment variable is comma-separated. */
  repeatable?: boolean;
  /** `--flag` alone means true; `--flag=false` (or the variable) says otherwise. */
  boolean?: boolean;
  commands: readonly CommandName[];
  schema: S;
  to: readonly [G, F];
}

function setting<const G extends string, const F extends string, S extends z.ZodMiniType>(
  spec: Setting<G, F, S>,
): Setting<G, F, S> {
  return spec;
}

/** Commands that resolve images. */
const RESOLVING = ['resolve', 'mutate', 'serve', 'audit'] as const;
/** Commands that make admission decisions. */
const ADMITTING = ['mutate', 'serve'] as const;
/** One-shot commands that take a Docker config and CA file directly. */
export const DIRECT = ['resolve', 'audit'] as const;

export const SETTINGS = [
  setting({
    flag: '--platform <os/arch[/variant]>',
    env: 'FN_PINNER_PLATFORM',
    help: 'platform whose Entrypoint/Cmd is used for multi-platform images',
    default: 'linux/amd64',
    commands: RESOLVING,
    schema: s.platform,
    to: ['resolver', 'platform'],
  }),
  setting({
    flag: '--insecure-registry <host[:port]>',
    env: 'FN_PINNER_INSECURE_REGISTRIES',
    help: 'registry reached over plain HTTP (repeatable; env: comma-separated)',
    repeatable: true,
    default: '',
    commands: RESOLVING,
    schema: s.hostPorts,
    to: ['registry', 'insecureRegistries'],
  }),
  setting({
    flag: '--default-registry <prefix>',
    env: 'FN_PINNER_DEFAULT_REGISTRIES',
    help: 'image prefix that uses the default keychain, not the custom auth (repeatable)',
    // The design's prefix plus the one Porch uses today (kpt moved its catalog to ghcr).
    default: 'gcr.io/kpt-fn/,ghcr.io/kptdev/krm-functions-catalog/',
    repeatable: true,
    commands: RESOLVING,
    schema: s.prefixes,
    to: ['auth', 'defaultRegistries'],
  }),
  setting({
    flag: '--cache-max-images <n>',
    env: 'FN_PINNER_CACHE_MAX_IMAGES',
    help: 'bound on digest-keyed cache entries (LRU)',
    default: '10000',
    commands: RESOLVING,
    schema: s.number({ min: 1, integer: true }),
    to: ['cache', 'maxImages'],
  }),
  setting({
    flag: '--cache-max-bytes <n>',
    env: 'FN_PINNER_CACHE_MAX_BYTES',
    help: "bound on the metadata cache's estimated size in bytes (LRU)",
    default: String(32 * 1024 * 1024),
    commands: RESOLVING,
    schema: s.number({ min: 1024, integer: true }),
    to: ['cache', 'maxBytes'],
  }),
  setting({
    flag: '--tag-ttl <seconds>',
    env: 'FN_PINNER_TAG_TTL',
    help: 'how long a tag → digest mapping is trusted before a HEAD revalidates it; 0 = forever',
    default: '300',
    commands: RESOLVING,
    schema: s.seconds(0),
    to: ['cache', 'tagTtlMs'],
  }),
  setting({
    flag: '--resolve-timeout <seconds>',
    env: 'FN_PINNER_RESOLVE_TIMEOUT',
    help: 'overall deadline for resolving one image, retries included',
    default: '8',
    commands: RESOLVING,
    schema: s.seconds(0.001),
    to: ['resolver', 'deadlineMs'],
  }),
  setting({
    flag: '--request-timeout <seconds>',
    env: 'FN_PINNER_REQUEST_TIMEOUT',
    help: 'timeout for one registry HTTP call',
    default: '5',
    commands: RESOLVING,
    schema: s.seconds(0.001),
    to: ['registry', 'requestTimeoutMs'],
  }),
  setting({
    flag: '--registry-allow <pattern>',
    env: 'FN_PINNER_REGISTRY_ALLOW',
    help: 'when given, only matching hosts are contacted: host, host:port, *.domain or CIDR (repeatable; env: comma-separated)',
    repeatable: true,
    default: '',
    commands: RESOLVING,
    schema: s.accessPatterns,
    to: ['registry', 'registryAllow'],
  }),
  setting({
    flag: '--registry-deny <pattern>',
    env: 'FN_PINNER_REGISTRY_DENY',
    help: `never contacted, like the built-in ${BUILTIN_DENY.join(', ')} (repeatable)`,
    repeatable: true,
    default: '',
    commands: RESOLVING,
    schema: s.accessPatterns,
    to: ['registry', 'registryDeny'],
  }),
  setting({
    flag: '--token-realm-allow <host[:port]>',
    env: 'FN_PINNER_TOKEN_REALM_ALLOW',
    help: "token realm trusted beyond the registry's own host and registrable domain (repeatable)",
    repeatable: true,
    default: '',
    commands: RESOLVING,
    schema: s.hostPorts,
    to: ['registry', 'tokenRealmAllow'],
  }),
  setting({
    flag: '--review-max-registry-requests <n>',
    env: 'FN_PINNER_REVIEW_MAX_REGISTRY_REQUESTS',
    help: 'registry requests one review (or one resolve) may send, retries and tokens included',
    default: '20',
    commands: RESOLVING,
    schema: s.number({ min: 1, integer: true }),
    to: ['resolver', 'maxRequestsPerReview'],
  }),
  setting({
    flag: '--log-level <level>',
    env: 'LOG_LEVEL',
    help: 'pino log level (fatal, error, warn, info, debug, trace, silent); resolve, mutate and audit default to error',
    default: 'info',
    defaultFor: { resolve: 'error', mutate: 'error', audit: 'error' },
    commands: RESOLVING,
    schema: s.oneOf(s.LOG_LEVELS),
    to: ['log', 'level'],
  }),
  setting({
    flag: '--docker-config <file>',
    env: 'FN_PINNER_DOCKER_CONFIG',
    help: 'Docker config JSON used for custom (non-default) registries',
    commands: DIRECT,
    schema: s.optionalText,
    to: ['auth', 'dockerConfig'],
  }),
  setting({
    flag: '--ca-file <file>',
    env: 'FN_PINNER_CA_FILE',
    help: 'PEM CA bundle added to the system roots for registry TLS',
    commands: DIRECT,
    schema: s.optionalText,
    to: ['trust', 'caFile'],
  }),
  setting({
    flag: '--cloud-credentials [bool]',
    env: 'FN_PINNER_CLOUD_CREDENTIALS',
    help: 'default keychain: Google ADC tokens for gcr.io and Artifact Registry, AWS tokens for ECR registries',
    default: 'true',
    boolean: true,
    commands: RESOLVING,
    schema: s.bool,
    to: ['auth', 'cloudCredentials'],
  }),
  setting({
    flag: '--enable-private-registries [bool]',
    env: 'FN_PINNER_ENABLE_PRIVATE_REGISTRIES',
    help: 'use the mounted Docker config for custom registries and attach the pull secret to their pods',
    default: 'false',
    boolean: true,
    commands: ADMITTING,
    schema: s.bool,
    to: ['auth', 'enablePrivateRegistries'],
  }),
  setting({
    flag: '--registry-auth-secret-path <file>',
    env: 'FN_PINNER_REGISTRY_AUTH_SECRET_PATH',
    help: 'mounted Docker config JSON (the .dockerconfigjson key of a Secret)',
    default: '/var/tmp/config-secret/.dockerconfigjson',
    commands: ADMITTING,
    schema: s.text,
    to: ['auth', 'registryAuthSecretPath'],
  }),
  setting({
    flag: '--registry-auth-secret-name <name>',
    env: 'FN_PINNER_REGISTRY_AUTH_SECRET_NAME',
    help: 'name of the pull Secret kept in sync and attached to custom-registry pods',
    default: 'auth-secret',
    commands: ADMITTING,
    schema: s.text,
    to: ['auth', 'pullSecretName'],
  }),
  setting({
    flag: '--enable-private-registries-tls [bool]',
    env: 'FN_PINNER_ENABLE_PRIVATE_REGISTRIES_TLS',
    help: 'add the CA in --tls-secret-path to the system roots for registry TLS',
    default: 'false',
    boolean: true,
    commands: ADMITTING,
    schema: s.bool,
    to: ['trust', 'enablePrivateRegistriesTls'],
  }),
  setting({
    flag: '--tls-secret-path <dir>',
    env: 'FN_PINNER_TLS_SECRET_PATH',
    help: 'directory holding ca.crt (else ca.pem) for registry TLS',
    default: '/var/tmp/tls-secret/',
    commands: ADMITTING,
    schema: s.text,
    to: ['trust', 'tlsSecretPath'],
  }),
  setting({
    flag: '--command-prefix <json-array>',
    env: 'FN_PINNER_COMMAND_PREFIX',
    help: 'JSON array prepended to every command set, e.g. a wrapper server',
    default: '[]',
    commands: ADMITTING,
    schema: s.jsonStringArray,
    to: ['admission', 'commandPrefix'],
  }),
  setting({
    flag: '--failure-policy <Fail|Ignore>',
    env: 'FN_PINNER_FAILURE_POLICY',
    help: 'Fail: deny pods whose images cannot be resolved; Ignore: admit them unmutated with a warning',
    default: 'Fail',
    commands: ADMITTING,
    schema: s.oneOf(['Fail', 'Ignore']),
    to: ['admission', 'failurePolicy'],
  }),
  setting({
    flag: '--excluded-namespace <ns>',
    env: 'FN_PINNER_EXCLUDED_NAMESPACES',
    help: 'namespace whose pods are never mutated (repeatable)',
    default: 'kube-system',
    repeatable: true,
    commands: ADMITTING,
    schema: s.strings,
    to: ['admission', 'excludedNamespaces'],
  }),
  setting({
    flag: '--review-timeout <seconds>',
    env: 'FN_PINNER_REVIEW_TIMEOUT',
    help: "internal deadline per review; keep it under the webhook's timeoutSeconds",
    default: '9',
    commands: ADMITTING,
    schema: s.seconds(0.001),
    to: ['admission', 'reviewDeadlineMs'],
  }),
  setting({
    flag: '--port <port>',
    env: 'FN_PINNER_PORT',
    help: 'HTTPS port',
    default: '8443',
    commands: ['serve'],
    schema: s.number({ min: 0, max: 65535, integer: true }),
    to: ['server', 'port'],
  }),
  setting({
    flag: '--host <address>',
    env: 'FN_PINNER_HOST',
    help: 'address to listen on',
    default: '0.0.0.0',
    commands: ['serve'],
    schema: s.text,
    to: ['server', 'host'],
  }),
  setting({
    flag: '--cert-dir <dir>',
    env: 'FN_PINNER_CERT_DIR',
    help: 'serving certificate directory (ca.crt, tls.crt, tls.key)',
    default: 'certs',
    commands: ['serve', 'gen-certs'],
    schema: s.text,
    to: ['server', 'certDir'],
  }),
  setting({
    flag: '--self-signed-certs [bool]',
    env: 'FN_PINNER_SELF_SIGNED_CERTS',
    help: 'generate and rotate the serving certificate; false = only load it (cert-manager)',
    default: 'true',
    boolean: true,
    commands: ['serve'],
    schema: s.bool,
    to: ['server', 'selfSignedCerts'],
  }),
  setting({
    flag: '--service-name <name>',
    env: 'FN_PINNER_SERVICE_NAME',
    help: "the webhook Service's name, for the certificate's SANs",
    default: 'fn-pinner',
    commands: ['serve', 'gen-certs'],
    schema: s.text,
    to: ['server', 'serviceName'],
  }),
  setting({
    flag: '--service-namespace <ns>',
    env: 'FN_PINNER_SERVICE_NAMESPACE',
    help: "the webhook Service's namespace, for the certificate's SANs",
    default: 'fn-pinner-system',
    commands: ['serve', 'gen-certs'],
    schema: s.text,
    to: ['server', 'serviceNamespace'],
  }),
  setting({
    flag: '--pod-namespace <ns>',
    env: 'FN_PINNER_POD_NAMESPACES',
    help: 'namespace where function pods run and the pull Secret is kept (repeatable)',
    default: 'porch-fn-system',
    repeatable: true,
    commands: ['serve'],
    schema: s.strings,
    to: ['cluster', 'podNamespaces'],
  }),
  setting({
    flag: '--secret-resync <seconds>',
    env: 'FN_PINNER_SECRET_RESYNC',
    help: 'how often the pull Secret is re-checked, repairing deletes and edits',
    default: '20',
    commands: ['serve'],
    schema: s.seconds(1),
    to: ['cluster', 'secretResyncMs'],
  }),
  setting({
    flag: '--pod-pull-secrets [bool]',
    env: 'FN_PINNER_POD_PULL_SECRETS',
    help: "also try the pod's imagePullSecrets and its ServiceAccount's (needs get on secrets and serviceaccounts)",
    default: 'false',
    boolean: true,
    commands: ['serve'],
    schema: s.bool,
    to: ['auth', 'podPullSecrets'],
  }),
  setting({
    flag: '--kubeconfig <file>',
    env: 'KUBECONFIG',
    help: 'kubeconfig for the Kubernetes API; default: in-cluster config',
    commands: ['serve', 'audit'],
    schema: s.optionalText,
    to: ['cluster', 'kubeconfig'],
  }),
  setting({
    flag: '--drift-interval <seconds>',
    env: 'FN_PINNER_DRIFT_INTERVAL',
    help: 'audit the pods of --pod-namespace this often and export fn_pinner_pods{status}; 0 = off (needs list on pods)',
    default: '0',
    commands: ['serve'],
    schema: s.seconds(0),
    to: ['drift', 'intervalMs'],
  }),
  setting({
    flag: '--warm-images <file>',
    env: 'FN_PINNER_WARM_IMAGES',
    help: 'file with one image per line, resolved at start; /readyz waits for them up to --warm-timeout',
    commands: ['serve'],
    schema: s.optionalText,
    to: ['warm', 'imagesFile'],
  }),
  setting({
    flag: '--warm-timeout <seconds>',
    env: 'FN_PINNER_WARM_TIMEOUT',
    help: 'longest /readyz waits for --warm-images; failures are logged and never keep it unready longer',
    default: '30',
    commands: ['serve'],
    schema: s.seconds(0),
    to: ['warm', 'timeoutMs'],
  }),
  setting({
    flag: '--webhook-config-name <name>',
    env: 'FN_PINNER_WEBHOOK_CONFIG_NAME',
    help: 'MutatingWebhookConfiguration whose caBundle to patch on start (optional)',
    commands: ['serve'],
    schema: s.optionalText,
    to: ['cluster', 'webhookConfigName'],
  }),
  setting({
    flag: '--webhook-tls-secret-name <name>',
    env: 'FN_PINNER_WEBHOOK_TLS_SECRET_NAME',
    help: 'self-signed: Secret in --service-namespace sharing CA and certificate among replicas',
    commands: ['serve'],
    schema: s.optionalText,
    to: ['server', 'tlsSecretName'],
  }),
] as const;

type AnySetting = (typeof SETTINGS)[number];
type Group = AnySetting['to'][0];

/** The typed values of every setting, grouped as their `to` says. */
export type SettingValues = {
  [G in Group]: {
    [S in AnySetting as S['to'][0] extends G ? S['to'][1] : never]: z.output<S['schema']>;
  };
};
