import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/**
 * zod's English messages (which name what was expected) for zod/mini, which the program uses instead of
 * zod: the same schemas, tree-shaken to a few kB in the bundle, so `fn-pinner resolve` starts fast
 * (docs/benchmarks.md). Imported for its effect by every module with a schema; modules import zod/mini
 * themselves as a namespace, which esbuild tree-shakes (a re-exported namespace it could not).
 */
config(en());
