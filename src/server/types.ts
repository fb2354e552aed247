/**
 * What the HTTP layer needs from the rest of the program. The admission decision itself knows nothing
 * about HTTP: the server hands it the parsed JSON body and writes back what it returns.
 */
export type { AdmissionEndpoint } from '../admission/types.js';

export interface Readiness {
  /** Undefined when ready; otherwise why not (reported by /readyz). */
  notReadyReason(): string | undefined;
}
