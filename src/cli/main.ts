import { readFileSync } from 'node:fs';

import { Command, CommanderError, InvalidArgumentError } from 'commander';

import { addSettings } from '../config/commander.js';
import type { RawOptions } from '../config/load.js';
import type { CliIo } from './io.js';

/**
 * The CLI's entry. Commands are registered here with their settings; what a command runs is imported only
 * when it runs, so `resolve` never loads the Kubernetes client or express (docs/benchmarks.md: CLI start-up).
 */

/** dist/cli/main.js and src/cli/main.ts both sit two levels below package.json. */
function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('fn-pinner')
    .version(version())
    .description('Pins KRM function pod images to digests, sets their commands and attaches a pull secret')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  const run = (exitCode: Promise<number>): Promise<void> =>
    exitCode.then((code) => void (io.exitCode = code));

  addSettings(
    program
      .command('resolve')
      .description("resolve an image's digest, entrypoint and cmd through the registry client")
      .argument('<image>', 'image reference, e.g. ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4')
      .option('--json', 'print one JSON object'),
    'resolve',
  ).action((image: string, opts: RawOptions) =>
    run(import('./resolve.js').then((m) => m.resolveCommand(image, opts, io))),
  );
  addSettings(
    program
      .command('mutate')
      .description(
        'apply the admission decision offline: pin the images of a Pod or List of Pods (JSON or YAML)',
      )
      .requiredOption('-f, --filename <file>', "file to read, or '-' for stdin"),
    'mutate',
  ).action((opts: RawOptions & { filename: string }) =>
    run(import('./mutate.js').then((m) => m.mutateCommand(opts, io))),
  );
  addAuditCommand(program, run, io);
  addSettings(
    program.command('serve').description('run the mutating admission webhook over HTTPS'),
    'serve',
  ).action((opts: RawOptions) => run(import('./serve.js').then((m) => m.serveCommand(opts, io))));
  addSettings(
    program
      .command('gen-certs')
      .description(
        "write ca.crt, tls.crt and tls.key for the webhook's Service and print the base64 caBundle",
      ),
    'gen-certs',
  ).action((opts: RawOptions) => run(import('./gen-certs.js').then((m) => m.genCertsCommand(opts, io))));
  return program;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const FAIL_ON = ['unpinned', 'drift', 'unresolvable'];

function failOn(value: string, previous: string[] | undefined): string[] {
  if (!FAIL_ON.includes(value)) throw new InvalidArgumentError(`want ${FAIL_ON.join(', ')}`);
  return collect(value, previous);
}

/** Its own options are plain options (what this run looks at, prints and fails on), as resolve's --json is. */
function addAuditCommand(program: Command, run: (code: Promise<number>) => Promise<void>, io: CliIo): void {
  addSettings(
    program
      .command('audit')
      .description('classify pods: pinned, unpinned, drift (the tag moved since) or unresolvable')
      .option('-n, --namespace <ns>', 'namespace to list (repeatable; default porch-fn-system)', collect)
      .option('-A, --all-namespaces', 'list the pods of every namespace')
      .option('-l, --selector <selector>', 'label selector, passed to the API as it is')
      .option('-f, --filename <file>', "read pods from a file ('-' for stdin) instead of the cluster")
      .option('--json', 'print one JSON object')
      .option(
        '--fail-on <status>',
        'exit 1 if a container is unpinned, drift or unresolvable (repeatable)',
        failOn,
      )
      .option('--no-drift', 'resolve no tags: every container with a digest is pinned'),
    'audit',
  ).action((opts: RawOptions) => run(import('./audit.js').then((m) => m.auditCommand(opts, io))));
}

/** Runs the CLI; resolves to the process exit code. */
export async function run(argv: string[], io?: Partial<CliIo>): Promise<number> {
  const full: CliIo = {
    env: process.env,
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    stderrStream: process.stderr,
    exitCode: 0,
    ...io,
  };
  try {
    await buildProgram(full).parseAsync(argv);
    return full.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    full.stderr(`fn-pinner: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
