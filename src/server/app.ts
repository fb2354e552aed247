import express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { AdmissionEndpoint, Readiness } from './types.js';

/**
 * The HTTP face of the webhook: decoding, limits and status codes only. What an AdmissionReview means is
 * the endpoint's business, and so is logging per review; this file logs HTTP-level failures only.
 */

/**
 * controller-runtime's maxRequestSize (pkg/webhook/admission/http.go): an AdmissionReview carries at most
 * two objects, `object` and `oldObject`, and the API server refuses object bodies over 3 MiB, so they take
 * at most 6 MiB; the rest of the review (userInfo, options, envelope) is far below 1 MiB. 3 + 3 + 1 = 7 MiB.
 */
export const MAX_ADMISSION_BODY_BYTES = 7 * 1024 * 1024;

export const MUTATE_PATH = '/mutate';

export interface AppDeps {
  endpoint: AdmissionEndpoint;
  readiness: Readiness;
  metrics: Metrics;
  log: Logger;
  /** Default MAX_ADMISSION_BODY_BYTES; smaller in tests. */
  bodyLimitBytes?: number;
}

/** Route labels are a fixed set, so requests for random paths cannot grow the metric's cardinality. */
const ROUTES = new Set([MUTATE_PATH, '/healthz', '/readyz', '/metrics']);

export function createApp(deps: AppDeps): express.Express {
  const limit = deps.bodyLimitBytes ?? MAX_ADMISSION_BODY_BYTES;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(countRequests(deps.metrics));

  app.post(
    MUTATE_PATH,
    requireJson,
    requireBody,
    // inflate: false, since the API server never compresses webhook requests and a compressed body would
    // be one more thing to bound. strict: only objects and arrays, as an AdmissionReview is an object.
    express.json({ limit, inflate: false, strict: true }),
    review(deps),
  );
  app.all(MUTATE_PATH, (_req, res) => {
    res.set('Allow', 'POST');
    sendError(res, { status: 405, code: 'BAD_REQUEST', message: `${MUTATE_PATH} only accepts POST` });
  });

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', readyz(deps));
  app.get('/metrics', metricsHandler(deps));

  app.use((req, res) => {
    sendError(res, { status: 404, code: 'BAD_REQUEST', message: `no route for ${req.method} ${req.path}` });
  });
  app.use(errorHandler(deps.log, limit));
  return app;
}

interface HttpError {
  status: number;
  code: ErrorCode;
  message: string;
}

/** Every error this layer answers is `{"error":{"code","message"}}`, so a caller can always parse it. */
function sendError(res: Response, err: HttpError): void {
  res.status(err.status).json({ error: { code: err.code, message: err.message } });
}

function countRequests(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('close', () => {
      const route = ROUTES.has(req.path) ? req.path : 'other';
      // A response that never finished means the client went away first.
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      metrics.httpRequests.inc({ route, status });
      if (route === MUTATE_PATH && req.method === 'POST') {
        metrics.admissionSeconds.observe({ status }, Number(process.hrtime.bigint() - start) / 1e9);
      }
    });
    next();
  };
}

/** `application/json`, parameters (charset) allowed; the API server always sends exactly that. */
function requireJson(req: Request, res: Response, next: NextFunction): void {
  const header = req.headers['content-type'];
  const mediaType = header?.split(';')[0]?.trim().toLowerCase();
  if (mediaType === 'application/json') return next();
  const got = header === undefined ? 'no Content-Type' : `Content-Type "${header}"`;
  sendError(res, { status: 415, code: 'BAD_REQUEST', message: `expected application/json, got ${got}` });
}

/** body-parser turns an empty body into `{}`; say what is wrong instead (controller-runtime does too). */
function requireBody(req: Request, res: Response, next: NextFunction): void {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (chunked || (length !== undefined && length !== '0')) return next();
  sendError(res, {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'empty request body; expected an AdmissionReview',
  });
}

function review(deps: AppDeps): RequestHandler {
  return async (req, res) => {
    let result: { status: number; body: unknown };
    try {
      result = await deps.endpoint.review(req.body);
    } catch (err) {
      deps.log.error({ err }, 'admission review threw');
      const message = `admission review failed: ${err instanceof Error ? err.message : String(err)}`;
      sendError(res, { status: 500, code: 'INTERNAL', message });
      return;
    }
    res.status(result.status).json(result.body);
  };
}

function readyz(deps: AppDeps): RequestHandler {
  return (_req, res) => {
    let reason: string | undefined;
    try {
      reason = deps.readiness.notReadyReason();
    } catch (err) {
      deps.log.error({ err }, 'readiness check threw');
      reason = 'readiness check failed';
    }
    res
      .status(reason === undefined ? 200 : 503)
      .type('text/plain')
      .send(reason ?? 'ok');
  };
}

function metricsHandler(deps: AppDeps): RequestHandler {
  return async (_req, res) => {
    const text = await deps.metrics.registry.metrics();
    res.set('Content-Type', deps.metrics.registry.contentType).send(text);
  };
}

/** body-parser's errors carry a `type`; anything else that reaches here is a bug, so 500 and a log line. */
function errorHandler(log: Logger, limit: number): express.ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const httpError = describeError(err, limit);
    if (httpError.status >= 500) log.error({ err, method: req.method, path: req.path }, 'request failed');
    else log.warn({ method: req.method, path: req.path, status: httpError.status }, httpError.message);
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    // Do not keep a connection that just sent something we refused to read in full.
    if (httpError.status === 413) res.set('Connection', 'close');
    sendError(res, httpError);
  };
}

interface BodyParserError {
  type?: string;
  status?: number;
  length?: number;
  message?: string;
}

function describeError(err: unknown, limit: number): HttpError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as BodyParserError;
  const detail = e.message ?? String(err);
  switch (e.type) {
    case 'entity.too.large': {
      const size = e.length === undefined ? 'the request body' : `the request body (${e.length} bytes)`;
      const limitText = `${limit}-byte (${(limit / 1024 / 1024).toFixed(1)} MiB) limit`;
      return { status: 413, code: 'TOO_LARGE', message: `${size} exceeds the ${limitText}` };
    }
    case 'entity.parse.failed':
      return { status: 400, code: 'BAD_REQUEST', message: `malformed JSON: ${detail}` };
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return { status: 415, code: 'BAD_REQUEST', message: detail };
    case 'request.aborted':
    case 'request.size.invalid':
      return { status: 400, code: 'BAD_REQUEST', message: detail };
    default:
      return { status: 500, code: 'INTERNAL', message: `internal error: ${detail}` };
  }
}
