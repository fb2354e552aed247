#!/usr/bin/env node
// Thin launcher: the CLI, bundled by esbuild into dist/ (`npm run build`, also run by `npm ci`).
import { run } from '../dist/cli/main.js';

process.exitCode = await run(process.argv);
