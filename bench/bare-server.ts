/**
 * The baseline for bench/admission.ts: node:https with fn-pinner's serving certificate and the same TLS and
 * timeout settings as src/server/https.ts, reading each request body in full and answering with a constant
 * AdmissionReview (fn-pinner's own answer to the benchmark review, so the bytes on the wire match).
 *
 *   tsx bench/bare-server.ts PORT CERT_DIR BODY_FILE      (started by bench/admission-servers.ts)
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';

const [portArg, certDir, bodyFile] = process.argv.slice(2);
if (portArg === undefined || certDir === undefined || bodyFile === undefined) {
  process.stderr.write('usage: bare-server.ts PORT CERT_DIR BODY_FILE\n');
  process.exit(2);
}
const review = readFileSync(bodyFile);
const ok = Buffer.from('ok');

const server = createServer(
  {
    cert: readFileSync(join(certDir, 'tls.crt')),
    key: readFileSync(join(certDir, 'tls.key')),
    minVersion: 'TLSv1.2',
    handshakeTimeout: 32_000,
    requestTimeout: 34_000,
    headersTimeout: 32_000,
    connectionsCheckingInterval: 1_000,
  },
  (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = req.method === 'POST' ? review : ok;
      res.writeHead(200, {
        'Content-Type':
          req.method === 'POST' ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
        'Content-Length': body.length,
      });
      res.end(body);
    });
  },
);
server.keepAliveTimeout = 90_000;
server.listen(Number(portArg), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
