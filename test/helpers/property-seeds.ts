/**
 * The seeds of the property tests (test/helpers/property.ts), in a module without vitest imports so
 * that the globalSetup (property-seed.global-setup.ts, outside any test context) can load it.
 */
import { randomInt } from 'node:crypto';

/** The seeds CI runs every time, before the run's fresh one. */
export const FIXED_SEEDS: readonly number[] = [24301, 789781, 8035614];

/** A fresh seed: a signed 32-bit integer, like the ones fast-check draws itself. */
export function drawSeed(): number {
  return randomInt(-(2 ** 31), 2 ** 31);
}
