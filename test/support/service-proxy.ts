import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A Service in front of webhook processes on 127.0.0.1, playing three parts of a cluster at once:
 * - kube-proxy: a TCP proxy on 127.0.0.1; each new connection goes to a random ready backend and stays
 *   with it (as conntrack keeps it) until either side closes; with no ready backend it is refused;
 * - the kubelet's readiness probe: GET /readyz of each backend every probeMs;
 * - the endpoints controller: a backend is ready while its /readyz answers 200; remove() takes it out at
 *   once, as for a pod being deleted, while the caller sends SIGTERM: both start together in a cluster,
 *   which is why fn-pinner keeps serving for a while after SIGTERM.
 * TLS goes through untouched: the API server verifies the backend's certificate for 127.0.0.1.
 * (Endpoints objects cannot point at 127.0.0.1: the API server refuses loopback addresses in them.)
 */

export interface Backend {
  port: number;
  readyz(): Promise<{ status: number; body: string }>;
}

export class ServiceProxy {
  /** Every change of the ready set: ms since start and the ready ports. */
  readonly changes: Array<{ at: number; ports: number[] }> = [];
  /** Connections handed to each backend port. */
  readonly connections = new Map<number, number>();
  refused = 0;
  readonly #server: Server;
  readonly #probed = new Set<Backend>();
  readonly #ready = new Set<Backend>();
  readonly #last = new Map<Backend, string>();
  readonly #sockets = new Set<Socket>();
  readonly #started = performance.now();
  #loop: Promise<void> | undefined;
  #stopped = false;

  private constructor(private readonly probeMs: number) {
    this.#server = createServer((client) => this.#forward(client));
  }

  static async start(probeMs = 250): Promise<ServiceProxy> {
    const proxy = new ServiceProxy(probeMs);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** Starts probing it; it gets connections once ready. */
  add(b: Backend): void {
    this.#probed.add(b);
    this.#loop ??= this.#run();
  }

  /** Resolves once `b` is ready (gets new connections); the time it took. */
  async waitReady(b: Backend, timeoutMs = 120_000): Promise<number> {
    const started = performance.now();
    while (!this.#ready.has(b)) {
      if (performance.now() - started > timeoutMs) {
        throw new Error(
          `port ${b.port} not ready in ${timeoutMs} ms; last probe: ${this.#last.get(b) ?? 'none'}`,
        );
      }
      await sleep(this.probeMs / 2);
    }
    return performance.now() - started;
  }

  /** No new connections for it from now on, and no more probes. */
  remove(b: Backend): void {
    this.#probed.delete(b);
    this.#setReady(b, false);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      await Promise.all([...this.#probed].map((b) => this.#probe(b)));
      await sleep(this.probeMs);
    }
  }

  async #probe(b: Backend): Promise<void> {
    let ok: boolean;
    try {
      const r = await b.readyz();
      ok = r.status === 200;
      this.#last.set(b, `HTTP ${r.status} ${r.body}`);
    } catch (err) {
      ok = false;
      this.#last.set(b, String(err));
    }
    if (this.#probed.has(b)) this.#setReady(b, ok); // unless removed while probing
  }

  #setReady(b: Backend, ready: boolean): void {
    if (this.#ready.has(b) === ready) return;
    if (ready) this.#ready.add(b);
    else this.#ready.delete(b);
    const ports = [...this.#ready].map((r) => r.port).sort((x, y) => x - y);
    this.changes.push({ at: Math.round(performance.now() - this.#started), ports });
  }

  #forward(client: Socket): void {
    const ready = [...this.#ready];
    const backend = ready[Math.floor(Math.random() * ready.length)];
    if (backend === undefined) {
      this.refused++;
      client.destroy();
      return;
    }
    this.connections.set(backend.port, (this.connections.get(backend.port) ?? 0) + 1);
    const upstream = connect({ host: '127.0.0.1', port: backend.port });
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    }
    // One side closing closes the other as TCP through NAT would: a FIN stays a FIN (pipe ends the other
    // side after flushing), a reset stays a reset.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', (hadError) => (hadError ? upstream.destroy() : upstream.end()));
    upstream.on('close', (hadError) => (hadError ? client.destroy() : client.end()));
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
