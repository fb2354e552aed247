import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from 'node:tls';

import { getManifest, imagePusher } from '../support/images.js';
import { remoteRegistry, startHostWebhook } from '../support/node/cluster.js';
import type { ClusterSpec } from '../support/node/cluster.js';
import { startRegistry } from '../support/registry.js';
import type { TestRegistry } from '../support/registry.js';

/**
 * The parts of the node suite's cluster mode (test/kind/run.sh; it needs Docker and never ran here) that can
 * run on loopback: the suite's own webhook listening where a cluster reaches this machine (127.0.0.2
 * stands in for the kind network's gateway), and a registry someone else runs, seen through TestRegistry.
 */
let local: TestRegistry;

beforeAll(async () => {
  local = await startRegistry('tls-basic');
});

afterAll(async () => {
  await local?.stop();
});

describe('cluster mode', () => {
  it('serves the in-process webhook on the host address with a certificate that names it', async () => {
    const webhook = await startHostWebhook({ hostAddress: '127.0.0.2' } as ClusterSpec, {});
    try {
      expect(webhook.url).toBe(`https://127.0.0.2:${webhook.port}`);
      const sans = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.2', port: webhook.port, ca: webhook.caPem }, () => {
          resolve(socket.getPeerCertificate().subjectaltname ?? '');
          socket.end();
        });
        socket.once('error', reject);
      });
      expect(sans).toContain('IP Address:127.0.0.2');
    } finally {
      await webhook.stop();
    }
  });

  it('pushes to and reads from a registry given by host, CA and credentials, and reads its log by command', async () => {
    const remote = remoteRegistry('tls-basic', local.host, {
      caPem: local.caPem!,
      username: local.username,
      password: local.password,
      logsCommand: ['sh', '-c', 'echo "a log line"'],
    });
    try {
      const pushed = await imagePusher(remote).pushImage('remote/app', 'v1', { entrypoint: ['/app'] });
      expect((await getManifest(local, 'remote/app', 'v1')).digest).toBe(pushed.digest);
      expect(remote.url).toBe(`https://${local.host}`);
      expect(remote.logs()).toBe('a log line\n');
    } finally {
      await remote.stop();
    }
  });
});
