/**
 * The CLI as a child process started from the sources or from dist/ (lib/node/spawn.ts): what
 * bin/condis.js does, without its dist/ lookup, so `node --import tsx lib/cli/entry.ts node ...`
 * runs the code under test, and `node dist/lib/cli/entry.js node ...` the built one.
 */
import { interruptOnBrokenPipe } from './interrupts';
import { main } from './main';

// A closed pipe (condis ... | head): a command that cleans up is interrupted and does; any
// other ends quietly (interrupts.ts).
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  if (!interruptOnBrokenPipe()) process.exit(0);
});
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`condis: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
