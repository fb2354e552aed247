/**
 * Image pulls as the registry saw them: its access log (combined format, turned on with the `configure`
 * hook of startRegistry), split by client (the node's containerd, or anyone else, i.e. fn-pinner).
 */

export interface RequestCount {
  manifestGets: number;
  manifestHeads: number;
  blobGets: number;
}

export interface PullCount {
  node: RequestCount;
  other: RequestCount;
}

/** Turns the access log on (the support registries keep it off). */
export function withAccessLog(config: Record<string, unknown>): void {
  const log = (config.log ?? {}) as Record<string, unknown>;
  config.log = { ...log, accesslog: { disabled: false } };
}

const LINE = /"(GET|HEAD) \/v2\/(.+)\/(manifests|blobs)\/[^ ]+ HTTP\/[\d.]+" (\d{3}) .*"([^"]*)"$/;

export function countPulls(accessLog: string, repo: string): PullCount {
  const empty = (): RequestCount => ({ manifestGets: 0, manifestHeads: 0, blobGets: 0 });
  const count: PullCount = { node: empty(), other: empty() };
  for (const line of accessLog.split('\n')) {
    const m = LINE.exec(line);
    if (!m || m[2] !== repo || m[4] === '401') continue;
    const who = /containerd/.test(m[5]!) ? count.node : count.other;
    if (m[3] === 'blobs') {
      if (m[1] === 'GET') who.blobGets++;
    } else if (m[1] === 'GET') who.manifestGets++;
    else who.manifestHeads++;
  }
  return count;
}
