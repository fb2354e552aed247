/**
 * Bundles the CLI (entry src/cli/main.ts) with esbuild for the container image: ESM, one entry file plus
 * chunks that load lazily (the `serve` command's Kubernetes client and HTTPS server), no node_modules.
 *
 *   tsx scripts/bundle.ts [OUTDIR]      (default bundle/; the entry is OUTDIR/cli/main.js)
 *
 * The image copies OUTDIR to /app/dist, where bin/fn-pinner.js imports dist/cli/main.js, and package.json
 * sits two levels above it as in a tsc build (the CLI reads its version there).
 */
import { rmSync, statSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const outdir = join(resolve(root, process.argv[2] ?? 'bundle'), 'cli');
rmSync(outdir, { recursive: true, force: true });

const result = await build({
  entryPoints: { main: join(root, 'src/cli/main.ts') },
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'linked',
  sourcemap: false,
  metafile: true,
  logLevel: 'warning',
  // CommonJS dependencies call require() for Node built-ins; ESM output has no require of its own.
  banner: {
    js: "import { createRequire as __fnPinnerCreateRequire } from 'node:module'; const require = __fnPinnerCreateRequire(import.meta.url);",
  },
});

const files = readdirSync(outdir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
const total = files.reduce((sum, f) => sum + statSync(join(f.parentPath, f.name)).size, 0);
console.log(
  `bundle: ${files.length} files, ${(total / 1e6).toFixed(2)} MB in ${relative(root, outdir)} ` +
    `(${Object.keys(result.metafile.inputs).length} inputs)`,
);
