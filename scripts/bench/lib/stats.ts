/** Moved to lib/bench/stats.ts (the CLI needs it, and lib must not import from scripts); re-exported here. */
export * from '../../../lib/bench/stats';
