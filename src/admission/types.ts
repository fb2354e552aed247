/** admission.k8s.io/v1 AdmissionReview, as plain JSON types (no model classes: the pod must round-trip untouched). */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo?: { username?: string; [field: string]: unknown };
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
  [field: string]: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code?: number; message?: string; reason?: string };
  patchType?: 'JSONPatch';
  /** base64 of the JSONPatch: "The API does require base64-encoded content" (kubernetes/website#34308). */
  patch?: string;
  auditAnnotations?: Record<string, string>;
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: string;
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

/** Why a review ended as it did; logged and counted. */
export const Reason = {
  Patched: 'Patched',
  NotPatched: 'NotPatched',
  SkippedOperation: 'SkippedOperation',
  SkippedResource: 'SkippedResource',
  SkippedNamespace: 'SkippedNamespace',
  SkippedOptOut: 'SkippedOptOut',
  Denied: 'Denied',
  ErrorIgnored: 'ErrorIgnored',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export interface AdmissionEndpoint {
  /**
   * Decides one AdmissionReview. `status` is 200 for every well-formed review (errors included, inside the
   * review, uid echoed) and 400 for malformed input, with a JSON body naming what was wrong.
   */
  review(body: unknown): Promise<{ status: number; body: unknown }>;
}
