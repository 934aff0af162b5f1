/** The pps benchmark's engine: `condis bench pps` and `npm run bench:pps` both run on it. */
export * from './engine';
export * from './files';
export { makeFrame, type PhaseResult, runPhase } from './phase';
