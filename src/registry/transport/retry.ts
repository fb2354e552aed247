import { setTimeout as sleep } from 'node:timers/promises';

import { FnPinnerError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import { TEMPORARY_STATUSES, retryAfterMs } from '../errors.js';
import type { HttpRequest, HttpResponse, RoundTripper } from './types.js';
import { redactUrl } from './types.js';

export interface RetryOptions {
  maxAttempts: number;
  retryBaseDelayMs: number;
}

/**
 * Retries temporary failures: 5xx, 408, 429 (honouring Retry-After) and connection failures, never past
 * the request's deadline and never more than `maxAttempts` times.
 */
export class RetryTransport implements RoundTripper {
  constructor(
    private readonly inner: RoundTripper,
    private readonly options: RetryOptions,
    private readonly log: Logger,
  ) {}

  async send(req: HttpRequest): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse | undefined;
      try {
        res = await this.inner.send(req);
      } catch (err) {
        if (!(err instanceof FnPinnerError) || !err.temporary || attempt >= this.options.maxAttempts)
          throw err;
        await this.backoff(req, attempt, { err });
        continue;
      }
      if (!TEMPORARY_STATUSES.has(res.status) || attempt >= this.options.maxAttempts) return res;
      await this.backoff(req, attempt, { res });
    }
  }

  private async backoff(
    req: HttpRequest,
    attempt: number,
    failure: { res?: HttpResponse; err?: FnPinnerError },
  ): Promise<void> {
    const now = Date.now();
    const hinted = failure.res ? retryAfterMs(failure.res, now) : undefined;
    const wait = hinted ?? this.options.retryBaseDelayMs * (2 ** (attempt - 1) + Math.random());
    if (now + wait >= req.deadline) throw pastDeadline(req, wait, failure);
    this.log.debug(
      { url: redactUrl(req.url), attempt, waitMs: Math.round(wait), status: failure.res?.status },
      'registry retry',
    );
    await sleep(wait, undefined, { signal: req.signal }).catch(() => undefined);
  }
}

function pastDeadline(
  req: HttpRequest,
  wait: number,
  { res, err }: { res?: HttpResponse; err?: FnPinnerError },
): FnPinnerError {
  const subject = `${req.what}: ${req.method} ${redactUrl(req.url)}: `;
  const why = res ? `${res.status}` : detailOf(subject, err);
  const code = res?.status === 429 ? 'TOO_MANY_REQUESTS' : (err?.code ?? 'UNAVAILABLE');
  return new FnPinnerError(
    code,
    `${subject}${why}; retrying after ${Math.round(wait)} ms would pass the deadline`,
    { cause: err, status: res?.status, temporary: true },
  );
}

/** The error's own words: the layers below already name the request, so it is said once, not twice. */
function detailOf(subject: string, err: FnPinnerError | undefined): string {
  if (!err) return 'error';
  return err.message.startsWith(subject) ? err.message.slice(subject.length) : err.message;
}
