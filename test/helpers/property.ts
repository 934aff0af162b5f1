/**
 * Every property test runs through `assertProperty` (`assertAsyncProperty` for an fc.asyncProperty;
 * the fuzz properties through test/fuzz/fuzz.ts, which uses both and `assertPropertyFor`), so each
 * run is reproducible from what it prints:
 *
 * - Seeds. CONDIS_PROPERTY_SEED set: that seed only (with CONDIS_PROPERTY_PATH, only the shrunk
 *   counterexample it names). Else under CI=true: FIXED_SEEDS (property-seeds.ts), then the run's
 *   fresh seed. Else: the run's fresh seed. The fresh seed is drawn once per vitest run by
 *   property-seed.global-setup.ts (which prints it on stdout under CI=true, pass or fail) and is
 *   the same for every property of the run; without that setup each file draws its own.
 * - Runs per seed: the test's `numRuns`, or CONDIS_PROPERTY_RUNS when set (tests whose single run
 *   is long opt out with `fixedRuns`).
 * - On failure the error names the seed, where it came from, the path and the counterexample, and
 *   gives the exact commands that replay it.
 * - Timed runs (`assertPropertyFor`, the fuzz properties under CONDIS_FUZZ_SECONDS) take their
 *   seeds from the same place: slice k of the run uses CONDIS_PROPERTY_SEED + k, or the run's
 *   fresh seed + k; a failure names the slice's seed and its run count, and its replay commands
 *   are the same as above (they replay it in the ordinary, untimed mode).
 *
 * A counterexample found this way is pinned as a plain regression test named after the rule it
 * broke (test/conformance/regressions/); a fixed seed is only a reproducible baseline, since what a
 * seed generates changes whenever an arbitrary does.
 */
import path from 'node:path';
import fc from 'fast-check';
import { expect, inject } from 'vitest';
import { drawSeed, FIXED_SEEDS } from './property-seeds';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The fresh fast-check seed of this vitest run (property-seed.global-setup.ts). */
    condisPropertyFreshSeed: number;
  }
}

export interface PropertyOptions {
  /** Runs per seed (CONDIS_PROPERTY_RUNS overrides it unless `fixedRuns`). */
  numRuns: number;
  /** Ignore CONDIS_PROPERTY_RUNS: each run is long on its own (a 66k-op prefix, say). */
  fixedRuns?: boolean;
}

/**
 * The timeout to give a property test: vitest's default, or none when CONDIS_PROPERTY_RUNS asks for
 * a long run on purpose (CONDIS_PROPERTY_RUNS=20000 takes minutes on a loaded machine).
 */
export const PROPERTY_TIMEOUT_MS: number | undefined = process.env.CONDIS_PROPERTY_RUNS ? 0 : undefined;

interface SeedChoice {
  seed: number;
  origin: string;
}

let fileFreshSeed: number | undefined;

function freshSeed(): number {
  const provided = inject('condisPropertyFreshSeed');
  if (typeof provided === 'number') return provided;
  fileFreshSeed ??= drawSeed();
  return fileFreshSeed;
}

