import { FnPinnerError } from '../../errors.js';
import { listSome } from '../../util/text.js';
import type { Credential } from './credentials.js';

/** A denial names at most this many credentials and places; the rest are counted. */
const MAX_LISTED = 8;

/**
 * The end of a failed call's message: which credentials were tried and where else the keychain looked,
 * by source (file and key, Secret name, provider), never by value. An authentication failure says all of
 * it, so that a denied pod's owner can tell a missing credential from a rejected one; any other failure
 * after rejections keeps the short form.
 */
export function describeAttempts(
  err: unknown,
  attempt: { rejected: string[]; cred: Credential | undefined; consulted: string[] },
): unknown {
  if (!(err instanceof FnPinnerError)) return err;
  const { rejected, cred, consulted } = attempt;
  let suffix: string;
  if (err.code === 'UNAUTHORIZED' || err.code === 'DENIED') {
    const tried = cred ? [...rejected, cred.source] : rejected;
    const what = tried.length
      ? `credentials tried: ${listSome(tried, MAX_LISTED)}`
      : 'no credentials matched, tried anonymously';
    suffix = consulted.length ? `${what}; looked in: ${listSome(consulted, MAX_LISTED)}` : what;
  } else if (rejected.length) {
    suffix = `also rejected: ${rejected.join(', ')}`;
  } else {
    return err;
  }
  return new FnPinnerError(err.code, `${err.message} (${suffix})`, {
    cause: err,
    status: err.status,
    temporary: err.temporary,
  });
}
