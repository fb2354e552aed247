import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Operation } from 'fast-json-patch';

import { createAdmissionEndpoint } from '../../../src/admission/endpoint.js';
import type { AdmissionOptions, PullSecretGate } from '../../../src/admission/handler.js';
import { applyPatch } from '../../../src/admission/patch.js';
import type { AdmissionResponse, AdmissionReview } from '../../../src/admission/types.js';
import { FnPinnerError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logging.js';
import { RegistryPrefixes } from '../../../src/reference/prefixes.js';
import { checkProperty, fuzzTimeout } from '../../support/fuzz.js';
import { MUTATION_LIMITS } from '../../support/limits.js';
import { anyBody, corruptedReview, fuzzSource, wellTypedReview } from '../../support/fuzz-reviews.js';

/**
 * Any pod that can reach /mutate can send any review. Properties, through the real endpoint (validation,
 * decide(), mutation, patch) with a table-driven fake resolver: every body gets a well-formed
 * AdmissionReview, 200 or 400, never a throw; the input is never modified; a patch always applies to the
 * object it was computed from; and for pods the API server could send, no internal error and no second
 * patch when the patched pod comes back (reinvocation). Jest fails a test on any unhandled rejection.
 */

const settings = fc.record({
  failurePolicy: fc.constantFrom<AdmissionOptions['failurePolicy']>('Fail', 'Ignore'),
  prefix: fc.constantFrom<string[]>([], ['/fn-wrapper', '--']),
  pullSecret: fc.constantFrom('none', 'ok', 'failing'),
});
type Settings = typeof settings extends fc.Arbitrary<infer T> ? T : never;

// A real logger with real serialisation (redaction included), writing nowhere.
const log = createLogger({ level: 'debug' }, { write: () => undefined });

function gate(kind: Settings['pullSecret']): PullSecretGate | undefined {
  if (kind === 'none') return undefined;
  return {
    async ensure({ namespace }) {
      if (kind === 'failing') {
        throw new FnPinnerError(
          'SECRET_UNAVAILABLE',
          `ensure pull secret ${namespace}/auth-secret: 403 Forbidden`,
        );
      }
    },
  };
}

function endpoint(s: Settings) {
  return createAdmissionEndpoint({
    source: fuzzSource(),
    log,
    ...(gate(s.pullSecret) ? { pullSecret: gate(s.pullSecret) } : {}),
    options: {
      failurePolicy: s.failurePolicy,
      excludedNamespaces: ['kube-system'],
      reviewDeadlineMs: 5_000,
      mutation: {
        commandPrefix: s.prefix,
        defaultPlatform: { os: 'linux', architecture: 'amd64' },
        limits: MUTATION_LIMITS,
        ...(s.pullSecret === 'none'
          ? {}
          : {
              pullSecret: {
                name: 'auth-secret',
                defaultRegistries: RegistryPrefixes.parse(['gcr.io/kpt-fn/']),
              },
            }),
      },
    },
  });
}

const requestOf = (body: unknown): { uid?: unknown; object?: unknown } | undefined =>
  (body as { request?: { uid?: unknown; object?: unknown } } | null)?.request ?? undefined;

/** Checks one answer; returns the patched object when there was a patch. */
function wellFormed(body: unknown, status: number, answer: unknown): unknown {
  expect([200, 400]).toContain(status);
  // What goes on the wire reads back the same.
  expect(JSON.parse(JSON.stringify(answer))).toEqual(answer);
  const review = answer as AdmissionReview & { response: AdmissionResponse };
  expect(review.kind).toBe('AdmissionReview');
  expect(review.apiVersion).toMatch(/^admission\.k8s\.io\//);
  expect(typeof review.response.uid).toBe('string');
  expect(typeof review.response.allowed).toBe('boolean');
  const { response } = review;
  for (const w of response.warnings ?? []) expect(typeof w).toBe('string');
  for (const v of Object.values(response.auditAnnotations ?? {})) expect(typeof v).toBe('string');
  if (status === 400) {
    expect(response).toMatchObject({ allowed: false, status: { code: 400, reason: 'BadRequest' } });
    return undefined;
  }
  expect(response.uid).toBe(requestOf(body)?.uid);
  if (!response.allowed) {
    expect(response.status?.code).toBe(403);
    expect(response.status?.message).toMatch(/^fn-pinner: /);
    return undefined;
  }
  if (response.patch === undefined) return undefined;
  expect(response.patchType).toBe('JSONPatch');
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
  expect(Array.isArray(ops)).toBe(true);
  // validate=true: every op must fit the document it was computed against.
  return applyPatch(requestOf(body)?.object, ops);
}

async function reviewChecked(
  s: Settings,
  body: unknown,
): Promise<{ answer: AdmissionReview; patched: unknown }> {
  const before = structuredClone(body);
  const { status, body: answer } = await endpoint(s).review(body);
  expect(body).toEqual(before);
  return { answer: answer as AdmissionReview, patched: wellFormed(body, status, answer) };
}

function internalErrorIn(answer: AdmissionReview): string | undefined {
  const r = answer.response;
  const texts = [r?.status?.message, r?.auditAnnotations?.error, ...(r?.warnings ?? [])];
  return texts.find((t) => t !== undefined && /internal error/.test(t));
}

describe('admission endpoint under arbitrary reviews', () => {
  it(
    'answers pods the API server could send with a well-formed review, no internal error, and one patch only',
    async () => {
      await checkProperty(
        'admission: well-typed pod reviews',
        fc.asyncProperty(settings, wellTypedReview, async (s, body) => {
          const { answer, patched } = await reviewChecked(s, body);
          expect(internalErrorIn(answer)).toBeUndefined();
          if (patched === undefined) return;
          // Reinvocation: the patched pod, reviewed again, needs nothing more.
          const again = { ...body, request: { ...body.request, object: patched } };
          const second = await reviewChecked(s, again);
          expect(second.answer.response?.patch).toBeUndefined();
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'answers a review with any one field replaced by arbitrary JSON with a review or a 400, never a throw',
    async () => {
      await checkProperty(
        'admission: corrupted reviews',
        fc.asyncProperty(settings, corruptedReview, async (s, body) => {
          await reviewChecked(s, body);
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'answers arbitrary JSON with a 400 review',
    async () => {
      await checkProperty(
        'admission: arbitrary JSON bodies',
        fc.asyncProperty(settings, anyBody, async (s, body) => {
          await reviewChecked(s, body);
        }),
      );
    },
    fuzzTimeout(),
  );
});
