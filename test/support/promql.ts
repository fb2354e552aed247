import { Registry, collectDefaultMetrics } from 'prom-client';

import { createMetrics } from '../../src/metrics.js';

/**
 * The metric names a PromQL expression selects: what is left once strings, label matchers, ranges,
 * grouping clauses, numbers, keywords and function calls are taken out. Enough for the expressions of our
 * rules and dashboard (it is checked against known answers in test/unit/monitoring.test.ts); not a parser.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b(?:group_left|group_right)\b/g, ' ')
    .replace(/\boffset\s+-?\w+/g, ' ')
    .replace(/\$\w+/g, ' ')
    .replace(/(?<![\w:.])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w:])/gi, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names].sort();
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'inf', 'nan']);

/** Series Prometheus itself writes for every target. */
const PROMETHEUS_SERIES = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped'];

/**
 * Every series name `fn-pinner serve` exports (its own metrics and prom-client's default process and
 * Node.js metrics), as Prometheus stores them: a histogram is its _bucket, _sum and _count series.
 */
export async function exportedSeries(): Promise<Set<string>> {
  const { registry } = createMetrics(new Registry());
  collectDefaultMetrics({ register: registry });
  const names = new Set<string>(PROMETHEUS_SERIES);
  for (const metric of await registry.getMetricsAsJSON()) {
    const type = String(metric.type);
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of ['_sum', '_count']) names.add(`${metric.name}${suffix}`);
      names.add(type === 'histogram' ? `${metric.name}_bucket` : metric.name);
    } else {
      names.add(metric.name);
    }
  }
  return names;
}
