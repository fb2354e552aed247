import { z } from 'zod';

import { FnPinnerError } from '../errors.js';
import type { AdmissionRequest, AdmissionResponse, AdmissionReview } from './types.js';

const SUPPORTED_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'];

const reviewSchema = z.object({
  apiVersion: z.string().refine((v) => SUPPORTED_VERSIONS.includes(v), {
    message: `must be one of ${SUPPORTED_VERSIONS.join(', ')}`,
  }),
  kind: z.literal('AdmissionReview'),
  request: z
    .object({
      uid: z.string().min(1),
      kind: z.object({ group: z.string(), version: z.string(), kind: z.string() }),
      resource: z.object({ group: z.string(), version: z.string(), resource: z.string() }),
      subResource: z.string().optional(),
      name: z.string().optional(),
      namespace: z.string().optional(),
      operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
      object: z.unknown().optional(),
      oldObject: z.unknown().optional(),
      dryRun: z.boolean().optional(),
    })
    .loose()
    // The API server always sends the object of a CREATE; without one there is nothing to decide on.
    .refine((r) => r.operation !== 'CREATE' || (typeof r.object === 'object' && r.object !== null), {
      message: 'a CREATE must carry the object',
      path: ['object'],
    }),
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
