import * as z from 'zod/mini';

import { FnPinnerError } from '../errors.js';
import '../util/zod.js';
import type { AdmissionRequest, AdmissionResponse, AdmissionReview } from './types.js';

const SUPPORTED_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'];

const reviewSchema = z.object({
  apiVersion: z.string().check(
    z.refine((v) => SUPPORTED_VERSIONS.includes(v), {
      message: `must be one of ${SUPPORTED_VERSIONS.join(', ')}`,
    }),
  ),
  kind: z.literal('AdmissionReview'),
  request: z
    .looseObject({
      uid: z.string().check(z.minLength(1)),
      kind: z.object({ group: z.string(), version: z.string(), kind: z.string() }),
      resource: z.object({ group: z.string(), version: z.string(), resource: z.string() }),
      subResource: z.optional(z.string()),
      name: z.optional(z.string()),
      namespace: z.optional(z.string()),
      operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
      object: z.optional(z.unknown()),
      oldObject: z.optional(z.unknown()),
      dryRun: z.optional(z.boolean()),
    })
    .check(
      // The API server always sends the object of a CREATE; without one there is nothing to decide on.
      z.refine((r) => r.operation !== 'CREATE' || (typeof r.object === 'object' && r.object !== null), {
        message: 'a CREATE must carry the object',
        path: ['object'],
      }),
    ),
});

/** Validates a decoded body; the error names the first field that is wrong. */
export function parseAdmissionReview(body: unknown): { apiVersion: string; request: AdmissionRequest } {
  const parsed = reviewSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'body';
    throw new FnPinnerError(
      'BAD_REQUEST',
      `decode AdmissionReview: ${where}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return { apiVersion: parsed.data.apiVersion, request: parsed.data.request };
}

/** The response envelope echoes the request's apiVersion, as the API server expects. */
export function toReview(apiVersion: string, response: AdmissionResponse): AdmissionReview {
  return { apiVersion, kind: 'AdmissionReview', response };
}
