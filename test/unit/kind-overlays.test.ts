import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { KubeJson, KubeObject } from '../support/kube.js';
import { schemaProblems } from '../support/kube-schema.js';
import { objectId, renderKustomization } from '../support/kustomize.js';
import { CLUSTER_ENV, clusterSpec, replicasOf } from '../support/node/cluster.js';

/**
 * The kind run (test/kind/run.sh, which needs Docker and never ran here) deploys manifests/ through
 * test/kind/overlays/: checked here to be the install variants themselves plus the suite's additions, and
 * valid against a current schema. Also the cluster spec that switches the node suite to cluster mode.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const render = (dir: string): KubeJson[] => renderKustomization(join(ROOT, dir));
const deployment = (objects: KubeJson[]): KubeJson => objects.find((o) => o.kind === 'Deployment');
const scratch = mkdtempSync(join(tmpdir(), 'fn-pinner-kind-spec-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each([
  ['base', 'manifests/base'],
  ['cert-manager', 'manifests/overlays/cert-manager'],
])('test/kind/overlays/%s', (overlay, variant) => {
  const objects = render(`test/kind/overlays/${overlay}`);
  const shipped = render(variant);

  it(`holds exactly the objects of ${variant}, valid against the current schema`, () => {
    expect(objects.map(objectId).sort()).toEqual(shipped.map(objectId).sort());
    expect(objects.flatMap((o: KubeObject) => schemaProblems(o).map((p) => `${objectId(o)}: ${p}`))).toEqual(
      [],
    );
  });

  it('changes only the Deployment: the private registry CA mounted, a 2 s tag TTL, the loaded image', () => {
    const others = (list: KubeJson[]): KubeJson[] => list.filter((o) => o.kind !== 'Deployment');
    expect(others(objects)).toEqual(others(shipped));
    const mine = deployment(objects).spec.template.spec;
    const theirs = deployment(shipped).spec.template.spec;
    expect(mine.containers[0].args).toEqual(theirs.containers[0].args);
    expect(mine.containers[0].imagePullPolicy).toBe('IfNotPresent');
    expect(mine.containers[0].env).toEqual([
      { name: 'FN_PINNER_ENABLE_PRIVATE_REGISTRIES_TLS', value: 'true' },
      { name: 'FN_PINNER_TAG_TTL', value: '2' },
    ]);
    expect(mine.containers[0].volumeMounts.at(-1)).toEqual({
      name: 'registry-tls',
      mountPath: '/var/tmp/tls-secret',
      readOnly: true,
    });
    expect(mine.volumes.at(-1)).toEqual({
      name: 'registry-tls',
      secret: { secretName: 'fn-pinner-registry-tls' },
    });
    expect(mine.volumes.slice(0, -1)).toEqual(theirs.volumes);
    expect(replicasOf(objects)).toBe(2);
  });
});

describe('the cluster spec (FN_PINNER_NODE_CLUSTER)', () => {
  const spec = {
    kubeconfig: 'kubeconfig',
    hostAddress: '172.18.0.1',
    image: 'fn-pinner:kind',
    overlay: 'test/kind/overlays/cert-manager',
    registry: { host: '172.18.0.1:5001', logsCommand: ['sh', '-c', 'docker logs kind-registry 2>&1'] },
    privateRegistry: {
      host: '172.18.0.1:5002',
      caFile: '/work/tls/ca.crt',
      username: 'kind-user',
      password: 'p',
      rotateCommand: ['test/kind/run.sh', 'rotate-credentials'],
    },
  };
  const write = (value: unknown): string => {
    const file = join(scratch, `spec-${Math.random().toString(16).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(value));
    return file;
  };

  it('is off without the variable: the suite brings up its own node', () => {
    expect(clusterSpec({})).toBeUndefined();
  });

  it('reads paths relative to the spec file, and the overlay relative to the repository', () => {
    const file = write(spec);
    const read = clusterSpec({ [CLUSTER_ENV]: file });
    expect(read).toMatchObject({
      kubeconfig: join(scratch, 'kubeconfig'),
      overlay: join(ROOT, 'test/kind/overlays/cert-manager'),
      privateRegistry: {
        caFile: '/work/tls/ca.crt',
        rotateCommand: ['test/kind/run.sh', 'rotate-credentials'],
      },
    });
  });

  it('defaults to the base overlay, and names a missing field', () => {
    expect(clusterSpec({ [CLUSTER_ENV]: write({ ...spec, overlay: undefined }) })?.overlay).toBe(
      join(ROOT, 'test/kind/overlays/base'),
    );
    const file = write({ ...spec, privateRegistry: { ...spec.privateRegistry, caFile: undefined } });
    expect(() => clusterSpec({ [CLUSTER_ENV]: file })).toThrow(`${file}: privateRegistry.caFile is missing`);
  });
});
