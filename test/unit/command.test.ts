import { describe, expect, it } from '@jest/globals';

import { FnPinnerError } from '../../src/errors.js';
import { escapeImageString, hasCommand, planCommand, runtimeArgv } from '../../src/mutation/command.js';
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
  /** The container's environment, for Kubernetes' `$(VAR)` expansion. */
  env?: Record<string, string>;
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
  {
    name: '$(VAR) and $$ in the image Entrypoint and Cmd are escaped, so Kubernetes expands them to themselves',
    container: {},
    entrypoint: ['/argv', 'ep-$(NODE_VAR)'],
    cmd: ['$(NODE_VAR)', '$$', 'cost: $5'],
    before: ['/argv', 'ep-$(NODE_VAR)', '$(NODE_VAR)', '$$', 'cost: $5'],
    command: ['/argv', 'ep-$$(NODE_VAR)'],
    args: ['$$(NODE_VAR)', '$$$$', 'cost: $$5'],
    env: { NODE_VAR: 'from-pod-env' },
  },
  {
    name: 'args the pod wrote are kept as written: Kubernetes expanded them before the mutation too',
    container: { args: ['$(NODE_VAR)', '$$'] },
    entrypoint: ['/argv', '$(NODE_VAR)'],
    cmd: ['$$'],
    before: ['/argv', '$(NODE_VAR)', 'from-pod-env', '$'],
    command: ['/argv', '$$(NODE_VAR)'],
    args: ['$(NODE_VAR)', '$$'],
    env: { NODE_VAR: 'from-pod-env' },
  },
  {
    name: 'Cmd only with $: all of it escaped into command',
    container: {},
    entrypoint: [],
    cmd: ['/bin/sh', '-c', 'echo $HOME $(NODE_VAR)'],
    before: ['/bin/sh', '-c', 'echo $HOME $(NODE_VAR)'],
    command: ['/bin/sh', '-c', 'echo $$HOME $$(NODE_VAR)'],
    args: undefined,
    env: { NODE_VAR: 'from-pod-env', HOME: '/root' },
  },
  {
    name: 'Cmd only, args with $(VAR) set by the pod: they become the command as written',
    container: { args: ['/argv', '$(NODE_VAR)'] },
    entrypoint: [],
    cmd: ['/bin/function'],
    before: ['/argv', 'from-pod-env'],
    command: ['/argv', '$(NODE_VAR)'],
    args: undefined,
    env: { NODE_VAR: 'from-pod-env' },
  },
];

/**
 * What the kubelet does to command and args (k8s.io/kubernetes third_party/forked/golang/expansion):
 * `$$` → `$`, `$(NAME)` → the variable when defined (else left as is), any other `$` kept.
 */
function expand(value: string, env: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== '$' || i + 1 >= value.length) {
      out += value[i];
      continue;
    }
    const next = value[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(' && value.indexOf(')', i + 2) !== -1) {
      const close = value.indexOf(')', i + 2);
      const name = value.slice(i + 2, close);
      out += env[name] ?? `$(${name})`;
      i = close;
    } else {
      out += '$';
    }
  }
  return out;
}

/** The argv the container runs: the runtime's, after Kubernetes expanded whatever the pod spec holds. */
function effectiveArgv(
  container: Pick<Container, 'command' | 'args'>,
  entrypoint: string[],
  cmd: string[],
  env: Record<string, string>,
): string[] {
  const x = (list: string[] | undefined): string[] | undefined => list?.map((v) => expand(v, env));
  return runtimeArgv({ command: x(container.command), args: x(container.args) }, entrypoint, cmd);
}

function argvOf(plan: { command: string[]; args: string[] | undefined }): string[] {
  return [...plan.command, ...(plan.args ?? [])];
}

describe('runtimeArgv (Kubernetes command/args semantics)', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    expect(effectiveArgv(row.container, row.entrypoint, row.cmd, row.env ?? {})).toEqual(row.before);
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

      const env = row.env ?? {};
      expect(plan).toEqual({ command: [...prefix, ...row.command], args: row.args });
      // The invariant: command + args, once Kubernetes expanded them, == prefix + the argv the container
      // ran before the mutation ...
      expect(argvOf(plan).map((v) => expand(v, env))).toEqual([...prefix, ...row.before]);
      // ... and it is what the runtime runs after it, whatever the image says.
      expect(effectiveArgv(plan, row.entrypoint, row.cmd, env)).toEqual([...prefix, ...row.before]);
      expect(effectiveArgv(plan, ['something-else'], ['--other'], env)).toEqual([...prefix, ...row.before]);
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

  it('escapes every $ of an image string, and nothing else', () => {
    expect(escapeImageString('plain')).toBe('plain');
    expect(escapeImageString('$(A)$$B$')).toBe('$$(A)$$$$B$$');
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
