import { KubeApiError } from '../../src/kube/client.js';
import type {
  DeletePreconditions,
  SecretApi,
  SecretObject,
  WebhookConfigApi,
} from '../../src/kube/client.js';
import { bundleCas, mergeCaBundle } from '../../src/tls/ca-bundle.js';

/**
 * An in-memory Secret store with the API server's optimistic-concurrency rules (resourceVersion on
 * update, uid and resourceVersion preconditions on delete, a new uid per created object); faults can be
 * queued.
 */
export class FakeSecrets implements SecretApi {
  store = new Map<string, SecretObject>();
  rv = 1;
  private uids = 0;
  calls: string[] = [];
  /** The preconditions of every delete, in order. */
  deletes: DeletePreconditions[] = [];
  /** Run before the next matching call: lets a test play another replica writing in between. */
  before: Array<{ op: string; run: () => void }> = [];
  failures: Array<{ op: string; error: Error }> = [];

  private hook(op: string): void {
    this.calls.push(op);
    const i = this.before.findIndex((b) => b.op === op);
    if (i >= 0) this.before.splice(i, 1)[0]!.run();
    const f = this.failures.findIndex((x) => x.op === op);
    if (f >= 0) throw this.failures.splice(f, 1)[0]!.error;
  }

  /** Stores as the API server would: a new resourceVersion, and a uid for a new object (an update keeps it). */
  put(s: SecretObject): SecretObject {
    const key = `${s.metadata.namespace}/${s.metadata.name}`;
    const uid = this.store.get(key)?.metadata.uid ?? `uid-${++this.uids}`;
    const metadata = { ...s.metadata, uid, resourceVersion: String(this.rv++) };
    const stored = structuredClone({ ...s, metadata });
    this.store.set(key, stored);
    return stored;
  }

  async read(ns: string, name: string): Promise<SecretObject | undefined> {
    this.hook('read');
    const s = this.store.get(`${ns}/${name}`);
    return s && structuredClone(s);
  }

  async create(s: SecretObject): Promise<SecretObject> {
    this.hook('create');
    if (this.store.has(`${s.metadata.namespace}/${s.metadata.name}`))
      throw new KubeApiError('create: 409 AlreadyExists', 'AlreadyExists', 409, undefined);
    return this.put(s);
  }

  async replace(s: SecretObject): Promise<SecretObject> {
    this.hook('replace');
    const cur = this.store.get(`${s.metadata.namespace}/${s.metadata.name}`);
    if (!cur || cur.metadata.resourceVersion !== s.metadata.resourceVersion)
      throw new KubeApiError('update: 409 Conflict', 'Conflict', 409, undefined);
    if (cur.type !== s.type)
      throw new KubeApiError('update: 422 Invalid: type is immutable', 'Invalid', 422, undefined);
    return this.put(s);
  }

  async delete(ns: string, name: string, preconditions: DeletePreconditions): Promise<void> {
    this.hook('delete');
    this.deletes.push(preconditions);
    const cur = this.store.get(`${ns}/${name}`);
    if (!cur) throw new KubeApiError('delete: 404 NotFound', 'NotFound', 404, undefined);
    const { uid, resourceVersion } = cur.metadata;
    if (preconditions?.uid !== uid || preconditions?.resourceVersion !== resourceVersion)
      throw new KubeApiError('delete: 409 Conflict: Precondition failed', 'Conflict', 409, undefined);
    this.store.delete(`${ns}/${name}`);
  }
}

/**
 * A webhook configuration with one webhook, whose caBundle is merged as the real API client merges it
 * (mergeCaBundle). Records every caBundle asked for; faults (e.g. a Conflict) can be queued.
 */
export class FakeWebhookConfigs implements WebhookConfigApi {
  published: string[] = [];
  bundle: string | undefined;
  failures: Error[] = [];
  /** Run before each call: lets a test look at (or change) the bundle in between. */
  onCall: (() => void) | undefined;

  async setCaBundle(_name: string, caBundle: string): Promise<boolean> {
    this.published.push(caBundle);
    this.onCall?.();
    const failure = this.failures.shift();
    if (failure) throw failure;
    const merged = mergeCaBundle(this.bundle, caBundle);
    if (merged === this.bundle) return false;
    this.bundle = merged;
    return true;
  }

  /** The CAs the bundle holds now. */
  cas(): string[] {
    return bundleCas(this.bundle);
  }
}
