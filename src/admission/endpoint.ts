import { isFnPinnerError } from '../errors.js';
import { PlatformMemo } from '../mutation/multiarch.js';
import { decide } from './handler.js';
import type { AdmissionDeps } from './handler.js';
import { parseAdmissionReview, toReview } from './review.js';
import type { AdmissionEndpoint } from './types.js';

function uidOf(body: unknown): string {
  const uid = (body as { request?: { uid?: unknown } } | null)?.request?.uid;
  return typeof uid === 'string' ? uid : '';
}

/** Adapts decide() to the HTTP layer: every answer is an AdmissionReview echoing the uid, even for bad input. */
export function createAdmissionEndpoint(given: AdmissionDeps): AdmissionEndpoint {
  const deps: AdmissionDeps = { platformMemo: new PlatformMemo(), ...given };
  return {
    async review(body: unknown): Promise<{ status: number; body: unknown }> {
      let parsed;
      try {
        parsed = parseAdmissionReview(body);
      } catch (err) {
        if (!isFnPinnerError(err, 'BAD_REQUEST')) throw err;
        const apiVersion = (body as { apiVersion?: unknown } | null)?.apiVersion;
        const version =
          typeof apiVersion === 'string' && apiVersion.startsWith('admission.k8s.io/')
            ? apiVersion
            : 'admission.k8s.io/v1';
        const response = {
          uid: uidOf(body),
          allowed: false,
          status: { code: 400, reason: 'BadRequest', message: err.message },
        };
        return { status: 400, body: toReview(version, response) };
      }
      const { response } = await decide(parsed.request, deps);
      return { status: 200, body: toReview(parsed.apiVersion, response) };
    },
  };
}
