import { FnPinnerError } from '../errors.js';

/**
 * How many registry requests one review (or one `resolve` command) may still send. Every attempt counts:
 * pings, tokens, manifests, blobs, redirects and retries. Shared work (a single flight another review
 * started) is paid for by whoever started it.
 */
export class RequestBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Spends one request, or throws REQUEST_BUDGET_EXCEEDED naming what it was for. */
  take(what: string): void {
    if (this.used >= this.limit) {
      throw new FnPinnerError(
        'REQUEST_BUDGET_EXCEEDED',
        `${what}: the review already sent ${this.limit} registry requests (its budget)`,
      );
    }
    this.used++;
  }

  get spent(): number {
    return this.used;
  }

  get exhausted(): boolean {
    return this.used >= this.limit;
  }
}
