// Captures a real AdmissionReview from a real kube-apiserver (test/support/kube.ts) for the unit-test
// fixtures: a Porch-style function pod created in porch-fn-system, as the API server sends it to a webhook.
//   KUBEBUILDER_ASSETS=/var/cache/fn-pinner/kube/bin npx tsx scripts/capture-admission-review.ts
import { writeFileSync } from 'node:fs';

import { registerWebhook, startKube, startPatchWebhook, waitForWebhook } from '../test/support/kube.js';

const out = 'test/fixtures/admission/captured/pod-create-v1.20.json';
const kube = await startKube();
let captured: unknown;
const hook = await startPatchWebhook((object, request) => {
  if ((object as { metadata?: { name?: string } }).metadata?.name === 'set-namespace-v041-1-5245a527') {
    captured = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
  }
  return undefined;
});
try {
  await kube.createNamespace('porch-fn-system');
  await registerWebhook(kube, {
    name: 'capture',
    url: hook.url,
    caPem: hook.caPem,
    namespace: 'porch-fn-system',
  });
  await waitForWebhook(kube, { namespace: 'porch-fn-system', acted: () => hook.calls > 0 });
  await kube.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'set-namespace-v041-1-5245a527',
      namespace: 'porch-fn-system',
      labels: { 'fn.kpt.dev/image': 'set-namespace-v041-1-5245a527' },
      annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true' },
    },
    spec: {
      initContainers: [
        {
          name: 'copy-wrapper-server',
          image: 'docker.io/nephio/porch-wrapper-server:latest',
          command: ['cp', '-a', '/home/nonroot/wrapper-server/.', '/wrapper-server-tools'],
          volumeMounts: [{ name: 'wrapper-server-tools', mountPath: '/wrapper-server-tools' }],
        },
      ],
      containers: [
        {
          name: 'function',
          image: 'ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1',
          imagePullPolicy: 'IfNotPresent',
          volumeMounts: [{ name: 'wrapper-server-tools', mountPath: '/wrapper-server-tools' }],
        },
      ],
      volumes: [{ name: 'wrapper-server-tools', emptyDir: {} }],
    },
  });
  if (!captured) throw new Error('the webhook was not called for the pod');
  writeFileSync(out, `${JSON.stringify(captured, null, 2)}\n`);
  console.log(`wrote ${out}`);
} finally {
  await hook.stop();
  await kube.stop();
}
