import { errorMessage } from '../tls/pem.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { ServingCerts } from '../tls/serving.js';
import type { CaPublisher } from './ca-bundle.js';

/**
 * Keeps the HTTPS server's certificate current, in one sequential loop: load the certificates (from
 * --cert-dir, or the shared Secret), make sure the webhook configuration's caBundle holds their CA, and only
 * then serve them. So a replica never serves with a CA the API server does not trust yet, and /readyz says
 * no until the caBundle is known to hold the CA being served. A failed step (a Conflict on the caBundle, a
 * timeout, a 403) is retried with backoff, not just logged.
 */

/** Certificates to serve, and the caBundle (base64 PEM) the API server must hold to trust them. */
export interface CertCandidate {
  certs: ServingCerts;
  trusted: string;
  /** The earliest expiry in the served chain. */
  notAfter: Date;
}

export interface CertSource {
  /** Asked again every pollMs (the shared Secret), or only when it reports a change (--cert-dir). */
  readonly polled: boolean;
  /** What to serve now; throws when nothing servable can be had. */
  load(): Promise<CertCandidate>;
  onChange(listener: () => void): () => void;
  start(): void;
  stop(): void;
}

export interface ServingCertsOptions {
  source: CertSource;
  /** What the server starts with. */
  initial: CertCandidate;
  /** Why `initial` is only a stand-in (the shared Secret could not be read at start), if it is. */
  standIn?: string;
  /** Undefined: nobody here publishes the caBundle (cert-manager's injector, or an install-time bundle). */
  publisher: CaPublisher | undefined;
  log: Logger;
  metrics: Metrics;
  pollMs: number;
  retryMs: number;
  /** After a publish that changed the caBundle, how long until it is relied on (see #check). */
  settleMs: number;
}

export class ServingCertsController {
  readonly #opts: ServingCertsOptions;
  readonly #log: Logger;
  #served: CertCandidate;
  /** The caBundle last confirmed in the webhook configuration (or undefined). */
  #confirmed: string | undefined;
  #loaded: boolean;
  #lastError: string | undefined;
  #serve: ((certs: ServingCerts) => void) | undefined;
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #failures = 0;
  #settling = false;
  #stopped = false;

  constructor(opts: ServingCertsOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ component: 'serving-cert' });
    this.#served = opts.initial;
    this.#loaded = opts.standIn === undefined;
    this.#lastError = opts.standIn;
    this.#setExpiry(opts.initial);
  }

  get certs(): ServingCerts {
    return this.#served.certs;
  }

  /** Starts the loop; `serve` swaps the server's certificate. */
  start(serve: (certs: ServingCerts) => void): void {
    this.#serve = serve;
    this.#unsubscribe = this.#opts.source.onChange(() => this.kick());
    this.#opts.source.start();
    this.#run();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#unsubscribe?.();
    this.#opts.source.stop();
  }

  notReadyReason(): string | undefined {
    if (!this.#loaded) return `serving certificate: ${this.#lastError ?? 'not loaded yet'}`;
    const publisher = this.#opts.publisher;
    if (publisher === undefined || this.#confirmed === this.#served.trusted) return undefined;
    const detail = this.#lastError === undefined ? '' : ` (${this.#lastError})`;
    return `caBundle: mutatingwebhookconfiguration ${publisher.name} not yet known to hold the serving CA${detail}`;
  }

  /**
   * Runs a check now, or right after the one in progress; while a caBundle write settles, the check due
   * after it comes first (it loads the latest certificates anyway).
   */
  kick(): void {
    if (!this.#settling) this.#run();
  }

  #run(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#check().finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#stopped) return;
    const { pollMs, retryMs, settleMs, publisher, source } = this.#opts;
    const again = this.#again;
    this.#again = false;
    if (this.#settling) this.#after(settleMs);
    else if (again) this.#run();
    else if (this.#failures > 0) this.#after(Math.min(pollMs, retryMs * 2 ** (this.#failures - 1)));
    else if (source.polled || publisher !== undefined) this.#after(pollMs);
  }

  #after(ms: number): void {
    this.#timer = setTimeout(() => this.#run(), ms);
    this.#timer.unref();
  }

  /**
   * A caBundle counts as confirmed when a publish found every CA already there, i.e. it was published at
   * least one check earlier: the API servers take a change from a watch, so right after a write one may
   * still call with the old bundle. A publish that changed the bundle is checked again after settleMs.
   */
  async #check(): Promise<void> {
    try {
      const next = await this.#opts.source.load();
      this.#loaded = true;
      this.#settling = (await this.#opts.publisher?.publish(next.trusted)) === true;
      if (!this.#settling) {
        if (this.#opts.publisher) this.#confirmed = next.trusted;
        this.#switchTo(next);
      }
      if (this.#failures > 0) this.#log.info('serving certificate check succeeded again');
      this.#failures = 0;
      this.#lastError = undefined;
    } catch (err) {
      this.#failures++;
      this.#lastError = errorMessage(err);
      const log = this.#failures === 1 ? this.#log.warn.bind(this.#log) : this.#log.debug.bind(this.#log);
      log({ err: this.#lastError, failures: this.#failures }, 'serving certificate check failed; retrying');
    }
  }

  #switchTo(next: CertCandidate): void {
    const current = this.#served.certs;
    const same = ['caPem', 'certPem', 'keyPem'] as const;
    if (same.every((k) => current[k] === next.certs[k])) {
      this.#served = next;
      return;
    }
    this.#serve?.(next.certs);
    this.#served = next;
    this.#setExpiry(next);
  }

  #setExpiry(candidate: CertCandidate): void {
    this.#opts.metrics.servingCertExpiry.set(Math.floor(candidate.notAfter.getTime() / 1000));
  }
}
