import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

import type { LayerEntry } from '../oci.js';

/**
 * Runnable test images: a static busybox and two scripts. /bin/argv prints the argv the runtime ran, one
 * `argv[i]=…` line each, so a container's log *is* its argv; /bin/wrapper plays a --command-prefix
 * wrapper (Porch's wrapper-server): it says so, then runs what follows `--`. The pause binary for the
 * sandbox image is compiled here from pause.c.
 */

export const BUSYBOX = '/bin/busybox';
const CACHE = process.env.FN_PINNER_NODE_CACHE ?? '/var/cache/fn-pinner/node';

const ARGV_SCRIPT = `#!/bin/sh
# Prints the argv the runtime ran, one line each: the container's log is its argv.
i=0
for a in "$0" "$@"; do
  printf 'argv[%d]=%s\\n' "$i" "$a"
  i=$((i + 1))
done
# A pod that must keep running (the moved-tag case) sets ARGV_SLEEP.
if [ -n "$ARGV_SLEEP" ]; then exec sleep "$ARGV_SLEEP"; fi
exit 0
`;

const WRAPPER_SCRIPT = `#!/bin/sh
# A --command-prefix wrapper: marks that it ran, then runs what follows "--" unchanged.
if [ "$1" = "--" ]; then shift; fi
printf 'wrapper: exec %s\\n' "$1"
exec "$@"
`;

/** The wrapper as fn-pinner's --command-prefix. */
export const WRAPPER_PREFIX = ['/bin/wrapper', '--'];

let rootfs: LayerEntry[] | undefined;

/** busybox with the applets the scripts use, the two scripts, and the dirs a container expects. */
export function argvRootfs(): LayerEntry[] {
  if (!existsSync(BUSYBOX)) {
    throw new Error(`${BUSYBOX} not found: install the Debian package busybox-static (.ci/run does)`);
  }
  rootfs ??= [
    { path: 'bin' },
    { path: 'bin/busybox', content: readFileSync(BUSYBOX), mode: 0o755 },
    ...['sh', 'sleep', 'printf', 'echo', 'cat'].map((applet) => ({
      path: `bin/${applet}`,
      linkTo: 'busybox',
    })),
    { path: 'bin/argv', content: Buffer.from(ARGV_SCRIPT), mode: 0o755 },
    { path: 'bin/wrapper', content: Buffer.from(WRAPPER_SCRIPT), mode: 0o755 },
    { path: 'tmp', mode: 0o1777 },
  ];
  return rootfs;
}

/** The sandbox image's root: the static pause binary alone. */
export function pauseRootfs(): LayerEntry[] {
  return [{ path: 'pause', content: readFileSync(pauseBinary()), mode: 0o755 }];
}

/** Compiled once per pause.c content and cached (gcc -static; needs gcc and libc6-dev). */
export function pauseBinary(): string {
  const source = join(import.meta.dirname, 'pause.c');
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const out = join(CACHE, `pause-${hash}`);
  if (existsSync(out)) return out;
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync('gcc', ['-static', '-O2', '-Wall', '-o', tmp, source], { stdio: 'pipe' });
  renameSync(tmp, out);
  return out;
}

/** The lines `/bin/argv` prints for an argv (what a container's log must be). */
export function argvLines(argv: string[]): string {
  return argv.map((a, i) => `argv[${i}]=${a}\n`).join('');
}
