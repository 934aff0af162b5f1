/**
 * How to start a `condis node` child process, from the TypeScript sources (tests under vitest:
 * tsx loads them) or from dist/ (an installed package), the way lib/scenarios/cold-drain.ts
 * starts its child. `netns` runs it inside a network namespace (`ip netns exec`), where its TAP
 * is created.
 */
import * as path from 'node:path';

/** `--import tsx` when running from .ts sources (see cold-drain.ts for why not --require). */
const LOADER = path.extname(__filename) === '.ts' ? ['--import', 'tsx'] : [];
const ENTRY = path.join(__dirname, '..', 'cli', `entry${path.extname(__filename)}`);

/** The command and arguments of `condis <args...>` as a child process. */
export function condisCommand(args: readonly string[], netns?: string): { command: string; args: string[] } {
  const argv = [...LOADER, ENTRY, ...args];
  return netns
    ? { command: 'ip', args: ['netns', 'exec', netns, process.execPath, ...argv] }
    : { command: process.execPath, args: argv };
}

/** The command of `condis node <args...>`. */
export function nodeCommand(args: readonly string[], netns?: string): { command: string; args: string[] } {
  return condisCommand(['node', ...args], netns);
}
