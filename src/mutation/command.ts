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
 * Kubernetes expands `$(VAR)` in a container's command and args from its environment and turns `$$` into
 * `$`; the runtime does neither for the image's own Entrypoint and Cmd. A string copied from the image
 * into command/args therefore has every `$` doubled, so that the expansion gives back the string itself.
 * https://kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables/
 */
export function escapeImageString(value: string): string {
  return value.replaceAll('$', '$$$$');
}

function fromImage(strings: string[]): string[] {
  return strings.map(escapeImageString);
}

/**
 * command/args for a container that has no `command`, such that command + args = prefix + the argv the
 * runtime would have run before the mutation, once Kubernetes has expanded them. ENTRYPOINT goes to
 * `command` and CMD (or the pod's args) stays in `args`, so a reader still sees which part came from
 * where; with no ENTRYPOINT, all of it goes to `command`. Strings from the image are escaped (see
 * escapeImageString); the pod's own args and the prefix are kept as written, since Kubernetes expanded
 * them before the mutation too.
 */
export function planCommand(
  container: Container,
  image: { entrypoint: string[]; cmd: string[] },
  prefix: string[],
  what: string,
): CommandPlan {
  const podArgs = container.args?.length ? container.args : undefined;
  const argv = runtimeArgv(container, image.entrypoint, image.cmd);
  if (argv.length === 0) {
    throw new FnPinnerError(
      'NO_COMMAND',
      `${what}: the image has no Entrypoint and no Cmd and the container sets no args, so there is nothing to run`,
    );
  }
  const args = podArgs ? [...podArgs] : fromImage(image.cmd);
  if (image.entrypoint.length === 0) return { command: [...prefix, ...args], args: undefined };
  return { command: [...prefix, ...fromImage(image.entrypoint)], args: args.length ? args : undefined };
}

/** True when the runtime would ignore the image's ENTRYPOINT anyway. */
export function hasCommand(container: Container): boolean {
  return Array.isArray(container.command) && container.command.length > 0;
}
