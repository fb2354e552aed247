import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { Agent, request } from 'undici';

import type { ClusterApis } from '../../src/app/cluster.js';
import { startWebhook } from '../../src/app/webhook.js';
import type { RunningWebhook } from '../../src/app/webhook.js';
import { loadConfig } from '../../src/config/load.js';
import type { RawOptions } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { captured } from './leak-scan.js';

export interface TestWebhook extends RunningWebhook {
  url: string;
  certDir: string;
  dispatcher: Agent;
  /** Parsed pino lines written so far. */
  logs: Array<Record<string, unknown>>;
  post(body: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** `fn-pinner serve` in-process on 127.0.0.1 with a fresh cert dir; flags as the CLI would pass them. */
export async function startTestWebhook(
  opts: RawOptions = {},
  overrides: { apis?: ClusterApis } = {},
): Promise<TestWebhook> {
  const certDir = mkdtempSync(join(tmpdir(), 'fn-pinner-certs-'));
  const home = mkdtempSync(join(tmpdir(), 'fn-pinner-home-'));
  const config = loadConfig(
    'serve',
    { host: '127.0.0.1', port: '0', certDir, logLevel: 'info', ...opts },
    { HOME: home },
  );
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      cb();
    },
  });
  const webhook = await startWebhook(config, createLogger(config.log, sink), overrides);
  const dispatcher = new Agent({ connect: { ca: webhook.caPem } });
  const url = `https://127.0.0.1:${webhook.port}`;
  const answers: unknown[] = [];
  const endpoints: Record<string, string> = {};
  const where = `fn-pinner serve on :${webhook.port}`;
  captured(`${where} logs`, () => logs);
  captured(`${where} AdmissionReview answers`, () => answers);
  captured(`${where} /metrics and /readyz at stop`, () => endpoints);
  return {
    ...webhook,
    url,
    certDir,
    dispatcher,
    logs,
    async post(body: unknown) {
      const res = await request(`${url}/mutate?timeout=10s`, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const answer = { status: res.statusCode, body: await res.body.json() };
      answers.push(answer.body);
      return answer;
    },
    async stop() {
      // What a scrape and a probe would have shown at the end, for the leak scan.
      for (const path of ['/metrics', '/readyz']) {
        endpoints[path] = await get(`${url}${path}`, dispatcher);
      }
      await dispatcher.close();
      await webhook.close(1000);
      rmSync(home, { recursive: true, force: true });
      rmSync(certDir, { recursive: true, force: true });
    },
  };
}

async function get(url: string, dispatcher: Agent): Promise<string> {
  try {
    const res = await request(url, { dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000 });
    return await res.body.text();
  } catch (err) {
    return `(no answer: ${(err as Error).message})`;
  }
}

/** GET /readyz of a test webhook: its status and the reason it gives. */
export async function readyz(webhook: TestWebhook): Promise<{ status: number; body: string }> {
  const res = await request(`${webhook.url}/readyz`, { dispatcher: webhook.dispatcher });
  return { status: res.statusCode, body: await res.body.text() };
}
