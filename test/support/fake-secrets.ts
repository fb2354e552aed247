import { KubeApiError } from '../../src/kube/client.js';
import type { SecretApi, SecretObject, WebhookConfigApi } from '../../src/kube/client.js';

/** An in-memory Secret store with the API server's optimistic-concurrency rules; faults can be queued. */
export class FakeSecrets implements SecretApi {
  store = new Map<string, SecretObject>();
  rv = 1;
  calls: string[] = [];
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

  put(s: SecretObject): SecretObject {
    const stored = structuredClone({ ...s, metadata: { ...s.metadata, resourceVersion: String(this.rv++) } });
    this.store.set(`${s.metadata.namespace}/${s.metadata.name}`, stored);
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

  async delete(ns: string, name: string): Promise<void> {
    this.hook('delete');
    this.store.delete(`${ns}/${name}`);
  }
}

/** A webhook-config API that records the caBundles it was asked to publish. */
export class FakeWebhookConfigs implements WebhookConfigApi {
  published: string[] = [];
  async setCaBundle(_name: string, caBundle: string): Promise<boolean> {
    this.published.push(caBundle);
    return true;
  }
}
