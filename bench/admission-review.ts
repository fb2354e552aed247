/**
 * The AdmissionReview the benchmark POSTs: a Porch function-runner pod as the API server sends it to a
 * mutating webhook, i.e. after defaulting and the built-in admission plugins (ServiceAccount adds the
 * projected kube-api-access volume, DefaultTolerationSeconds the two tolerations). One container, the function.
 */

/** Where autocannon (`idReplacement`) and the paced client put a fresh uid for every review. */
export const UID_PLACEHOLDER = '[<id>]';

/** Porch's wrapper-server, as `--command-prefix`. */
export const COMMAND_PREFIX = ['/wrapper-server-tools/wrapper-server', '--port', '9446', '--'];

export const PULL_SECRET = 'auth-secret';

export function functionPod(image: string): Record<string, unknown> {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      generateName: 'set-namespace-v0-4-',
      namespace: 'porch-fn-system',
      creationTimestamp: null,
      labels: { 'fn.kpt.dev/image': 'set-namespace-v0-4' },
      annotations: { 'fn.kpt.dev/template-hash': '4d4f9b8c6f' },
    },
    spec: {
      volumes: [
        { name: 'wrapper-server-tools', emptyDir: {} },
        {
          name: 'kube-api-access-7xk2p',
          projected: {
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              {
                downwardAPI: {
                  items: [
                    { path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
                  ],
                },
              },
            ],
            defaultMode: 420,
          },
        },
      ],
      containers: [
        {
          name: 'function',
          image,
          ports: [{ containerPort: 9446, protocol: 'TCP' }],
          resources: { limits: { memory: '64Mi' }, requests: { cpu: '50m', memory: '16Mi' } },
          volumeMounts: [
            { name: 'wrapper-server-tools', mountPath: '/wrapper-server-tools' },
            {
              name: 'kube-api-access-7xk2p',
              readOnly: true,
              mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
            },
          ],
          readinessProbe: {
            grpc: { port: 9446, service: null },
            timeoutSeconds: 1,
            periodSeconds: 10,
            successThreshold: 1,
            failureThreshold: 3,
          },
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      securityContext: {},
      imagePullSecrets: [{ name: 'porch-fn-default' }],
      schedulerName: 'default-scheduler',
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {},
  };
}

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

/** The review as the bytes autocannon sends, with UID_PLACEHOLDER where the uid goes. */
export function reviewTemplate(image: string): string {
  return JSON.stringify(admissionReview(functionPod(image), UID_PLACEHOLDER));
}
