import { loadConfig } from '../config/load.js';
import type { RawOptions } from '../config/load.js';
import { caBundle } from '../tls/ca-bundle.js';
import { ensureServingCerts } from '../tls/serving.js';
import type { CliIo } from './io.js';
import { prefixed } from './io.js';

export function genCertsCommand(opts: RawOptions, io: CliIo): Promise<number> {
  try {
    const { server } = loadConfig('gen-certs', opts, io.env);
    const result = ensureServingCerts({
      dir: server.certDir,
      service: server.serviceName,
      namespace: server.serviceNamespace,
      generate: true,
    });
    io.stderr(
      `fn-pinner gen-certs: ${result.generated ? 'wrote' : 'kept'} ${server.certDir}/{ca.crt,tls.crt,tls.key}: ${result.reason}\n`,
    );
    // stdout carries only the caBundle, so `caBundle=$(fn-pinner gen-certs)` works.
    io.stdout(`${caBundle(result.certs.caPem)}\n`);
    return Promise.resolve(0);
  } catch (err) {
    io.stderr(prefixed('gen-certs', err));
    return Promise.resolve(1);
  }
}
