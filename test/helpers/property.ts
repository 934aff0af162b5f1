/**
 * Every property test runs through `assertProperty`, so each run is reproducible from what it prints:
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

/**
 * fc.assert with this repository's seed discipline (see the file comment). Synchronous properties
 * only (fc.property); every property in the repository is one.
 */
export function assertProperty<Ts extends [unknown, ...unknown[]]>(
  property: fc.IProperty<Ts>,
  opts: PropertyOptions,
): void {
  const numRuns = runsFor(opts);
  const replayPath = process.env.CONDIS_PROPERTY_PATH || undefined;
  if (replayPath !== undefined && process.env.CONDIS_PROPERTY_SEED === undefined)
    throw new Error(
      'CONDIS_PROPERTY_PATH replays a counterexample of one seed: set CONDIS_PROPERTY_SEED too',
    );
  for (const { seed, origin } of seedPlan()) {
    const details = fc.check(property, {
      seed,
      numRuns,
      ...(replayPath !== undefined ? { path: replayPath } : {}),
    });
    if (!details.failed) continue;
    const runs = opts.fixedRuns ? [] : [`CONDIS_PROPERTY_RUNS=${numRuns}`];
    const lines = [
      `Property failed with seed ${seed} (${origin}), ${numRuns} runs per seed.`,
      'Replay the shrunk counterexample:',
      `  ${replayCommand([`CONDIS_PROPERTY_SEED=${seed}`, `CONDIS_PROPERTY_PATH=${sh(details.counterexamplePath ?? '')}`])}`,
      'Re-run the whole seed:',
      `  ${replayCommand([`CONDIS_PROPERTY_SEED=${seed}`, ...runs])}`,
      'Then pin the counterexample as a regression test named after what it broke.',
      '',
      fc.defaultReportMessage(details) ?? '',
    ];
    throw new Error(lines.join('\n'), { cause: details.errorInstance });
  }
}
