import { FnPinnerError } from '../errors.js';
import { KubeApiError } from '../kube/client.js';
import type { SecretApi, SecretObject } from '../kube/client.js';
import type { Logger } from '../logging.js';
import { planSharedCerts } from '../tls/shared-certs.js';
import type {
  ServePlan,
  SharedCertOptions,
  SharedData,
  SharedState,
  WritePlan,
} from '../tls/shared-certs.js';
import { MANAGED_BY } from './reconcile.js';

/**
 * The Secret through which self-signed replicas share one CA and serving certificate (as
 * open-policy-agent/cert-controller does for Gatekeeper): the first replica creates it, a replica that loses
 * the create race gets AlreadyExists and reads the winner's, and every change is an optimistic update
 * (resourceVersion), so concurrent replicas converge on one Secret instead of overwriting each other.
 * Only GET, create and update on that one name: the RBAC of manifests/base/02-rbac-webhook-tls.yaml.
 */

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';
/** When the next CA was added; beside the data, so that the data stays certificates and keys. */
export const NEXT_CA_SINCE_ANNOTATION = 'fn-pinner.io/next-ca-since';
/** Another replica wrote first: re-read and decide again rather than fail. */
const MAX_ROUNDS = 5;

export interface WebhookTlsSecretOptions extends SharedCertOptions {
  api: SecretApi;
  /** The Secret's name; it lives in `namespace`, fn-pinner's own. */
  name: string;
  /**
   * Publishes a caBundle (base64 PEM) into the webhook configuration; resolves to whether it had to change
   * it (false: every CA was there already). A CA rotation's second step waits for false.
   */
  publish: (trusted: string) => Promise<boolean>;
  log: Logger;
  clock?: () => Date;
}

export class WebhookTlsSecret {
  readonly #opts: WebhookTlsSecretOptions;
  readonly #clock: () => Date;

  constructor(opts: WebhookTlsSecretOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? ((): Date => new Date());
  }

  get ref(): string {
    return `${this.#opts.namespace}/${this.#opts.name}`;
  }

  /**
   * Reads the Secret, creates or updates it as the plan says (re-reading after each write, or after losing a
   * race), and returns what to serve. API errors other than those races are thrown.
   */
  async sync(): Promise<ServePlan> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const secret = await this.#opts.api.read(this.#opts.namespace, this.#opts.name);
      if (secret !== undefined) this.#checkOwner(secret);
      const plan = planSharedCerts(stateOf(secret), this.#opts, this.#clock());
      if (plan.kind === 'serve') return plan;
      // A rotation's second step only once the caBundle held the next CA before this call: published now,
      // the API servers may not have it yet, so serve the current CA one more poll.
      if (plan.kind === 'promote' && (await this.#opts.publish(plan.serve.trusted))) return plan.serve;
      await this.#write(secret, plan.kind === 'promote' ? plan.write : plan);
    }
    throw new KubeApiError(
      `sync Secret ${this.ref}: another writer changed it ${MAX_ROUNDS} times in a row`,
      'Conflict',
      409,
      undefined,
    );
  }

  #checkOwner(secret: SecretObject): void {
    if (
      secret.metadata.labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY['app.kubernetes.io/managed-by']
    )
      return;
    throw new FnPinnerError(
      'BAD_CONFIG',
      `load serving certificate from Secret ${this.ref}: it exists, but fn-pinner did not create it ` +
        '(no label app.kubernetes.io/managed-by=fn-pinner), so it neither uses nor changes it',
    );
  }

  /** Creates or updates; a lost race (AlreadyExists, Conflict) is not an error: the caller re-reads. */
  async #write(current: SecretObject | undefined, plan: WritePlan): Promise<void> {
    const desired = desiredSecret(this.#opts, current, plan);
    try {
      if (current === undefined) await this.#opts.api.create(desired);
      else await this.#opts.api.replace(desired);
    } catch (err) {
      if (err instanceof KubeApiError && (err.reason === 'AlreadyExists' || err.reason === 'Conflict')) {
        this.#opts.log.info(
          { secret: this.ref, reason: err.reason },
          'webhook TLS Secret: lost a race; re-reading',
        );
        return;
      }
      throw err;
    }
    this.#opts.log.info(
      { secret: this.ref, created: current === undefined, why: plan.why },
      'webhook TLS Secret written',
    );
  }
}

function stateOf(secret: SecretObject | undefined): SharedState {
  const data: SharedData = {};
  for (const [name, value] of Object.entries(secret?.data ?? {})) {
    data[name] = Buffer.from(value, 'base64').toString('utf8');
  }
  const annotations = secret?.metadata.annotations;
  const since = Date.parse(annotations?.[NEXT_CA_SINCE_ANNOTATION] ?? '');
  return { data, nextCaSince: Number.isNaN(since) ? undefined : new Date(since) };
}

/** The new version, keeping what others put in its metadata (labels, annotations, owner references). */
function desiredSecret(
  opts: WebhookTlsSecretOptions,
  current: SecretObject | undefined,
  plan: WritePlan,
): SecretObject {
  const annotations = { ...current?.metadata.annotations };
  delete annotations[NEXT_CA_SINCE_ANNOTATION];
  if (plan.nextCaSince) annotations[NEXT_CA_SINCE_ANNOTATION] = plan.nextCaSince.toISOString();
  const data: Record<string, string> = {};
  for (const [name, value] of Object.entries(plan.data)) {
    if (value !== undefined) data[name] = Buffer.from(value, 'utf8').toString('base64');
  }
  // managedFields are the API server's bookkeeping: sent back, they would be taken as the new ones.
  const { managedFields: _fields, ...kept } = current?.metadata ?? {
    name: opts.name,
    namespace: opts.namespace,
  };
  return {
    metadata: {
      ...kept,
      name: opts.name,
      namespace: opts.namespace,
      labels: { ...current?.metadata.labels, ...MANAGED_BY },
      annotations,
    },
    // The type is immutable: an update keeps whatever the Secret was created with.
    type: current?.type ?? TLS_SECRET_TYPE,
    data,
  };
}
