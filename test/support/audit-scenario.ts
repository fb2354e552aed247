import type { ContainerAudit, ContainerType } from '../../src/audit/types.js';
import { imagePusher } from './images.js';
import type { KubeObject } from './kube.js';
import { startRegistry } from './registry.js';
import type { TestRegistry } from './registry.js';

/**
 * The pods `fn-pinner audit` is proven on, the same in the cluster (e2e, created straight through the API,
 * no webhook) and in a file (-f): one of each status, a digest-only image whose tag is in the annotation, a
 * registry that is down, init containers, bad input, two namespaces and a label to select on.
 * Build it, create the pods, then moveTag(): the tag app:v1 then points to a new push, so pods pinned to the
 * first push drift.
 */
export const FN_NS = 'porch-fn-system';
export const OTHER_NS = 'team-b';
/** On some pods only, for `-l`. */
export const GATE_LABEL = { tier: 'gate' };

export interface AuditScenario {
  pods: KubeObject[];
  /** Pods the API would refuse (no containers): for files only. */
  fileOnlyPods: KubeObject[];
  /** Pushes app:v1 again with other content. */
  moveTag(): Promise<void>;
  /**
   * ns/name → the expected containers, once the tag has moved. Errors that name a port or a Node message
   * are given to `matching` (jest's expect.stringMatching in tests), so this module does not need jest.
   */
  expected(matching: (pattern: RegExp) => string): Record<string, ContainerAudit[]>;
  digests: { appOld: string; appNew: string | undefined; tool: string; gone: string };
  /** The registry that is down, e.g. for --insecure-registry. */
  downHost: string;
}

type Entry = Omit<ContainerAudit, 'type'> & { type?: ContainerType };

const entry = (e: Entry): ContainerAudit => ({
  name: e.name,
  type: e.type ?? 'container',
  image: e.image,
  digest: e.digest,
  original: e.original,
  current: e.current,
  status: e.status,
  error: e.error,
});

function pod(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, ...metadata }, spec };
}

const c = (name: string, image: string): Record<string, string> => ({ name, image });

