import {
  DEFAULT_CACHE_OPTIONS,
  DEFAULT_REGISTRY_OPTIONS,
  DEFAULT_REGISTRY_PREFIXES,
  DEFAULT_RESOLVER_OPTIONS,
} from './options.js';
import { BUILTIN_DENY } from './registry/transport/policy.js';

/**
 * Every flag, with its environment variable and default. src/config.ts reads them; the CLI registers
 * them; the README's table lists them.
 */
/** Raw option values as commander hands them over (strings, booleans, repeated strings). */
export type RawOptions = Record<string, string | boolean | string[] | undefined>;

export interface Setting {
  /** commander's camel-cased option name. */
  key: string;
  flag: string;
  env: string;
  description: string;
  default?: string;
  repeatable?: boolean;
  boolean?: boolean;
}

/** Settings shared by `resolve`, `mutate` and `serve`. Porch's flag names are kept where Porch has one. */
export const REGISTRY_SETTINGS: Setting[] = [
  {
    key: 'platform',
    flag: '--platform <os/arch[/variant]>',
    env: 'FN_PINNER_PLATFORM',
    description: 'platform whose Entrypoint/Cmd is used for multi-platform images',
    default: 'linux/amd64',
  },
  {
    key: 'insecureRegistry',
    flag: '--insecure-registry <host[:port]>',
    env: 'FN_PINNER_INSECURE_REGISTRIES',
    description: 'registry reached over plain HTTP (repeatable; env: comma-separated)',
    repeatable: true,
  },
  {
    key: 'defaultRegistry',
    flag: '--default-registry <prefix>',
    env: 'FN_PINNER_DEFAULT_REGISTRIES',
    description: 'image prefix that uses the default keychain, not the custom auth (repeatable)',
    default: DEFAULT_REGISTRY_PREFIXES.join(','),
    repeatable: true,
  },
  {
    key: 'cacheMaxImages',
    flag: '--cache-max-images <n>',
    env: 'FN_PINNER_CACHE_MAX_IMAGES',
    description: 'bound on digest-keyed cache entries (LRU)',
    default: String(DEFAULT_CACHE_OPTIONS.maxImages),
  },
  {
    key: 'cacheMaxBytes',
    flag: '--cache-max-bytes <n>',
    env: 'FN_PINNER_CACHE_MAX_BYTES',
    description: "bound on the metadata cache's estimated size in bytes (LRU)",
    default: String(DEFAULT_CACHE_OPTIONS.maxBytes),
  },
  {
    key: 'tagTtl',
    flag: '--tag-ttl <seconds>',
    env: 'FN_PINNER_TAG_TTL',
    description: 'how long a tag → digest mapping is trusted before a HEAD revalidates it; 0 = forever',
    default: String(DEFAULT_CACHE_OPTIONS.tagTtlMs / 1000),
  },
  {
    key: 'resolveTimeout',
    flag: '--resolve-timeout <seconds>',
    env: 'FN_PINNER_RESOLVE_TIMEOUT',
    description: 'overall deadline for resolving one image, retries included',
    default: String(DEFAULT_RESOLVER_OPTIONS.deadlineMs / 1000),
  },
  {
    key: 'requestTimeout',
    flag: '--request-timeout <seconds>',
    env: 'FN_PINNER_REQUEST_TIMEOUT',
    description: 'timeout for one registry HTTP call',
    default: String(DEFAULT_REGISTRY_OPTIONS.requestTimeoutMs / 1000),
  },
  {
    key: 'registryAllow',
    flag: '--registry-allow <pattern>',
    env: 'FN_PINNER_REGISTRY_ALLOW',
    description:
      'when given, only matching hosts are contacted: host, host:port, *.domain or CIDR (repeatable; env: comma-separated)',
    repeatable: true,
  },
  {
    key: 'registryDeny',
    flag: '--registry-deny <pattern>',
    env: 'FN_PINNER_REGISTRY_DENY',
    description: `never contacted, like the built-in ${BUILTIN_DENY.join(', ')} (repeatable)`,
    repeatable: true,
  },
  {
    key: 'tokenRealmAllow',
    flag: '--token-realm-allow <host[:port]>',
    env: 'FN_PINNER_TOKEN_REALM_ALLOW',
    description: "token realm trusted beyond the registry's own host and registrable domain (repeatable)",
    repeatable: true,
  },
  {
    key: 'reviewMaxRegistryRequests',
    flag: '--review-max-registry-requests <n>',
    env: 'FN_PINNER_REVIEW_MAX_REGISTRY_REQUESTS',
    description: 'registry requests one review (or one resolve) may send, retries and tokens included',
    default: String(DEFAULT_RESOLVER_OPTIONS.maxRequestsPerReview),
  },
  {
    key: 'logLevel',
    flag: '--log-level <level>',
    env: 'LOG_LEVEL',
    description: 'pino log level (fatal, error, warn, info, debug, trace, silent)',
    default: 'info',
  },
];

