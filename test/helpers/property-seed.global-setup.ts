/**
 * vitest globalSetup: draws the fresh fast-check seed of this vitest run, once, and hands it to
 * every test file (test/helpers/property.ts). Under CI=true it prints the seeds on stdout, so a
 * CI log names them even when every property passes; elsewhere the seed shows only on failure.
 */
import type { TestProject } from 'vitest/node';
import { drawSeed, FIXED_SEEDS } from './property-seeds';

export default function setup(project: TestProject): void {
  const seed = drawSeed();
  project.provide('condisPropertyFreshSeed', seed);
  if (process.env.CI === 'true') {
    process.stdout.write(
      `[property] seeds: fixed ${FIXED_SEEDS.join(', ')}; fresh ${seed} ` +
        `(this seed alone: CONDIS_PROPERTY_SEED=${seed} npx vitest run <file>)\n`,
    );
  }
}
