import type { RequestListener } from 'node:http';

import express from 'express';
import type { RequestHandler, Response } from 'express';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { createMutateHandler } from './mutate-handler.js';
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

/** POST /mutate goes to the lean handler; every other request goes to express. */
export function createApp(deps: AppDeps): RequestListener {
  const limit = deps.bodyLimitBytes ?? MAX_ADMISSION_BODY_BYTES;
  const mutate = createMutateHandler({
    endpoint: deps.endpoint,
    metrics: deps.metrics,
    log: deps.log,
    limit,
  });
  const app = createExpressApp(deps);
  return (req, res) => {
    const url = req.url ?? '';
    const isMutate = url === MUTATE_PATH || url.startsWith(`${MUTATE_PATH}?`);
    if (isMutate && req.method === 'POST') mutate(req, res);
    else app(req, res);
  };
}

function createExpressApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(countRequests(deps.metrics));

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
  app.use(errorHandler(deps.log));
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
  // POST /mutate never reaches express (createApp routes it to the lean handler, which counts it itself).
  return (req, res, next) => {
    res.once('close', () => {
      const route = ROUTES.has(req.path) ? req.path : 'other';
      // A response that never finished means the client went away first.
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      metrics.httpRequests.inc({ route, status });
    });
    next();
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

/** Anything thrown on the express side is a bug: 500, and a log line. */
function errorHandler(log: Logger): express.ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    log.error({ err, method: req.method, path: req.path }, 'request failed');
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    const detail = err instanceof Error ? err.message : String(err);
    sendError(res, { status: 500, code: 'INTERNAL', message: `internal error: ${detail}` });
  };
}