export async function auditScenario(reg: TestRegistry): Promise<AuditScenario> {
  const push = imagePusher(reg);
  const [appOld, tool] = await Promise.all([
    push.pushImage('fn/app', 'v1', { entrypoint: ['/app'], layerText: 'app, first push' }),
    push.pushImage('fn/tool', 'v1', { entrypoint: ['/tool'] }),
  ]);
  // A registry that held an image, then went away.
  const down = await startRegistry('plain');
  const gone = await imagePusher(down).pushImage('fn/gone', 'v1', { entrypoint: ['/gone'] });
  await down.stop();
  const r = reg.host;
  const app = `${r}/fn/app:v1`;
  const toolTag = `${r}/fn/tool:v1`;
  const goneTag = `${down.host}/fn/gone:v1`;
  const badImage = `${r}/Fn/App:v1`;
  const digests: AuditScenario['digests'] = {
    appOld: appOld.digest,
    appNew: undefined,
    tool: tool.digest,
    gone: gone.digest,
  };
  const annotated = (images: Record<string, string>): Record<string, unknown> => ({
    annotations: { 'fn-pinner.io/original-images': JSON.stringify(images) },
  });
  const pods = [
    pod(FN_NS, 'pinned', { containers: [c('fn', `${toolTag}@${tool.digest}`)] }, { labels: GATE_LABEL }),
    pod(FN_NS, 'drifted', { containers: [c('fn', `${app}@${appOld.digest}`)] }, { labels: GATE_LABEL }),
    pod(FN_NS, 'unpinned', { containers: [c('fn', app)] }),
    pod(
      FN_NS,
      'by-digest',
      { containers: [c('fn', `${r}/fn/tool@${tool.digest}`), c('sidecar', `${r}/fn/app@${appOld.digest}`)] },
      annotated({ fn: toolTag, sidecar: app }),
    ),
    pod(FN_NS, 'registry-down', { containers: [c('fn', `${goneTag}@${gone.digest}`)] }),
    pod(FN_NS, 'with-init', {
      initContainers: [c('init', `${toolTag}@${tool.digest}`)],
      containers: [c('fn', app)],
    }),
    pod(
      FN_NS,
      'bad-annotation',
      { containers: [c('fn', `${toolTag}@${tool.digest}`)] },
      { annotations: { 'fn-pinner.io/original-images': '{not json' } },
    ),
    pod(FN_NS, 'bad-image', { containers: [c('fn', badImage)] }),
    pod(OTHER_NS, 'elsewhere', { containers: [c('fn', `${app}@${appOld.digest}`)] }, { labels: GATE_LABEL }),
  ];
  const fileOnlyPods = [pod(FN_NS, 'no-containers', { containers: [] })];

  const expected = (matching: (pattern: RegExp) => string): Record<string, ContainerAudit[]> => {
    const now = digests.appNew;
    if (!now) throw new Error('moveTag() first');
    const drift = (name: string, image: string, original = app): ContainerAudit =>
      entry({ name, image, digest: appOld.digest, original, current: now, status: 'drift', error: null });
    const pinnedTool = (name: string, image: string, type?: ContainerType): ContainerAudit =>
      entry({
        name,
        type,
        image,
        digest: tool.digest,
        original: toolTag,
        current: tool.digest,
        status: 'pinned',
        error: null,
      });
    const unpinnedApp = entry({
      name: 'fn',
      image: app,
      digest: null,
      original: app,
      current: now,
      status: 'unpinned',
      error: null,
    });
    return {
      [`${FN_NS}/pinned`]: [pinnedTool('fn', `${toolTag}@${tool.digest}`)],
      [`${FN_NS}/drifted`]: [drift('fn', `${app}@${appOld.digest}`)],
      [`${FN_NS}/unpinned`]: [unpinnedApp],
      [`${FN_NS}/by-digest`]: [
        pinnedTool('fn', `${r}/fn/tool@${tool.digest}`),
        drift('sidecar', `${r}/fn/app@${appOld.digest}`),
      ],
      [`${FN_NS}/registry-down`]: [
        entry({
          name: 'fn',
          image: `${goneTag}@${gone.digest}`,
          digest: gone.digest,
          original: goneTag,
          current: null,
          status: 'unresolvable',
          error: matching(
            new RegExp(`^network error: resolve ${goneTag}: .*(ECONNREFUSED|connection refused)`),
          ),
        }),
      ],
      [`${FN_NS}/with-init`]: [pinnedTool('init', `${toolTag}@${tool.digest}`, 'initContainer'), unpinnedApp],
      [`${FN_NS}/bad-annotation`]: [
        entry({
          name: 'fn',
          image: `${toolTag}@${tool.digest}`,
          digest: tool.digest,
          original: toolTag,
          current: null,
          status: 'unresolvable',
          error: matching(/^annotation fn-pinner\.io\/original-images is not valid JSON: /),
        }),
      ],
      [`${FN_NS}/bad-image`]: [
        entry({
          name: 'fn',
          image: badImage,
          digest: null,
          original: null,
          current: null,
          status: 'unresolvable',
          error: `parse image reference "${badImage}": invalid repository path component "Fn" (repository names must be lower case)`,
        }),
      ],
      [`${OTHER_NS}/elsewhere`]: [drift('fn', `${app}@${appOld.digest}`)],
      [`${FN_NS}/no-containers`]: [
        entry({
          name: null,
          image: null,
          digest: null,
          original: null,
          current: null,
          status: 'unresolvable',
          error: 'pod has no containers (spec.containers is empty or missing)',
        }),
      ],
    };
  };

  return {
    pods,
    fileOnlyPods,
    digests,
    async moveTag() {
      const moved = await push.pushImage('fn/app', 'v1', {
        entrypoint: ['/app'],
        layerText: 'app, second push',
      });
      digests.appNew = moved.digest;
    },
    expected,
    downHost: down.host,
  };
}

/** The report's pods as ns/name → containers, for comparing with expected(). */
export function byPod(report: {
  pods: Array<{ namespace: string | null; name: string | null; containers: ContainerAudit[] }>;
}): Record<string, ContainerAudit[]> {
  return Object.fromEntries(report.pods.map((p) => [`${p.namespace}/${p.name}`, p.containers]));
}

/** The rows of auditTable's output, split on the column gaps: [namespace, pod, container, status, image, current?]. */
export function tableRows(table: string): string[][] {
  const lines = table.split('\n');
  const end = lines.findIndex((l) => /^\d+ pods?, /.test(l));
  return lines.slice(1, end).map((l) => l.split(/ {2,}/));
}
