import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { KubeJson, KubeObject } from '../support/kube.js';
import { schemaProblems } from '../support/kube-schema.js';
import { objectId, renderKustomization } from '../support/kustomize.js';

/**
 * What `kubectl apply -k` sends for each install variant, checked against the schemas of a current
 * Kubernetes release and of the cert-manager and Prometheus Operator CRDs (test/e2e/webhook-e2e.test.ts
 * also dry-runs what the v1.20 test API server serves), and checked for the properties the operations
 * guide promises.
 */
const MANIFESTS = join(import.meta.dirname, '..', '..', 'manifests');
const VARIANTS = ['.', 'base', 'overlays/cert-manager', 'overlays/monitoring'];
const TLS_SECRET = 'fn-pinner-webhook-tls';

const render = (variant: string): KubeJson[] => renderKustomization(join(MANIFESTS, variant));
const find = (objects: KubeJson[], kind: string, name?: string): KubeJson =>
  objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

function deploymentArgs(objects: KubeJson[]): string[] {
  return find(objects, 'Deployment', 'fn-pinner').spec.template.spec.containers[0].args;
}

describe('manifests/', () => {
  it.each(VARIANTS)(
    '%s: every object is valid against the current schema, with no unknown field',
    (variant) => {
      const problems = render(variant).flatMap((o: KubeObject) =>
        schemaProblems(o).map((p) => `${objectId(o)}: ${p}`),
      );
      expect(problems).toEqual([]);
    },
  );

  it('installs the base by default', () => {
    expect(render('.').map(objectId)).toEqual(render('base').map(objectId));
  });

  it('runs two replicas that are never all down on purpose', () => {
    const objects = render('base');
    const deployment = find(objects, 'Deployment', 'fn-pinner');
    const podLabels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
    expect(deployment.spec.template.spec.priorityClassName).toBe('system-cluster-critical');
    const spread = deployment.spec.template.spec.topologySpreadConstraints;
    expect(spread.map((c: KubeJson) => c.topologyKey)).toContain('kubernetes.io/hostname');
    for (const c of spread) expect(c.labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);

    const pdb = find(objects, 'PodDisruptionBudget', 'fn-pinner');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.metadata.namespace).toBe(deployment.metadata.namespace);
    expect(podLabels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(podLabels).toMatchObject(find(objects, 'Service', 'fn-pinner').spec.selector);

    const quota = find(objects, 'ResourceQuota');
    expect(quota.metadata.namespace).toBe(deployment.metadata.namespace);
    expect(quota.spec.scopeSelector.matchExpressions[0].values).toContain('system-cluster-critical');
  });

  it('lets fn-pinner get and update only the shared CA Secret, and create Secrets in its own namespace', () => {
    const objects = render('base');
    const role = find(objects, 'Role', 'fn-pinner-webhook-tls');
    expect(role.metadata.namespace).toBe('fn-pinner-system');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: [TLS_SECRET], verbs: ['get', 'update'] },
    ]);
    const binding = find(objects, 'RoleBinding', 'fn-pinner-webhook-tls');
    expect(binding.metadata.namespace).toBe(role.metadata.namespace);
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: role.metadata.name,
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'fn-pinner', namespace: 'fn-pinner-system' },
    ]);
    expect(deploymentArgs(objects)).toContain('--webhook-config-name=fn-pinner');
  });

  it('cert-manager overlay: mounts the Certificate the CA injector names, and drops what self-signed mode needs', () => {
    const objects = render('overlays/cert-manager');
    const args = deploymentArgs(objects);
    expect(args).toContain('--self-signed-certs=false');
    expect(args.filter((a) => a.startsWith('--webhook-config-name'))).toEqual([]);

    const webhook = find(objects, 'MutatingWebhookConfiguration', 'fn-pinner');
    const [ns, name] = webhook.metadata.annotations['cert-manager.io/inject-ca-from'].split('/');
    const certificate = find(objects, 'Certificate', name);
    expect(certificate.metadata.namespace).toBe(ns);
    const service = webhook.webhooks[0].clientConfig.service;
    expect(certificate.spec.dnsNames).toContain(`${service.name}.${service.namespace}.svc`);

    const pod = find(objects, 'Deployment', 'fn-pinner').spec.template.spec;
    const certDir = args.find((a) => a.startsWith('--cert-dir='))?.split('=')[1];
    const mount = pod.containers[0].volumeMounts.find((m: KubeJson) => m.mountPath === certDir);
    expect(mount.readOnly).toBe(true);
    const volume = pod.volumes.find((v: KubeJson) => v.name === mount.name);
    expect(volume).toEqual({ name: 'certs', secret: { secretName: certificate.spec.secretName } });
    expect(certificate.spec.secretName).toBe(TLS_SECRET);

    // The issuer chain exists in the same namespace: serving ← CA Issuer ← CA Certificate ← self-signed.
    const caIssuer = find(objects, 'Issuer', certificate.spec.issuerRef.name);
    const ca = objects.find(
      (o) => o.kind === 'Certificate' && o.spec.secretName === caIssuer.spec.ca.secretName,
    );
    expect(ca.spec.isCA).toBe(true);
    expect(find(objects, 'Issuer', ca.spec.issuerRef.name).spec.selfSigned).toEqual({});

    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).not.toContain('ClusterRole/fn-pinner-webhook-cabundle');
    expect(kinds).not.toContain('Role/fn-pinner-webhook-tls');
    expect(kinds).toContain('Role/fn-pinner-pull-secret');
  });

  it('monitoring overlay: the ServiceMonitor scrapes the webhook Service over verified TLS', () => {
    const objects = render('overlays/monitoring');
    const service = find(objects, 'Service', 'fn-pinner');
    const monitor = find(objects, 'ServiceMonitor', 'fn-pinner');
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.namespaceSelector.matchNames).toEqual([service.metadata.namespace]);
    const [endpoint] = monitor.spec.endpoints;
    expect(service.spec.ports.map((p: KubeJson) => p.name)).toContain(endpoint.port);
    expect(endpoint.tlsConfig).toEqual({
      serverName: `${service.metadata.name}.${service.metadata.namespace}.svc`,
      ca: { secret: { name: TLS_SECRET, key: 'ca.crt' } },
    });
    const dashboard = find(objects, 'ConfigMap', 'fn-pinner-grafana-dashboard');
    expect(dashboard.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(JSON.parse(dashboard.data['fn-pinner.json']).uid).toBe('fn-pinner');
  });
});

