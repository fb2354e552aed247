import { jest } from '@jest/globals';
import * as dns from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';

type Callback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * Makes the named registry hosts resolve to 127.0.0.1 for the code under test, as an /etc/hosts entry
 * would, without touching the machine: node:dns's `lookup` is replaced in this test file's module registry
 * (registry connections resolve names through it, in src/registry/transport/dialer.ts). Call it before
 * importing any src/ module that dials, and import those with `await import()` afterwards. The access
 * policy still checks the loopback address the names map to.
 */
export function mapHostsToLoopback(names: readonly string[]): void {
  const mapped = new Set(names.map((n) => n.toLowerCase()));
  const real = dns.lookup;
  const lookup = (hostname: string, options: LookupOptions | Callback, callback?: Callback): void => {
    const cb = (typeof options === 'function' ? options : callback) as Callback;
    const opts = typeof options === 'function' ? {} : options;
    if (!mapped.has(hostname.toLowerCase())) {
      (real as (h: string, o: LookupOptions, c: Callback) => void)(hostname, opts, cb);
      return;
    }
    process.nextTick(() =>
      opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4),
    );
  };
  jest.unstable_mockModule('node:dns', () => ({ ...dns, default: { ...dns, lookup }, lookup }));
}
