import type { Metrics } from '../src/metrics.js';
import type { ProxyRequestInfo } from '../test/support/proxy.js';

/** Registry requests by kind, as received by the counting proxy (or as counted by the client's metric). */
export interface Traffic {
  ping: number;
  manifestGet: number;
  manifestHead: number;
  blobGet: number;
  token: number;
  other: number;
  total: number;
}

export const NO_TRAFFIC: Traffic = {
  ping: 0,
  manifestGet: 0,
  manifestHead: 0,
  blobGet: 0,
  token: 0,
  other: 0,
  total: 0,
};

type Slot = Exclude<keyof Traffic, 'total'>;

function slotOf(kind: string, method: string): Slot {
  if (kind === 'ping') return 'ping';
  if (kind === 'token') return 'token';
  if (kind === 'manifest')
    return method === 'HEAD' ? 'manifestHead' : method === 'GET' ? 'manifestGet' : 'other';
  if (kind === 'blob' || kind === 'blob-redirect') return method === 'GET' ? 'blobGet' : 'other';
  return 'other';
}

/** The distribution API kind of a request path: `/v2/` ping, `/v2/<name>/manifests/<ref>`, `/v2/<name>/blobs/<digest>`. */
export function kindOfPath(path: string): string {
  const p = path.split('?')[0] ?? '';
  if (p === '/v2/' || p === '/v2') return 'ping';
  if (/^\/v2\/.+\/manifests\/[^/]+$/.test(p)) return 'manifest';
  if (/^\/v2\/.+\/blobs\/[^/]+$/.test(p)) return 'blob';
  if (/token/i.test(p)) return 'token';
  return 'other';
}

export function trafficOf(requests: readonly Pick<ProxyRequestInfo, 'method' | 'path'>[]): Traffic {
  const t = { ...NO_TRAFFIC };
  for (const r of requests) {
    t[slotOf(kindOfPath(r.path), r.method)]++;
    t.total++;
  }
  return t;
}

/** What the client says it sent: fn_pinner_registry_requests_total summed over registry and status. */
export async function trafficFromMetrics(metrics: Metrics): Promise<Traffic> {
  const t = { ...NO_TRAFFIC };
  for (const v of (await metrics.registryRequests.get()).values) {
    const kind = String(v.labels.kind ?? '');
    const method = String(v.labels.method ?? '');
    t[slotOf(kind, method)] += v.value;
    t.total += v.value;
  }
  return t;
}

export function addTraffic(a: Traffic, b: Traffic): Traffic {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof Traffic)[]) out[k] += b[k];
  return out;
}

export function sameTraffic(a: Traffic, b: Traffic): boolean {
  return (Object.keys(a) as (keyof Traffic)[]).every((k) => a[k] === b[k]);
}

/** `ping 1 · manifest GET 1 · blob GET 1` (zero kinds left out). */
export function describeTraffic(t: Traffic): string {
  const parts: string[] = [];
  if (t.ping) parts.push(`ping ${t.ping}`);
  if (t.token) parts.push(`token ${t.token}`);
  if (t.manifestHead) parts.push(`manifest HEAD ${t.manifestHead}`);
  if (t.manifestGet) parts.push(`manifest GET ${t.manifestGet}`);
  if (t.blobGet) parts.push(`blob GET ${t.blobGet}`);
  if (t.other) parts.push(`other ${t.other}`);
  return parts.length ? parts.join(' · ') : 'none';
}
