import type { Command } from 'commander';

import { SERVE_SETTINGS } from '../config.js';
import { caBundle, ensureServingCerts } from '../tls/serving.js';
import type { CliIo } from './io.js';

export function registerGenCerts(program: Command, io: CliIo): void {
  const defaults = Object.fromEntries(SERVE_SETTINGS.map((s) => [s.key, s.default ?? '']));
  program
    .command('gen-certs')
    .description("write ca.crt, tls.crt and tls.key for the webhook's Service and print the base64 caBundle")
    .option('--cert-dir <dir>', 'output directory', defaults.certDir)
    .option('--service-name <name>', "the webhook Service's name", defaults.serviceName)
    .option('--service-namespace <ns>', "the webhook Service's namespace", defaults.serviceNamespace)
    .action((opts: { certDir: string; serviceName: string; serviceNamespace: string }) => {
      try {
        const result = ensureServingCerts({
          dir: opts.certDir,
          service: opts.serviceName,
          namespace: opts.serviceNamespace,
          generate: true,
        });
        io.stderr(
          `fn-pinner gen-certs: ${result.generated ? 'wrote' : 'kept'} ${opts.certDir}/{ca.crt,tls.crt,tls.key}: ${result.reason}\n`,
        );
        // stdout carries only the caBundle, so `caBundle=$(fn-pinner gen-certs)` works.
        io.stdout(`${caBundle(result.certs.caPem)}\n`);
      } catch (err) {
        io.stderr(`fn-pinner gen-certs: ${(err as Error).message}\n`);
        io.exitCode = 1;
      }
    });
}
