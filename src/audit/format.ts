import type { AuditReport, AuditSummary, ContainerAudit, PodAudit } from './types.js';

/**
 * The two faces of a report: the JSON contract (exactly the report, one object) and a table for people
 * (namespace, pod, container, status, image, and current when it differs), a summary line, then the reason
 * for each unresolvable container.
 */
export function auditJson(report: AuditReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

const NONE = '<none>';

export function summaryLine(s: AuditSummary): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return (
    `${plural(s.pods, 'pod')}, ${plural(s.containers, 'container')}: ` +
    `${s.pinned} pinned, ${s.unpinned} unpinned, ${s.drift} drift, ${s.unresolvable} unresolvable`
  );
}

function columns(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function row(pod: PodAudit, c: ContainerAudit): string[] {
  const differs = c.current !== null && c.current !== c.digest;
  return [
    pod.namespace ?? NONE,
    pod.name ?? NONE,
    c.name ?? NONE,
    c.status,
    c.image ?? NONE,
    differs ? String(c.current) : '',
  ];
}

function reason(pod: PodAudit, c: ContainerAudit): string {
  const where = `${pod.namespace === null ? '' : `${pod.namespace}/`}${pod.name ?? NONE}`;
  return `  ${where}${c.name === null ? '' : ` ${c.name}`}: ${c.error}`;
}

export function auditTable(report: AuditReport): string {
  const rows = [['NAMESPACE', 'POD', 'CONTAINER', 'STATUS', 'IMAGE', 'CURRENT']];
  const reasons: string[] = [];
  for (const pod of report.pods) {
    for (const c of pod.containers) {
      rows.push(row(pod, c));
      if (c.error !== null) reasons.push(reason(pod, c));
    }
  }
  const table = report.pods.length ? `${columns(rows)}\n` : 'No pods found.\n';
  const why = reasons.length ? `\nunresolvable:\n${reasons.join('\n')}\n` : '';
  return `${table}${summaryLine(report.summary)}\n${why}`;
}