describe('the schema check used above', () => {
  it('reports a misspelt field, a wrong type and a kind it has no schema for', () => {
    const deployment = structuredClone(find(render('base'), 'Deployment', 'fn-pinner'));
    deployment.spec.template.spec.topologySpreadConstraints[0].maxSkw = 1;
    expect(schemaProblems(deployment)).toEqual([
      '/spec/template/spec/topologySpreadConstraints/0/maxSkw: field not declared in the schema',
    ]);
    deployment.spec.replicas = 'two';
    expect(schemaProblems(deployment)).toEqual(['data/spec/replicas must be integer']);
    expect(
      schemaProblems({ apiVersion: 'policy/v1beta1', kind: 'PodDisruptionBudget', metadata: {} }),
    ).toEqual([
      'no schema for policy/v1beta1 PodDisruptionBudget: add its model to test/support/kube-schema.ts',
    ]);
  });
});

describe('the kustomize renderer used above', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  function kustomization(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-kustomize-'));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  }
  const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\ndata: {k: v}\n';

  it('fails on a failed JSON 6902 test rather than patching something else', () => {
    const dir = kustomization({
      'cm.yaml': cm,
      'kustomization.yaml':
        'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml]\n' +
        'patches:\n- target: {kind: ConfigMap, name: a}\n  patch: |-\n' +
        '    - {op: test, path: /data/k, value: other}\n    - {op: replace, path: /data/k, value: x}\n',
    });
    expect(() => renderKustomization(dir)).toThrow(/patching v1 ConfigMap n\/a: Test operation failed/);
  });

  it('refuses what it does not implement instead of rendering it differently from kustomize', () => {
    const dir = kustomization({
      'cm.yaml': cm,
      'kustomization.yaml':
        'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml]\nnamePrefix: x-\n',
    });
    expect(() => renderKustomization(dir)).toThrow('namePrefix not supported by this renderer');
  });

  it('refuses an object defined twice and a delete of nothing', () => {
    const twice = kustomization({
      'cm.yaml': cm,
      'kustomization.yaml':
        'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml, cm.yaml]\n',
    });
    expect(() => renderKustomization(twice)).toThrow('v1 ConfigMap n/a is defined twice');
    const gone = kustomization({
      'cm.yaml': cm,
      'kustomization.yaml':
        'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml]\n' +
        'patches:\n- patch: |-\n    $patch: delete\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: b, namespace: n}\n',
    });
    expect(() => renderKustomization(gone)).toThrow('cannot delete v1 ConfigMap n/b: not found');
  });
});
