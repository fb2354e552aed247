import { describe, expect, it } from '@jest/globals';

import { FnPinnerError } from '../../src/errors.js';
import { hasCommand, planCommand, runtimeArgv } from '../../src/mutation/command.js';
import type { Container } from '../../src/mutation/types.js';

/** Porch's wrapper-server, which fn-pinner puts in front of every function it sets a command for. */
const PREFIX = ['/wrapper-server-tools/wrapper-server', '--port', '9446', '--'];
const WHAT = 'container "function" image ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1';

interface Row {
  name: string;
  container: Pick<Container, 'command' | 'args'>;
  entrypoint: string[];
  cmd: string[];
  /** The argv the runtime runs before the mutation. */
  before: string[];
  /** What planCommand sets with no prefix. */
  command: string[];
  args: string[] | undefined;
}

const rows: Row[] = [
  {
    name: 'no command and no args, image with Entrypoint and Cmd: Entrypoint to command, Cmd to args',
    container: {},
    entrypoint: ['function'],
    cmd: ['--log-level', 'info'],
    before: ['function', '--log-level', 'info'],
    command: ['function'],
    args: ['--log-level', 'info'],
  },
  {
    name: 'args set: they override Cmd and are kept as args',
    container: { args: ['--log-level', 'debug'] },
    entrypoint: ['function'],
    cmd: ['--log-level', 'info'],
    before: ['function', '--log-level', 'debug'],
    command: ['function'],
    args: ['--log-level', 'debug'],
  },
  {
    name: 'an empty args list counts as unset, so Cmd still applies',
    container: { args: [] },
    entrypoint: ['function'],
    cmd: ['--serve'],
    before: ['function', '--serve'],
    command: ['function'],
    args: ['--serve'],
  },
  {
    name: 'Entrypoint only: command is the Entrypoint and args stay unset',
    container: {},
    entrypoint: ['/usr/local/bin/function', '--krm'],
    cmd: [],
    before: ['/usr/local/bin/function', '--krm'],
    command: ['/usr/local/bin/function', '--krm'],
    args: undefined,
  },
  {
    name: 'Entrypoint only, with args: args follow the Entrypoint',
    container: { args: ['--dry-run'] },
    entrypoint: ['function'],
    cmd: [],
    before: ['function', '--dry-run'],
    command: ['function'],
    args: ['--dry-run'],
  },
  {
    name: 'Cmd only: all of it goes to command',
    container: {},
    entrypoint: [],
    cmd: ['/bin/function', '--serve'],
    before: ['/bin/function', '--serve'],
    command: ['/bin/function', '--serve'],
    args: undefined,
  },
  {
    name: 'Cmd only, with args: args replace Cmd and become the command',
    container: { args: ['/bin/other-function', '-v'] },
    entrypoint: [],
    cmd: ['/bin/function', '--serve'],
    before: ['/bin/other-function', '-v'],
    command: ['/bin/other-function', '-v'],
    args: undefined,
  },
  {
    name: 'neither Entrypoint nor Cmd, with args: the args are the command',
    container: { args: ['/bin/function'] },
    entrypoint: [],
    cmd: [],
    before: ['/bin/function'],
    command: ['/bin/function'],
    args: undefined,
  },
];

function argvOf(plan: { command: string[]; args: string[] | undefined }): string[] {
  return [...plan.command, ...(plan.args ?? [])];
}

describe('runtimeArgv (Kubernetes command/args semantics)', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    expect(runtimeArgv(row.container, row.entrypoint, row.cmd)).toEqual(row.before);
  });

  it('a command overrides the Entrypoint and, without args, drops the Cmd', () => {
    expect(runtimeArgv({ command: ['/bin/sh', '-c', 'true'] }, ['function'], ['--serve'])).toEqual([
      '/bin/sh',
      '-c',
      'true',
    ]);
  });

  it('a command with args runs both and ignores Entrypoint and Cmd', () => {
    expect(runtimeArgv({ command: ['/bin/fn'], args: ['-v'] }, ['function'], ['--serve'])).toEqual([
      '/bin/fn',
      '-v',
    ]);
  });

  it('an empty command counts as unset', () => {
    expect(runtimeArgv({ command: [] }, ['function'], ['--serve'])).toEqual(['function', '--serve']);
    expect(hasCommand({ name: 'function', command: [] })).toBe(false);
    expect(hasCommand({ name: 'function', command: ['function'] })).toBe(true);
    expect(hasCommand({ name: 'function' })).toBe(false);
  });
});

describe('planCommand', () => {
  describe.each([
    ['without a prefix', [] as string[]],
    ['with the wrapper-server prefix', PREFIX],
  ])('%s', (_label, prefix) => {
    it.each(rows.map((r) => [r.name, r] as const))('%s', (_name, row) => {
      const container: Container = { name: 'function', ...structuredClone(row.container) };
      const plan = planCommand(container, { entrypoint: row.entrypoint, cmd: row.cmd }, prefix, WHAT);

      expect(plan).toEqual({ command: [...prefix, ...row.command], args: row.args });
      // The invariant: command + args == prefix + the argv the runtime ran before the mutation ...
      expect(argvOf(plan)).toEqual([...prefix, ...row.before]);
      // ... and it is what the runtime runs after it, whatever the image says.
      expect(runtimeArgv(plan, row.entrypoint, row.cmd)).toEqual([...prefix, ...row.before]);
      expect(runtimeArgv(plan, ['something-else'], ['--other'])).toEqual([...prefix, ...row.before]);
      // The container itself is not modified.
      expect(container).toEqual({ name: 'function', ...row.container });
    });

    it('refuses an image with no Entrypoint, no Cmd and no args, naming the image', () => {
      const run = (): unknown => planCommand({ name: 'function' }, { entrypoint: [], cmd: [] }, prefix, WHAT);
      expect(run).toThrow(FnPinnerError);
      expect(run).toThrow(
        expect.objectContaining({
          code: 'NO_COMMAND',
          message: expect.stringContaining('ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1'),
        }),
      );
    });

    it('refuses empty args too: they do not give the runtime anything to run', () => {
      expect(() =>
        planCommand({ name: 'function', args: [] }, { entrypoint: [], cmd: [] }, prefix, WHAT),
      ).toThrow(expect.objectContaining({ code: 'NO_COMMAND' }));
    });
  });

  it('returns fresh arrays, never the image metadata or container arrays themselves', () => {
    const image = { entrypoint: ['function'], cmd: ['--serve'] };
    const container: Container = { name: 'function', args: ['-v'] };
    const plan = planCommand(container, image, [], WHAT);
    plan.command.push('mutated');
    plan.args?.push('mutated');
    expect(image).toEqual({ entrypoint: ['function'], cmd: ['--serve'] });
    expect(container.args).toEqual(['-v']);
  });
});
