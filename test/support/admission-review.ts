/** An admission.k8s.io/v1 review of a pod CREATE, as the API server sends it. */
export function admissionReview(pod: Record<string, unknown>, uid: string): Record<string, any> {
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'porch-fn-system',
      operation: 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:porch-system:porch-fn-runner',
        uid: 'a3c1f1d2-5b8e-4c55-9d0a-2f7e6b1c9e44',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:porch-system', 'system:authenticated'],
        extra: {
          'authentication.kubernetes.io/pod-name': ['porch-fn-runner-6d9c7b8f5-x2k4q'],
          'authentication.kubernetes.io/pod-uid': ['0b6f0c2e-8d6e-4e0f-a8a7-1f5b2c3d4e5f'],
        },
      },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}
