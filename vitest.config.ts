import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Device tests share one kernel (TAP names, tc filters): run files one at a time.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Draws the run's fresh property-test seed once (and prints it under CI=true).
    globalSetup: ['test/helpers/property-seed.global-setup.ts'],
  },
});
