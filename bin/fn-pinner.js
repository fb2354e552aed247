#!/usr/bin/env node
// Thin launcher: the CLI, bundled by esbuild into dist/ (`npm run build`, also run by `npm ci`).
import module from 'node:module';

// Node ≥ 22.1 keeps compiled code on disk between runs (the production image's Node 26 included), which
// roughly halves a one-shot command's start-up; where it is missing, or the directory is not writable, this
// does nothing.
module.enableCompileCache?.();

const { run } = await import('../dist/cli/main.js');
process.exitCode = await run(process.argv);
