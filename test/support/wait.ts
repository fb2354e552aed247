import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` until it gives a value, and says how long that took. Event-free waits on real peers (an API
 * server, a registry, a process) take a generous `timeoutMs`: the figure is reported, never asserted tight.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 25,
): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  for (;;) {
    const value = await probe();
    const ms = performance.now() - started;
    if (value !== undefined) return { value, ms };
    if (ms > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
