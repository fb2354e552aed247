import type { IncomingMessage, ServerResponse } from 'node:http';

import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { AdmissionEndpoint } from './types.js';

/**
 * POST /mutate without express: this is the hot path (every pod creation waits on it), and express's
 * router, body-parser and per-request middleware cost about four times the admission decision itself on a
 * cache hit (docs/benchmarks.md). Everything else (health, readiness, metrics, errors for other routes)
 * stays on express. The behaviour matches what body-parser did: same limits, same status codes.
 */
export interface MutateHandlerDeps {
  endpoint: AdmissionEndpoint;
  metrics: Metrics;
  log: Logger;
  limit: number;
}

interface HttpError {
  status: number;
  code: ErrorCode;
  message: string;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(res: ServerResponse, err: HttpError): void {
  send(res, err.status, { error: { code: err.code, message: err.message } });
}

/** Refusals decided from the headers alone, before reading a byte of the body. */
function checkHeaders(req: IncomingMessage, limit: number): HttpError | undefined {
  return checkContentType(req) ?? checkLength(req, limit);
}

function checkContentType(req: IncomingMessage): HttpError | undefined {
  const type = req.headers['content-type'];
  if (type?.split(';')[0]?.trim().toLowerCase() !== 'application/json') {
    const got = type === undefined ? 'no Content-Type' : `Content-Type "${type}"`;
    return { status: 415, code: 'BAD_REQUEST', message: `expected application/json, got ${got}` };
  }
  const encoding = req.headers['content-encoding'];
  // The API server never compresses webhook requests; a compressed body would be one more thing to bound.
  if (encoding !== undefined && encoding !== 'identity') {
    return { status: 415, code: 'BAD_REQUEST', message: `unsupported content encoding "${encoding}"` };
  }
  return undefined;
}

function checkLength(req: IncomingMessage, limit: number): HttpError | undefined {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) {
    return { status: 400, code: 'BAD_REQUEST', message: 'empty request body; expected an AdmissionReview' };
  }
  if (length !== undefined && Number(length) > limit) return tooLarge(Number(length), limit);
  return undefined;
}

function tooLarge(size: number | undefined, limit: number): HttpError {
  const what = size === undefined ? 'the request body' : `the request body (${size} bytes)`;
  const message = `${what} exceeds the ${limit}-byte (${(limit / 1024 / 1024).toFixed(1)} MiB) limit`;
  return { status: 413, code: 'TOO_LARGE', message };
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | HttpError> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        resolve(tooLarge(undefined, limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

function parse(body: Buffer): unknown {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return {
      error: { status: 400, code: 'BAD_REQUEST', message: `malformed JSON: ${(err as Error).message}` },
    };
  }
  // As body-parser's strict mode: an AdmissionReview is an object.
  if (typeof value !== 'object' || value === null) {
    return { error: { status: 400, code: 'BAD_REQUEST', message: 'malformed JSON: expected an object' } };
  }
  return { value };
}

export function createMutateHandler(
  deps: MutateHandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const seconds = deps.metrics.admissionSeconds;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const refused = checkHeaders(req, deps.limit);
    const body = refused ?? (await readBody(req, deps.limit));
    if (!Buffer.isBuffer(body)) {
      // Do not keep a connection that sent something we refused to read in full.
      if (body.status === 413) res.setHeader('connection', 'close');
      sendError(res, body);
      return body.status;
    }
    const parsed = parse(body) as { value?: unknown; error?: HttpError };
    if (parsed.error) {
      sendError(res, parsed.error);
      return parsed.error.status;
    }
    const result = await deps.endpoint.review(parsed.value);
    send(res, result.status, result.body);
    return result.status;
  };
  return (req, res) => {
    const start = process.hrtime.bigint();
    handle(req, res)
      .catch((err: unknown) => {
        deps.log.error({ err }, 'admission review threw');
        if (!res.headersSent) {
          const message = `admission review failed: ${err instanceof Error ? err.message : String(err)}`;
          sendError(res, { status: 500, code: 'INTERNAL', message });
        }
        return 500;
      })
      .then((status) => {
        const label = String(status);
        deps.metrics.httpRequests.inc({ route: '/mutate', status: label });
        seconds.observe({ status: label }, Number(process.hrtime.bigint() - start) / 1e9);
      })
      .catch(() => undefined);
  };
}
