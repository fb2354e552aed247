/** The Kubernetes API as fn-pinner uses it: plain data, so that callers need not know client-node. */

export interface SecretObject {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  type?: string;
  data?: Record<string, string>;
}

export interface SecretApi {
  /** undefined when the Secret does not exist. */
  read(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** Throws KUBE_API with reason AlreadyExists when another writer got there first. */
  create(secret: SecretObject): Promise<SecretObject>;
  /** Optimistic update: metadata.resourceVersion must be the one read; throws reason Conflict otherwise. */
  replace(secret: SecretObject): Promise<SecretObject>;
  /**
   * Deletes the Secret only if it is still the object that was read: a changed or recreated Secret gives
   * reason Conflict (409) and a missing one NotFound (404), so a decision taken on a read never hits
   * something else.
   */
  delete(namespace: string, name: string, preconditions: DeletePreconditions): Promise<void>;
}

export interface DeletePreconditions {
  uid: string;
  resourceVersion: string;
}

export interface WebhookConfigApi {
  /**
   * Adds a CA (base64 PEM, as caBundle holds it) to every webhook of a MutatingWebhookConfiguration;
   * returns false when every bundle already had it.
   */
  setCaBundle(name: string, caBundle: string): Promise<boolean>;
}

/** The part of a ServiceAccount the kubelet reads for pulls. */
export interface ServiceAccountObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  imagePullSecrets: string[];
}

/** Reads for --pod-pull-secrets: plain GETs (no list, no watch), each bounded by its own timeout. */
export interface PullSecretReader {
  /** undefined when the Secret does not exist. */
  readSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** undefined when the ServiceAccount does not exist. */
  readServiceAccount(namespace: string, name: string): Promise<ServiceAccountObject | undefined>;
}

/** A pod as the API serves it (wire JSON). Its readers check every field they use. */
export type PodJson = Record<string, unknown>;

export interface PodApi {
  /** The pods of one namespace, or of every namespace when none is given; follows pagination. */
  list(opts: { namespace?: string; labelSelector?: string }): Promise<PodJson[]>;
}
