/**
 * How the TypeScript fuzz properties run (test/fuzz/*.test.ts), under the repository's one seed
 * discipline (test/helpers/property.ts):
 *
 * - In `npm test` each property runs `numRuns` random cases (seconds in all) through
 *   assertProperty: the run's fresh seed, and under CI=true the fixed seeds first;
 *   CONDIS_PROPERTY_RUNS changes the count, CONDIS_PROPERTY_SEED (+ CONDIS_PROPERTY_PATH) replays.
 * - Timed: `scripts/fuzz.sh <seconds> ts-...` sets CONDIS_FUZZ_SECONDS; each property then runs as
 *   many cases as fit in that time (assertPropertyFor: 10 s slices, slice k seeded with the fresh
 *   seed, or CONDIS_PROPERTY_SEED, + k) and prints one line
 *   `fuzz: <name>: <runs> runs in <s> s (seeds <a>..<b>)` for the report.
 * Either way a failure prints the commands that replay it (in the untimed mode).
 *
 * Jazzer.js (libFuzzer for Node) would add coverage guidance, but it does not run here: its
 * current release (4.0.0) ships a prebuilt addon that needs glibc 2.38 (Debian 12 has 2.36), and
 * older releases download their addon from GitHub at install time. So these are fast-check
 * properties whose generators aim at the edges on purpose (near-valid values, every boundary).
 */
import type fc from 'fast-check';
import { assertProperty, assertPropertyFor } from '../helpers/property';

const seconds = Number(process.env.CONDIS_FUZZ_SECONDS ?? 0);

/** A vitest timeout for an `it` that calls fuzz(): room for the timed mode when it is on. */
export const fuzzTimeout = seconds > 0 ? seconds * 1000 + 120_000 : 60_000;

/**
 * Runs `property` `numRuns` times per seed (timed mode: for CONDIS_FUZZ_SECONDS); rejects with the
 * replay commands on a counterexample.
 */
export async function fuzz<Ts extends [unknown, ...unknown[]]>(
  name: string,
  property: fc.IProperty<Ts>,
  numRuns: number,
): Promise<void> {
  if (!(seconds > 0)) {
    assertProperty(property, { numRuns });
    return;
  }
  const t0 = Date.now();
  try {
    const { runs, seeds } = await assertPropertyFor(property, seconds);
    console.log(`fuzz: ${name}: ${runs} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s (${seeds})`);
  } catch (e) {
    console.log(`fuzz: ${name}: FAILED after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    throw e;
  }
}
