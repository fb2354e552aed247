import { FnPinnerError } from '../errors.js';

/** A counting semaphore whose waiters give up when their signal aborts (their deadline passed). */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async acquire(signal: AbortSignal, what: string): Promise<() => void> {
    if (this.active < this.limit) return this.grant();
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new FnPinnerError('TIMEOUT', `${what}: deadline exceeded waiting for a free registry connection`),
        );
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(wake);
    });
    return this.grant();
  }

  get inFlight(): number {
    return this.active;
  }

  private grant(): () => void {
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.waiters.shift()?.();
    };
  }
}
