/**
 * The AdmissionReview the benchmark POSTs: a Porch function-runner pod as the API server sends it to a
 * mutating webhook, i.e. after defaulting and the built-in admission plugins (ServiceAccount adds the
 * projected kube-api-access volume, DefaultTolerationSeconds the two tolerations). One container, the function.
 */

import { admissionReview } from '../test/support/admission-review.js';

export { admissionReview };

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

/** The review as the bytes autocannon sends, with UID_PLACEHOLDER where the uid goes. */
export function reviewTemplate(image: string): string {
  return JSON.stringify(admissionReview(functionPod(image), UID_PLACEHOLDER));
}
