import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { serialOf } from './pem.js';
import type { Logger } from '../logging.js';
import { ensureServingCerts } from './serving.js';
import type { EnsureServingCertsOptions, EnsureServingCertsResult, ServingCerts } from './serving.js';

/**
 * Keeps the serving certificate current while the process runs.
 *
 * - Self-managed (`generate: true`): a periodic check re-issues the leaf when it enters the renewal window.
 * - cert-manager (`generate: false`): the issuer renews the Secret and kubelet swaps the mounted files by
 *   replacing the `..data` symlink; a watch on the directory reloads them. fs.watch can miss events (some
 *   filesystems, a directory replaced under us), so the periodic check doubles as a safety net.
 *
 * A check that finds invalid files keeps serving the current certificate and logs an error: serving a
 * mismatched or expired pair would fail every admission call, while the current one may still be valid.
 */

export interface ServingCertManagerOptions extends Omit<EnsureServingCertsOptions, 'now'> {
  log: Logger;
  /** Between periodic checks. Default 1 h: rotation is due weeks ahead, so this only bounds detection lag. */
  checkIntervalMs?: number;
  /** kubelet's swap is a burst of events (new version dir, `..data_tmp`, rename); react once it settles. */
  debounceMs?: number;
  /** Watch the directory for changes (default true). */
  watch?: boolean;
  /** For tests: the time each check runs at. */
  clock?: () => Date;
}

export type CertsListener = (certs: ServingCerts) => void;

const DEFAULT_CHECK_INTERVAL_MS = 60 * 60_000;
const DEFAULT_DEBOUNCE_MS = 200;

export class ServingCertManager {
  readonly #opts: ServingCertManagerOptions;
  readonly #log: Logger;
  readonly #clock: () => Date;
  readonly #listeners = new Set<CertsListener>();
  #certs: ServingCerts;
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;
  #running = false;

  /** Loads (or issues) the certificates right away; throws what ensureServingCerts throws. */
  constructor(opts: ServingCertManagerOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? ((): Date => new Date());
    this.#log = opts.log.child({ component: 'serving-cert', dir: opts.dir });
    const result = ensureServingCerts({ ...opts, now: this.#clock() });
    this.#certs = result.certs;
    this.#logResult(result, 'serving certificate ready');
  }

  get certs(): ServingCerts {
    return this.#certs;
  }

  /** Called with the new certificates after each change; returns an unsubscribe function. */
  onChange(listener: CertsListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#ensureWatching();
    this.#timer = setInterval(() => {
      this.#ensureWatching();
      this.check('timer');
    }, this.#opts.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  stop(): void {
    this.#running = false;
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
    this.#watcher?.close();
    this.#timer = undefined;
    this.#debounce = undefined;
    this.#watcher = undefined;
  }

  /**
   * One check: rotate if due (self-managed) or reload the files (cert-manager). Returns whether the
   * certificates changed. Public so the CLI can trigger it (e.g. on SIGHUP) and tests need no timers.
   */
  check(trigger = 'manual'): boolean {
    let result: EnsureServingCertsResult;
    try {
      result = ensureServingCerts({ ...this.#opts, now: this.#clock() });
    } catch (err) {
      this.#log.error(
        { err, trigger },
        'serving certificate check failed; still serving the current certificate',
      );
      return false;
    }
    if (sameCerts(result.certs, this.#certs)) {
      if (result.renewalDue !== undefined)
        this.#log.warn({ trigger }, `serving certificate: ${result.renewalDue}`);
      return false;
    }
    this.#certs = result.certs;
    this.#logResult(result, 'serving certificate changed');
    if (result.caGenerated) {
      this.#log.warn('a new CA was issued: the caBundle of the MutatingWebhookConfiguration must be updated');
    }
    this.#emit(result.certs);
    return true;
  }

  #emit(certs: ServingCerts): void {
    for (const listener of this.#listeners) {
      try {
        listener(certs);
      } catch (err) {
        this.#log.error({ err }, 'serving certificate listener failed');
      }
    }
  }

  #ensureWatching(): void {
    if (this.#opts.watch === false || this.#watcher !== undefined || !this.#running) return;
    try {
      // persistent: false, so an idle watch never keeps the process (or a test run) alive on its own.
      const watcher = watch(this.#opts.dir, { persistent: false }, () => this.#scheduleReload());
      watcher.on('error', (err) => {
        this.#log.warn({ err }, 'watching the certificate directory failed; relying on the periodic check');
        watcher.close();
        if (this.#watcher === watcher) this.#watcher = undefined;
      });
      this.#watcher = watcher;
    } catch (err) {
      this.#log.warn({ err }, 'cannot watch the certificate directory; relying on the periodic check');
    }
  }

  #scheduleReload(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      if (this.#running) this.check('watch');
    }, this.#opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.#debounce.unref();
  }

  #logResult(result: EnsureServingCertsResult, message: string): void {
    const fields = {
      reason: result.reason,
      generated: result.generated,
      caGenerated: result.caGenerated,
      notAfter: result.notAfter.toISOString(),
      serialNumber: serialOf(result.certs.certPem),
    };
    this.#log.info(fields, message);
    if (result.renewalDue !== undefined) this.#log.warn(`serving certificate: ${result.renewalDue}`);
  }
}

function sameCerts(a: ServingCerts, b: ServingCerts): boolean {
  return a.caPem === b.caPem && a.certPem === b.certPem && a.keyPem === b.keyPem;
}
