import { afterAll } from '@jest/globals';
import fc from 'fast-check';

/**
 * Property tests run in two modes:
 *   - in CI (`npm test`, the unit project): a short pass with a fixed seed, the same cases every run;
 *   - `npm run fuzz` (FUZZ_RUNS=10000): many cases from a fresh seed, printed so a failure can be replayed
 *     with FUZZ_SEED=<seed> (fast-check also prints the seed and the shrunk counterexample).
 */
const FIXED_SEED = 20_261_130;
const CI_RUNS = 300;

const runs = Number(process.env.FUZZ_RUNS ?? CI_RUNS);
const seed = process.env.FUZZ_SEED
  ? Number(process.env.FUZZ_SEED)
  : process.env.FUZZ_RUNS
    ? Math.floor(Math.random() * 2 ** 31)
    : FIXED_SEED;

interface Tally {
  target: string;
  cases: number;
  ms: number;
}
const tallies: Tally[] = [];

afterAll(() => {
  if (!process.env.FUZZ_RUNS || tallies.length === 0) return;
  const lines = tallies.map(
    (t) => `fuzz ${t.target}: ${t.cases} cases in ${(t.ms / 1000).toFixed(1)} s (seed ${seed})`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
});

/** A generous jest timeout for a property: a busy 2-core machine must not fail it, only a hang should. */
export function fuzzTimeout(perCaseMs = 5): number {
  return 60_000 + runs * perCaseMs;
}

/** Runs a property `scale` × the configured number of cases and records the count and time. */
export async function checkProperty<Ts extends [unknown, ...unknown[]]>(
  target: string,
  property: fc.IAsyncPropertyWithHooks<Ts> | fc.IPropertyWithHooks<Ts>,
  scale = 1,
): Promise<void> {
  const numRuns = Math.max(1, Math.round(runs * scale));
  const started = performance.now();
  await fc.assert(property as fc.IAsyncPropertyWithHooks<Ts>, { numRuns, seed });
  tallies.push({ target, cases: numRuns, ms: performance.now() - started });
}

/** Strings from every corner of Unicode, lone surrogates included: what a hostile client can put in JSON. */
export const anyText = (maxLength = 80): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
  );

/**
 * Mutations of known-good inputs: each is a valid example with a few characters inserted, replaced or
 * deleted, drawn from `alphabet` (the characters the grammar treats specially). Random strings rarely get
 * past the first check of a parser; these probe its edges.
 */
export function mutated(valid: fc.Arbitrary<string>, alphabet: string): fc.Arbitrary<string> {
  const char = fc.oneof(
    fc.constantFrom(...alphabet),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  );
  const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('insert', 'replace', 'delete'), char });
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([text, edits]) => {
    let s = text;
    for (const e of edits) {
      const i = s.length === 0 ? 0 : e.at % (s.length + 1);
      if (e.kind === 'insert') s = s.slice(0, i) + e.char + s.slice(i);
      else if (e.kind === 'replace') s = s.slice(0, i) + e.char + s.slice(i + 1);
      else s = s.slice(0, i) + s.slice(i + 1);
    }
    return s;
  });
}
