import { setTimeout as sleep } from 'node:timers/promises';

import { request } from 'undici';

import type { KubeJson, TestKube } from './kube.js';

/**
 * Every version a Secret goes through, from a watch on the real API server (admin token), resumed from
 * the last resourceVersion when the stream breaks, e.g. across an API server restart, so no version is
 * missed. Lets a fault test prove that nothing was lost or written wrongly in between, not only that the
 * end state is right.
 */
export interface SecretVersion {
  event: 'ADDED' | 'MODIFIED' | 'DELETED';
  resourceVersion: string;
  uid: string;
  type: string | undefined;
  /** The decoded .dockerconfigjson, if any. */
  content: string | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface SecretHistory {
  readonly versions: SecretVersion[];
  /** Times the watch was re-established after its stream broke. */
  readonly resumed: number;
  /** Watch streams the API server has accepted so far (the first one included). */
  readonly streams: number;
  /** Times the API server said the resourceVersion was too old (410): versions in between may be missing. */
  readonly gaps: number;
  stop(): Promise<void>;
}

function version(event: SecretVersion['event'], s: KubeJson): SecretVersion {
  const data = s.data?.['.dockerconfigjson'];
  return {
    event,
    resourceVersion: s.metadata.resourceVersion,
    uid: s.metadata.uid,
    type: s.type,
    content: data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8'),
    labels: s.metadata.labels ?? {},
    annotations: s.metadata.annotations ?? {},
  };
}

export function watchSecret(kube: TestKube, namespace: string, name: string): SecretHistory {
  const state = { versions: [] as SecretVersion[], resumed: 0, gaps: 0, streams: 0 };
  const abort = new AbortController();
  const selector = encodeURIComponent(`metadata.name=${name}`);
  const base = `/api/v1/namespaces/${namespace}/secrets?fieldSelector=${selector}`;
  let lastRv: string | undefined;

  const list = async (): Promise<void> => {
    const res = await kube.request('GET', base);
    if (res.status !== 200) throw new Error(`list secrets: HTTP ${res.status}`);
    for (const s of res.body.items) state.versions.push(version('ADDED', s));
    lastRv = res.body.metadata.resourceVersion;
  };

  /** One watch stream until it ends; false when the resourceVersion was too old. */
  const watch = async (): Promise<boolean> => {
    const res = await request(`${kube.server}${base}&watch=1&resourceVersion=${lastRv}`, {
      dispatcher: kube.dispatcher,
      headers: { authorization: `Bearer ${kube.adminToken}` },
      signal: abort.signal,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return res.statusCode !== 410;
    }
    state.streams++;
    let buffered = '';
    for await (const chunk of res.body) {
      buffered += (chunk as Buffer).toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const event = JSON.parse(buffered.slice(0, newline)) as { type: string; object: KubeJson };
        buffered = buffered.slice(newline + 1);
        if (event.type === 'ERROR') return event.object.code !== 410;
        if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') {
          state.versions.push(version(event.type, event.object));
          lastRv = event.object.metadata.resourceVersion;
        }
      }
    }
    return true;
  };

  const loop = (async () => {
    while (!abort.signal.aborted) {
      try {
        if (lastRv === undefined) await list();
        if (!(await watch())) {
          state.gaps++;
          lastRv = undefined;
        }
      } catch {
        // The API server is down or restarting: try again from the last version seen.
      }
      if (abort.signal.aborted) break;
      state.resumed++;
      await sleep(100);
    }
  })();

  return {
    get versions() {
      return state.versions;
    },
    get resumed() {
      return state.resumed;
    },
    get gaps() {
      return state.gaps;
    },
    get streams() {
      return state.streams;
    },
    async stop() {
      abort.abort();
      await loop;
    },
  };
}
