import { readFileSync } from 'node:fs';

import { Command, CommanderError } from 'commander';

import type { CliIo } from './io.js';
import { registerGenCerts } from './gen-certs.js';
import { registerMutate } from './mutate.js';
import { registerResolve } from './resolve.js';
import { registerServe } from './serve.js';

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
  registerResolve(program, io);
  registerMutate(program, io);
  registerServe(program, io);
  registerGenCerts(program, io);
  return program;
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
