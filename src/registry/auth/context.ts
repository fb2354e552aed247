import type { RequestBudget } from '../../util/budget.js';
import type { Keychain } from './credentials.js';

/** What one resolution passes down: its deadline, its request budget, and the image it is for. */
export interface CallContext {
  signal: AbortSignal;
  deadline: number;
  /** Every error message starts with it, e.g. `resolve ghcr.io/x/y:1`. */
  what: string;
  budget?: RequestBudget;
  /**
   * Credentials of this resolution's own (the pod's pull secrets, with --pod-pull-secrets): tried after
   * the mounted custom config and before the default keychain, for this review only.
   */
  credentials?: Keychain;
}
