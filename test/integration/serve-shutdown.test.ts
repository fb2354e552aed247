import { afterAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

import { Agent, request } from 'undici';

import { SHUTDOWN_TUNABLES } from '../../src/config/tunables.js';
import { startServeProcess } from '../support/serve-process.js';
import type { ServeProcess } from '../support/serve-process.js';

/**
 * `fn-pinner serve` as a process receiving SIGTERM while clients hold keep-alive connections that carry no
 * request: one that carried a request (as the API server's pool keeps them), one that never did (a client's
 * spare), and one still before its TLS handshake. They are closed as soon as the not-ready window ends, so
 * the process exits then rather than after the drain grace period (SHUTDOWN_TUNABLES). Answers given in
 * the window close their connections.
 */
let server: ServeProcess | undefined;

afterAll(async () => {
  await server?.cleanup();
});

describe('fn-pinner serve on SIGTERM', () => {
  it('closes connections that carry no request when the not-ready window ends, and exits without waiting out the grace period', async () => {
    const s = (server = await startServeProcess([]));
    const agent = new Agent({ connect: { rejectUnauthorized: false }, keepAliveTimeout: 600_000 });
    const used = await request(`${s.url}/healthz`, { dispatcher: agent });
    expect(await used.body.text()).toBe('ok'); // its connection stays in the agent's pool
    const spare = tlsConnect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false });
    await once(spare, 'secureConnect');
    const early = netConnect({ host: '127.0.0.1', port: s.port });
    await once(early, 'connect');

    const terminated = s.terminate();
    await s.waitForLog((l) => l.msg === 'shutting down: draining in-flight reviews');
    // Still answering during the not-ready window, so the API server can move away first; each answer
    // now closes its connection, so the client's next request opens a new one (to another endpoint).
    const probe = await s.readyz();
    expect(probe).toEqual({ status: 503, body: 'shutting down' });
    const late = new Agent({ connect: { rejectUnauthorized: false } });
    const answer = await request(`${s.url}/healthz`, { dispatcher: late });
    expect(await answer.body.text()).toBe('ok');
    expect(answer.headers.connection).toBe('close');
    const spareClosed = once(spare, 'close');
    const earlyClosed = once(early, 'close');
    const draining = await s.waitForLog((l) => l.msg === 'HTTPS server draining');
    expect(draining).toMatchObject({ inFlight: 0, graceMs: SHUTDOWN_TUNABLES.drainMs });
    await Promise.all([spareClosed, earlyClosed]);
    const { code, ms } = await terminated;
    console.log(
      `idle exit after SIGTERM: ${Math.round(ms)} ms (not-ready window ${SHUTDOWN_TUNABLES.notReadyMs} ms, ` +
        `drain grace ${SHUTDOWN_TUNABLES.drainMs} ms)`,
    );
    expect(code).toBe(0);
    const messages = s.logs.map((l) => l.msg);
    expect(messages).toContain('HTTPS server closed');
    expect(messages).toContain('stopped');
    expect(messages).not.toContain('grace period over; closing connections');
    await Promise.all([agent.close(), late.close()]);
  });
});
