/**
 * What the HTTP layer needs from the rest of the program. The admission decision itself knows nothing
 * about HTTP: the server hands it the parsed JSON body and writes back what it returns.
 */
export interface AdmissionEndpoint {
  /**
   * Decides one AdmissionReview. `status` is 200 for every well-formed review (errors included, inside the
   * review, uid echoed) and 400 for malformed input, with a JSON body naming what was wrong.
   */
  review(body: unknown): Promise<{ status: number; body: unknown }>;
}

export interface Readiness {
  /** Undefined when ready; otherwise why not (reported by /readyz). */
  notReadyReason(): string | undefined;
}
