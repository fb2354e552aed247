import type { RequestBudget } from '../../util/budget.js';

/** What one resolution passes down: its deadline, its request budget, and the image it is for. */
export interface CallContext {
  signal: AbortSignal;
  deadline: number;
  /** Every error message starts with it, e.g. `resolve ghcr.io/x/y:1`. */
  what: string;
  budget?: RequestBudget;
}
