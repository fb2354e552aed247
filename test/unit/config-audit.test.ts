import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from '@jest/globals';

import { loadConfig } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'fn-pinner-config-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const problems = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('no problem reported');
};

describe('configuration of audit, the drift gauge and the warm-up', () => {
  it('audit takes --docker-config and --ca-file as resolve does, and defaults to log level error', () => {
    const config = write('config.json', '{"auths":{}}');
    const c = loadConfig('audit', { dockerConfig: config }, { HOME: dir });
    expect(c.inputs.customDockerConfig).toBe(config);
    expect(c.log.level).toBe('error');
    expect(problems(() => loadConfig('audit', { caFile: join(dir, 'nope.pem') }, {}))).toContain(
      `--ca-file (FN_PINNER_CA_FILE): cannot read ${join(dir, 'nope.pem')}: ENOENT`,
    );
  });

  it('audit reads KUBECONFIG like serve', () => {
    expect(loadConfig('audit', {}, { KUBECONFIG: '/k' }).cluster.kubeconfig).toBe('/k');
  });

  it('the drift check is off by default and needs a way to reach the API when on', () => {
    expect(loadConfig('serve', {}, {}).drift.intervalMs).toBe(0);
    expect(problems(() => loadConfig('serve', { driftInterval: '60' }, {}))).toContain(
      '--drift-interval (FN_PINNER_DRIFT_INTERVAL): lists pods through the Kubernetes API',
    );
    expect(
      loadConfig('serve', { driftInterval: '60' }, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }).drift,
    ).toEqual({
      intervalMs: 60_000,
    });
  });

  it('reads the warm-up list at start: one image per line, comments and blank lines skipped', () => {
    const file = write(
      'warm.txt',
      '# catalog\nghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1\n\n  busybox:1.36  \n',
    );
    const c = loadConfig('serve', { warmImages: file }, {});
    expect(c.inputs.warmImages).toEqual([
      'ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1',
      'busybox:1.36',
    ]);
    expect(c.warm.timeoutMs).toBe(30_000);
  });

  it('reports every bad line of the warm-up list by number, and a missing file', () => {
    const file = write('bad.txt', 'busybox:1.36\nNot/A/Ref\nalso bad:\n');
    const message = problems(() => loadConfig('serve', { warmImages: file }, {}));
    expect(message).toContain(
      `--warm-images (FN_PINNER_WARM_IMAGES): ${file} line 2: parse image reference "Not/A/Ref"`,
    );
    expect(message).toContain(`${file} line 3: parse image reference "also bad:"`);
    expect(problems(() => loadConfig('serve', { warmImages: join(dir, 'none.txt') }, {}))).toContain(
      `cannot read ${join(dir, 'none.txt')}: ENOENT`,
    );
  });
});