function parseIntEnv(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name}=${JSON.stringify(v)} is not an integer`);
  return n;
}

function seedPlan(): SeedChoice[] {
  const pinned = parseIntEnv('CONDIS_PROPERTY_SEED');
  if (pinned !== undefined) return [{ seed: pinned, origin: 'CONDIS_PROPERTY_SEED' }];
  const fresh = { seed: freshSeed(), origin: "this run's fresh seed" };
  if (process.env.CI !== 'true') return [fresh];
  return [
    ...FIXED_SEEDS.map((seed, i) => ({ seed, origin: `fixed seed ${i + 1}/${FIXED_SEEDS.length}` })),
    fresh,
  ];
}

function runsFor(opts: PropertyOptions): number {
  if (opts.fixedRuns) return opts.numRuns;
  const n = parseIntEnv('CONDIS_PROPERTY_RUNS');
  if (n !== undefined && n < 1) throw new Error('CONDIS_PROPERTY_RUNS must be at least 1');
  return n ?? opts.numRuns;
}

/** A shell word: quoted when it holds anything but safe characters. */
function sh(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The vitest -t pattern that selects exactly the running test (its names joined by spaces). */
function testPattern(): string | undefined {
  const name = expect.getState().currentTestName;
  if (!name) return undefined;
  const full = name.split(' > ').join(' ');
  return `${full.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

function replayCommand(env: string[]): string {
  const file = expect.getState().testPath;
  const rel = file ? path.relative(process.cwd(), file) : '<this test file>';
  const t = testPattern();
  return [...env, 'npx vitest run', sh(rel), ...(t ? ['-t', sh(t)] : [])].join(' ');
}

/** CONDIS_PROPERTY_PATH, checked: it names a counterexample of one seed. */
function replayPathEnv(): string | undefined {
  const replayPath = process.env.CONDIS_PROPERTY_PATH || undefined;
  if (replayPath !== undefined && process.env.CONDIS_PROPERTY_SEED === undefined)
    throw new Error(
      'CONDIS_PROPERTY_PATH replays a counterexample of one seed: set CONDIS_PROPERTY_SEED too',
    );
  return replayPath;
}

/**
 * The error of a failed check: the seed, where it came from, the runs, the commands that replay
 * it. `runs`: the CONDIS_PROPERTY_RUNS that re-runs the whole seed up to the failure (none for a
 * test with fixedRuns).
 */
function failure<Ts>(details: fc.RunDetails<Ts>, seed: number, origin: string, runs: number | null): Error {
  const lines = [
    `Property failed with seed ${seed} (${origin})${runs === null ? '' : `, ${runs} runs`}.`,
    'Replay the shrunk counterexample:',
    `  ${replayCommand([`CONDIS_PROPERTY_SEED=${seed}`, `CONDIS_PROPERTY_PATH=${sh(details.counterexamplePath ?? '')}`])}`,
    'Re-run the whole seed:',
    `  ${replayCommand([`CONDIS_PROPERTY_SEED=${seed}`, ...(runs === null ? [] : [`CONDIS_PROPERTY_RUNS=${runs}`])])}`,
    'Then pin the counterexample as a regression test named after what it broke.',
    '',
    fc.defaultReportMessage(details) ?? '',
  ];
  return new Error(lines.join('\n'), { cause: details.errorInstance });
}

/** fc.check's parameters for one seed of the plan (the replay path when one is set). */
function checkParams(seed: number, numRuns: number): fc.Parameters<unknown> {
  const replayPath = replayPathEnv();
  return { seed, numRuns, ...(replayPath !== undefined ? { path: replayPath } : {}) };
}

/**
 * fc.assert with this repository's seed discipline (see the file comment), for a synchronous
 * property (fc.property).
 */
export function assertProperty<Ts extends [unknown, ...unknown[]]>(
  property: fc.IProperty<Ts>,
  opts: PropertyOptions,
): void {
  const numRuns = runsFor(opts);
  for (const { seed, origin } of seedPlan()) {
    const details = fc.check(property, checkParams(seed, numRuns) as fc.Parameters<Ts>);
    if (details.failed) throw failure(details, seed, origin, opts.fixedRuns ? null : numRuns);
  }
}

/** assertProperty for an asynchronous property (fc.asyncProperty). */
export async function assertAsyncProperty<Ts extends [unknown, ...unknown[]]>(
  property: fc.IAsyncProperty<Ts>,
  opts: PropertyOptions,
): Promise<void> {
  const numRuns = runsFor(opts);
  for (const { seed, origin } of seedPlan()) {
    const details = await fc.check(property, checkParams(seed, numRuns) as fc.Parameters<Ts>);
    if (details.failed) throw failure(details, seed, origin, opts.fixedRuns ? null : numRuns);
  }
}

/** A timed run never spends longer than this in one synchronous fc.check (vitest's worker must answer). */
const kSliceMs = 10_000;

/**
 * A synchronous property for `seconds` (a long fuzz run): slices of at most 10 s, slice k with
 * seed base + k (base: CONDIS_PROPERTY_SEED, else the run's fresh seed), yielding to the event loop
 * between slices. Rejects with the replay commands of the failing slice (its seed, and the runs
 * that reach the failure). With CONDIS_PROPERTY_PATH set it replays that counterexample instead
 * (assertProperty): a path names one run, not a time. Resolves with the runs done and the seeds.
 */
export async function assertPropertyFor<Ts extends [unknown, ...unknown[]]>(
  property: fc.IProperty<Ts>,
  seconds: number,
): Promise<{ runs: number; seeds: string }> {
  if (replayPathEnv() !== undefined) {
    assertProperty(property, { numRuns: 1, fixedRuns: true });
    return { runs: 1, seeds: String(process.env.CONDIS_PROPERTY_SEED) };
  }
  const pinned = parseIntEnv('CONDIS_PROPERTY_SEED');
  const base = pinned ?? freshSeed();
  const from = pinned !== undefined ? 'CONDIS_PROPERTY_SEED' : "this run's fresh seed";
  const end = Date.now() + seconds * 1000;
  let runs = 0;
  let slice = 0;
  for (; slice === 0 || Date.now() < end; slice++) {
    const seed = (base + slice) | 0;
    const details = fc.check(property, {
      seed,
      numRuns: 0x7fffffff,
      interruptAfterTimeLimit: Math.max(1, Math.min(kSliceMs, end - Date.now())),
      markInterruptAsFailure: false,
    });
    runs += details.numRuns;
    if (details.failed) {
      const origin = `slice ${slice} of a ${seconds} s timed run: ${from} ${base} + ${slice}`;
      throw failure(details, seed, origin, details.numRuns);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const last = (base + slice - 1) | 0;
  return { runs, seeds: slice === 1 ? `seed ${base}` : `seeds ${base}..${last}` };
}
