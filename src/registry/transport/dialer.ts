import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';

import { buildConnector } from 'undici';

import { FnPinnerError } from '../../errors.js';
import { unbracket } from '../../reference/host.js';
import type { AccessPolicy } from './policy.js';
import { policyError } from './policy.js';

type LookupCallback = (err: Error | null, address: string | LookupAddress[], family?: number) => void;

/**
 * Resolves like dns.lookup, then refuses if any address the name resolves to is denied: a name that
 * points at both a public address and 169.254.169.254 is hostile, whichever one the socket would pick.
 */
function guardedLookup(policy: AccessPolicy, port: string, allowedByName: boolean) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      for (const a of addresses) {
        const why = policy.checkAddress(a.address, port, allowedByName);
        if (why) return callback(policyError('dial', `${hostname} (${a.address}):${port}`, why), []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new FnPinnerError('NETWORK', `dial ${hostname}: no address`), []);
      callback(null, first.address, first.family);
    });
  };
}

/**
 * The undici `connect` hook every registry connection goes through. The name is checked before a socket
 * exists; a name that is not an IP literal is resolved by guardedLookup, which checks each address before
 * the socket connects to it. IP literals skip DNS and were checked as names.
 */
export function guardedConnector(
  policy: AccessPolicy,
  options: buildConnector.BuildOptions,
): buildConnector.connector {
  return (opts, callback) => {
    const port = opts.port || (opts.protocol === 'http:' ? '80' : '443');
    const verdict = policy.checkName(unbracket(opts.hostname), port);
    if (verdict.denied !== undefined) {
      callback(policyError('dial', `${opts.hostname}:${port}`, verdict.denied), null);
      return;
    }
    const lookup = guardedLookup(policy, port, verdict.allowedByName);
    buildConnector({ ...options, lookup })(opts, callback);
  };
}
