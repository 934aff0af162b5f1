/**
 * How the TypeScript fuzz properties run (test/fuzz/*.test.ts).
 *
 * In `npm test` each property runs a fixed number of random cases (seconds in all); a failure
 * prints fast-check's counterexample and the seed that replays it (CONDIS_FUZZ_SEED=<seed> with
 * the same file reruns that sequence). `scripts/fuzz.sh <seconds> ts-...` sets
 * CONDIS_FUZZ_SECONDS: each property then runs as many cases as fit in that time and prints one
 * line `fuzz: <name>: <runs> runs in <s> s` for the report.
 *
 * Jazzer.js (libFuzzer for Node) would add coverage guidance, but it does not run here: its
 * current release (4.0.0) ships a prebuilt addon that needs glibc 2.38 (Debian 12 has 2.36), and
 * older releases download their addon from GitHub at install time. So these are fast-check
 * properties whose generators aim at the edges on purpose (near-valid values, every boundary).
 */
import fc from 'fast-check';

const seconds = Number(process.env.CONDIS_FUZZ_SECONDS ?? 0);
const seed = process.env.CONDIS_FUZZ_SEED === undefined ? undefined : Number(process.env.CONDIS_FUZZ_SEED);

/** A vitest timeout for an `it` that calls fuzz(): room for the timed mode when it is on. */
export const fuzzTimeout = seconds > 0 ? seconds * 1000 + 120_000 : 60_000;

/**
 * Runs `property` `numRuns` times (timed mode: for CONDIS_FUZZ_SECONDS); rejects on a
 * counterexample. Timed mode runs in slices of at most 10 s, each with its own seed (printed with a
 * failure), yielding to the event loop between them: vitest's worker must answer its runner.
 */
export async function fuzz<Ts>(name: string, property: fc.IProperty<Ts>, numRuns: number): Promise<void> {
  if (!(seconds > 0)) {
    fc.assert(property, { numRuns, ...(seed === undefined ? {} : { seed }) });
    return;
  }
  const t0 = Date.now();
  const end = t0 + seconds * 1000;
  const base = seed ?? (Math.random() * 0x100000000) | 0;
  let runs = 0;
  for (let slice = 0; Date.now() < end; slice++) {
    const out = fc.check(property, {
      numRuns: 0x7fffffff,
      interruptAfterTimeLimit: Math.min(10_000, end - Date.now()),
      markInterruptAsFailure: false,
      seed: (base + slice) | 0,
    });
    runs += out.numRuns;
    if (out.failed) {
      console.log(`fuzz: ${name}: FAILED after ${runs} runs`);
      throw new Error(fc.defaultReportMessage(out) ?? `${name} failed`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  console.log(`fuzz: ${name}: ${runs} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}
