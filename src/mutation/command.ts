import { FnPinnerError } from '../errors.js';
import type { Container } from './types.js';

export interface CommandPlan {
  command: string[];
  /** undefined: remove `args` (or leave it absent). */
  args: string[] | undefined;
}

/**
 * The argv the container runtime runs, under Kubernetes rules: `command` replaces ENTRYPOINT, `args`
 * replaces CMD, and a `command` without `args` drops CMD.
 * https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/#notes
 */
export function runtimeArgv(
  container: Pick<Container, 'command' | 'args'>,
  entrypoint: string[],
  cmd: string[],
): string[] {
  if (container.command?.length) return [...container.command, ...(container.args ?? [])];
  return [...entrypoint, ...(container.args?.length ? container.args : cmd)];
}

/**
 * command/args for a container that has no `command`, such that command + args = prefix + the argv the
 * runtime would have run before the mutation. ENTRYPOINT goes to `command` and CMD (or the pod's args)
 * stays in `args`, so a reader still sees which part came from where; with no ENTRYPOINT, all of it
 * goes to `command`.
 */
export function planCommand(
  container: Container,
  image: { entrypoint: string[]; cmd: string[] },
  prefix: string[],
  what: string,
): CommandPlan {
  const argv = runtimeArgv(container, image.entrypoint, image.cmd);
  if (argv.length === 0) {
    throw new FnPinnerError(
      'NO_COMMAND',
      `${what}: the image has no Entrypoint and no Cmd and the container sets no args, so there is nothing to run`,
    );
  }
  if (image.entrypoint.length === 0) return { command: [...prefix, ...argv], args: undefined };
  const args = container.args?.length ? container.args : image.cmd;
  return { command: [...prefix, ...image.entrypoint], args: args.length ? [...args] : undefined };
}

/** True when the runtime would ignore the image's ENTRYPOINT anyway. */
export function hasCommand(container: Container): boolean {
  return Array.isArray(container.command) && container.command.length > 0;
}
