import { Certificate, Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, ResourceQuota, Service, ServiceAccount } from 'kubernetes-models/v1';

import type { KubeObject } from './kube.js';

/**
 * Checks objects against the OpenAPI schemas of a current Kubernetes release (kubernetes-models 4.5: the
 * 1.33 API) and of the cert-manager and Prometheus Operator CRDs, for what the v1.20 test API server cannot
 * check: policy/v1 and the CRD-based kinds. On top of the schema (which, like Kubernetes' own OpenAPI,
 * allows unknown fields) it reports every field the schema does not know, as the API server's strict field
 * validation does (kubectl apply's default since 1.27), so a misspelt field fails here instead of being
 * dropped silently.
 */

interface ModelClass {
  apiVersion: string;
  kind: string;
  prototype: { validate(): void };
}

const MODELS: ModelClass[] = [
  Namespace,
  ServiceAccount,
  Service,
  ConfigMap,
  ResourceQuota,
  Role,
  RoleBinding,
  ClusterRole,
  ClusterRoleBinding,
  Deployment,
  PodDisruptionBudget,
  MutatingWebhookConfiguration,
  Certificate,
  Issuer,
  ServiceMonitor,
  PrometheusRule,
];

const BY_TYPE = new Map(MODELS.map((m) => [`${m.apiVersion} ${m.kind}`, m]));

/** Every problem with `obj`, as `path: message` lines; empty when it is valid. */
export function schemaProblems(obj: KubeObject): string[] {
  const model = BY_TYPE.get(`${obj.apiVersion} ${obj.kind}`);
  if (model === undefined)
    return [`no schema for ${obj.apiVersion} ${obj.kind}: add its model to test/support/kube-schema.ts`];
  const seen = new Set<string>();
  const all = new Set<string>();
  const tracked = track(obj, '', seen, all) as object;
  try {
    model.prototype.validate.call(tracked);
  } catch (err) {
    return [(err as Error).message];
  }
  return [...all]
    .filter((path) => !seen.has(path))
    .map((path) => `${path}: field not declared in the schema`);
}

/**
 * A copy of `value` whose objects record which properties the compiled validator reads. A validator reads
 * each declared property by name and enumerates the keys of maps (labels, data); a property it never
 * touches is one the schema does not declare.
 */
function track(value: unknown, path: string, seen: Set<string>, all: Set<string>): unknown {
  if (Array.isArray(value)) return value.map((v, i) => track(v, `${path}/${i}`, seen, all));
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    all.add(`${path}/${key}`);
    copy[key] = track(v, `${path}/${key}`, seen, all);
  }
  return new Proxy(copy, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && Object.hasOwn(target, prop)) seen.add(`${path}/${prop}`);
      return Reflect.get(target, prop, receiver) as unknown;
    },
    ownKeys(target) {
      for (const key of Object.keys(target)) seen.add(`${path}/${key}`);
      return Reflect.ownKeys(target);
    },
  });
}