/** `resolve`'s own flags: --docker-config plays the part of the mounted custom auth file. */
export const RESOLVE_SETTINGS: Setting[] = [
  {
    key: 'dockerConfig',
    flag: '--docker-config <file>',
    env: 'FN_PINNER_DOCKER_CONFIG',
    description: 'Docker config JSON used for custom (non-default) registries',
  },
  {
    key: 'caFile',
    flag: '--ca-file <file>',
    env: 'FN_PINNER_CA_FILE',
    description: 'PEM CA bundle added to the system roots for registry TLS',
  },
];

/** `serve` and `mutate`: Porch's flag names where Porch has one, so Porch users need not relearn them. */
export const ADMISSION_SETTINGS: Setting[] = [
  {
    key: 'enablePrivateRegistries',
    flag: '--enable-private-registries [bool]',
    env: 'FN_PINNER_ENABLE_PRIVATE_REGISTRIES',
    description:
      'use the mounted Docker config for custom registries and attach the pull secret to their pods',
    default: 'false',
    boolean: true,
  },
  {
    key: 'registryAuthSecretPath',
    flag: '--registry-auth-secret-path <file>',
    env: 'FN_PINNER_REGISTRY_AUTH_SECRET_PATH',
    description: 'mounted Docker config JSON (the .dockerconfigjson key of a Secret)',
    default: '/var/tmp/config-secret/.dockerconfigjson',
  },
  {
    key: 'registryAuthSecretName',
    flag: '--registry-auth-secret-name <name>',
    env: 'FN_PINNER_REGISTRY_AUTH_SECRET_NAME',
    description: 'name of the pull Secret kept in sync and attached to custom-registry pods',
    default: 'auth-secret',
  },
  {
    key: 'enablePrivateRegistriesTls',
    flag: '--enable-private-registries-tls [bool]',
    env: 'FN_PINNER_ENABLE_PRIVATE_REGISTRIES_TLS',
    description: 'add the CA in --tls-secret-path to the system roots for registry TLS',
    default: 'false',
    boolean: true,
  },
  {
    key: 'tlsSecretPath',
    flag: '--tls-secret-path <dir>',
    env: 'FN_PINNER_TLS_SECRET_PATH',
    description: 'directory holding ca.crt (else ca.pem) for registry TLS',
    default: '/var/tmp/tls-secret/',
  },
  {
    key: 'commandPrefix',
    flag: '--command-prefix <json-array>',
    env: 'FN_PINNER_COMMAND_PREFIX',
    description: 'JSON array prepended to every command set, e.g. a wrapper server',
    default: '[]',
  },
  {
    key: 'failurePolicy',
    flag: '--failure-policy <Fail|Ignore>',
    env: 'FN_PINNER_FAILURE_POLICY',
    description:
      'Fail: deny pods whose images cannot be resolved; Ignore: admit them unmutated with a warning',
    default: 'Fail',
  },
  {
    key: 'excludedNamespace',
    flag: '--excluded-namespace <ns>',
    env: 'FN_PINNER_EXCLUDED_NAMESPACES',
    description: 'namespace whose pods are never mutated (repeatable)',
    default: 'kube-system',
    repeatable: true,
  },
  {
    key: 'reviewTimeout',
    flag: '--review-timeout <seconds>',
    env: 'FN_PINNER_REVIEW_TIMEOUT',
    description: "internal deadline per review; keep it under the webhook's timeoutSeconds",
    default: '9',
  },
];

