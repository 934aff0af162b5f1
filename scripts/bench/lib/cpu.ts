/** Moved to lib/bench/cpu.ts (the pps engine in lib needs it, and lib must not import from scripts); re-exported here. */
export * from '../../../lib/bench/cpu';
