import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { FnPinnerError } from '../errors.js';
import type { Logger } from '../logging.js';
import { serialOf } from '../tls/pem.js';

/**
 * The HTTPS listener: TLS ≥ 1.2, bounded timeouts, certificate swaps without a restart, and a graceful
 * close that lets in-flight reviews answer (the API server would otherwise apply the failure policy).
 */

export interface ServingKeyPair {
  certPem: string;
  keyPem: string;
}

export interface HttpsServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  certs: ServingKeyPair;
  log: Logger;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

export interface RunningHttpsServer {
  server: Server;
  port: number;
  /** Serves new connections with `certs` (existing ones keep their session); throws TLS on a bad pair. */
  updateCerts(certs: ServingKeyPair): void;
  /**
   * Stops accepting connections, lets in-flight requests finish, closes idle keep-alive connections, and
   * destroys whatever is still open after `graceMs`. Resolves when every connection is gone.
   */
  close(graceMs: number): Promise<void>;
}

/** Node only checks headers/request timeouts on this tick (default 30 s, too coarse for 32/34 s limits). */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;
const MIN_TLS_VERSION = 'TLSv1.2';

export async function startHttpsServer(
  app: RequestListener,
  opts: HttpsServerOptions,
): Promise<RunningHttpsServer> {
  const headersTimeout = opts.headersTimeoutMs;
  const server = createServer(
    {
      cert: opts.certs.certPem,
      key: opts.certs.keyPem,
      minVersion: MIN_TLS_VERSION,
      // Go's net/http bounds the handshake by ReadHeaderTimeout too; Node's default is 120 s.
      handshakeTimeout: headersTimeout,
      requestTimeout: opts.requestTimeoutMs,
      headersTimeout,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    },
    app,
  );
  server.keepAliveTimeout = opts.keepAliveTimeoutMs;
  const drain = trackConnections(server);
  server.on('tlsClientError', (err, socket) => {
    // Usually a client that does not trust us (a stale caBundle) or a port scanner; worth seeing either way.
    opts.log.warn({ err: { message: err.message }, remote: socket.remoteAddress }, 'TLS handshake failed');
  });
  await listen(server, opts);
  const port = (server.address() as AddressInfo).port;
  opts.log.info(
    { host: opts.host, port, serialNumber: serialOf(opts.certs.certPem) },
    'HTTPS server listening',
  );
  return {
    server,
    port,
    updateCerts: (certs) => updateCerts(server, certs, opts.log),
    close: (graceMs) => drain.close(graceMs, opts.log),
  };
}

function listen(server: Server, opts: HttpsServerOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new FnPinnerError('LISTEN', `listen on ${opts.host}:${opts.port}: ${err.code ?? err.message}`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function updateCerts(server: Server, certs: ServingKeyPair, log: Logger): void {
  try {
    // minVersion again: the new context is built from these options (Node keeps it today, but say it).
    server.setSecureContext({ cert: certs.certPem, key: certs.keyPem, minVersion: MIN_TLS_VERSION });
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new FnPinnerError('TLS', `update serving certificate: ${detail}`, { cause: err });
  }
  log.info({ serialNumber: serialOf(certs.certPem) }, 'serving certificate updated');
}

interface Drain {
  close(graceMs: number, log: Logger): Promise<void>;
}

/**
 * Remembers every socket and in-flight response, so that closing can (a) mark in-flight responses
 * `Connection: close`, making their connections end right after the answer instead of idling for 90 s,
 * and (b) destroy everything once the grace period is over, including connections still mid-handshake,
 * which Node's closeAllConnections() does not know about.
 */
function trackConnections(server: Server): Drain {
  const sockets = new Set<Socket>();
  const inFlight = new Set<ServerResponse>();
  let closing: Promise<void> | undefined;

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // prepend: runs before the app, so the header is set before any handler can answer.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (closing !== undefined) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      // A response that started before the close kept its keep-alive header; its connection is idle now.
      if (closing !== undefined) server.closeIdleConnections();
    });
  });

  return {
    close(graceMs: number, log: Logger): Promise<void> {
      closing ??= new Promise((resolve) => {
        log.info({ inFlight: inFlight.size, connections: sockets.size, graceMs }, 'HTTPS server draining');
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
        const force = setTimeout(() => {
          log.warn(
            { inFlight: inFlight.size, connections: sockets.size },
            'grace period over; closing connections',
          );
          server.closeAllConnections();
          for (const socket of sockets) socket.destroy();
        }, graceMs);
        server.close(() => {
          clearTimeout(force);
          log.info('HTTPS server closed');
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
