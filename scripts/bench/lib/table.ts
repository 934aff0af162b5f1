/** Moved to lib/bench/table.ts (the CLI needs it, and lib must not import from scripts); re-exported here. */
export * from '../../../lib/bench/table';
