import { writeFileSync } from 'node:fs';

import type { PullCount } from './pulls.js';

/**
 * What the node suite measured, printed at its end and, with FN_PINNER_NODE_REPORT=FILE (npm run
 * bench:node), written as markdown for docs/benchmarks.md. Figures, not assertions: nothing here fails
 * a run on a slow machine.
 */
export interface Figures {
  nodeReadyMs?: number;
  /** The fn-pinner Deployment created → its pod Ready (image pull, start, first Secret sync, probe). */
  fnPinnerReadyMs?: number;
  /** Pod Ready → the apiserver calls it (caBundle published, webhook configuration picked up). */
  webhookActiveMs?: number;
  rotationSyncedMs?: number;
  image?: { totalBytes: number; appLayerBytes: number; appLayerUncompressedBytes?: number };
  runs: Array<{ withFnPinner: boolean; runningMs: number; succeededMs: number }>;
  pulls: Record<string, PullCount>;
  suiteMs?: number;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

const ms = (v: number | undefined): string => (v === undefined ? 'n/a' : `${Math.round(v)} ms`);
const mb = (v: number | undefined): string => (v === undefined ? 'n/a' : `${(v / 1e6).toFixed(1)} MB`);

export function figuresMarkdown(f: Figures): string {
  const runs = (withIt: boolean): Figures['runs'] => f.runs.filter((r) => r.withFnPinner === withIt);
  const row = (label: string, withIt: boolean): string => {
    const r = runs(withIt);
    return `| ${label} | ${r.length} | ${ms(median(r.map((x) => x.runningMs)))} | ${ms(median(r.map((x) => x.succeededMs)))} |`;
  };
  const pullRows = Object.entries(f.pulls).map(
    ([label, p]) =>
      `| ${label} | ${p.node.manifestGets} | ${p.node.blobGets} | ${p.other.manifestGets} | ${p.other.manifestHeads} | ${p.other.blobGets} |`,
  );
  return [
    `| figure | value |`,
    `|---|---|`,
    `| node Ready (kubelet start → Node Ready, taints lifted) | ${ms(f.nodeReadyMs)} |`,
    `| fn-pinner Deployment created → pod Ready | ${ms(f.fnPinnerReadyMs)} |`,
    `| pod Ready → webhook called by the apiserver | ${ms(f.webhookActiveMs)} |`,
    `| rotated Docker config → synced auth-secret | ${ms(f.rotationSyncedMs)} |`,
    `| image: total (compressed layers) | ${mb(f.image?.totalBytes)} |`,
    `| image: app layer compressed / uncompressed | ${mb(f.image?.appLayerBytes)} / ${mb(f.image?.appLayerUncompressedBytes)} |`,
    `| node suite wall time | ${ms(f.suiteMs)} |`,
    '',
    '| pods (image cached, 1 s of work) | runs | median create → Running | median create → Succeeded |',
    '|---|---|---|---|',
    row('without fn-pinner', false),
    row('with fn-pinner', true),
    '',
    '| 3 pods of one tag | node manifest GETs | node blob GETs | fn-pinner manifest GETs | fn-pinner manifest HEADs | fn-pinner blob GETs |',
    '|---|---|---|---|---|---|',
    ...pullRows,
    '',
  ].join('\n');
}

export function writeFigures(f: Figures): void {
  const text = figuresMarkdown(f);
  console.info(`node suite figures:\n${text}`);
  const file = process.env.FN_PINNER_NODE_REPORT;
  if (file) writeFileSync(file, text);
}