export const SERVE_SETTINGS: Setting[] = [
  { key: 'port', flag: '--port <port>', env: 'FN_PINNER_PORT', description: 'HTTPS port', default: '8443' },
  {
    key: 'host',
    flag: '--host <address>',
    env: 'FN_PINNER_HOST',
    description: 'address to listen on',
    default: '0.0.0.0',
  },
  {
    key: 'certDir',
    flag: '--cert-dir <dir>',
    env: 'FN_PINNER_CERT_DIR',
    description: 'serving certificate directory (ca.crt, tls.crt, tls.key)',
    default: 'certs',
  },
  {
    key: 'selfSignedCerts',
    flag: '--self-signed-certs [bool]',
    env: 'FN_PINNER_SELF_SIGNED_CERTS',
    description: 'generate and rotate the serving certificate; false = only load it (cert-manager)',
    default: 'true',
    boolean: true,
  },
  {
    key: 'serviceName',
    flag: '--service-name <name>',
    env: 'FN_PINNER_SERVICE_NAME',
    description: "the webhook Service's name, for the certificate's SANs",
    default: 'fn-pinner',
  },
  {
    key: 'serviceNamespace',
    flag: '--service-namespace <ns>',
    env: 'FN_PINNER_SERVICE_NAMESPACE',
    description: "the webhook Service's namespace, for the certificate's SANs",
    default: 'fn-pinner-system',
  },
  {
    key: 'podNamespace',
    flag: '--pod-namespace <ns>',
    env: 'FN_PINNER_POD_NAMESPACES',
    description: 'namespace where function pods run and the pull Secret is kept (repeatable)',
    default: 'porch-fn-system',
    repeatable: true,
  },
  {
    key: 'secretResync',
    flag: '--secret-resync <seconds>',
    env: 'FN_PINNER_SECRET_RESYNC',
    description: 'how often the pull Secret is re-checked, repairing deletes and edits',
    default: '20',
  },
  {
    key: 'kubeconfig',
    flag: '--kubeconfig <file>',
    env: 'KUBECONFIG',
    description: 'kubeconfig for the Kubernetes API; default: in-cluster config',
  },
  {
    key: 'webhookConfigName',
    flag: '--webhook-config-name <name>',
    env: 'FN_PINNER_WEBHOOK_CONFIG_NAME',
    description: 'MutatingWebhookConfiguration whose caBundle to patch on start (optional)',
  },
];

/** The README's configuration table, generated so it cannot drift from the code (a unit test compares). */
export function settingsTable(): string {
  const groups: Array<[string, Setting[]]> = [
    ['all commands', REGISTRY_SETTINGS],
    ['`resolve`', RESOLVE_SETTINGS],
    ['`serve` and `mutate`', ADMISSION_SETTINGS],
    ['`serve`', SERVE_SETTINGS],
  ];
  const rows = groups.flatMap(([where, settings]) =>
    settings.map((s) => {
      const cell = (text: string): string => text.replace(/\|/g, '\\|');
      const def = s.default === undefined ? '' : `\`${s.default}\``;
      return `| \`${cell(s.flag)}\` | \`${s.env}\` | ${def} | ${where} | ${cell(s.description)} |`;
    }),
  );
  return ['| flag | environment | default | used by | meaning |', '|---|---|---|---|---|', ...rows].join(
    '\n',
  );
}
