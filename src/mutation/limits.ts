/** What one review may cost; filled by src/config (fixed tunables and --review-max-registry-requests). */
export interface ReviewLimits {
  /** Distinct images one pod may ask to resolve (TOO_MANY_IMAGES beyond). */
  maxImagesPerReview: number;
  /** Platforms of one index compared for the multi-arch warning (the pod's own included). */
  maxPlatformsCompared: number;
  /** Registry requests one review may send, retries, tokens and redirects included. */
  maxRequestsPerReview: number;
}
