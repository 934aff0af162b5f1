/**
 * The `condis` command line: subcommand dispatch, --help and --version. Every failure is one line
 * on stderr and a non-zero exit, never a stack trace.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { bench } from './bench';
import { demo } from './demo';
import { run } from './run';
import { soakCommand } from './soak';
import { trace } from './trace';
import { UsageError } from './usage';

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<number> }> = {
  demo: {
    summary: 'the main job: a call on VC 42, ping, deactivate under traffic, re-activate, close (report)',
    run: demo,
  },
  run: { summary: 'move frames through a device both ways and print its counters', run },
  bench: { summary: 'benchmarks: condis bench drain', run: bench },
  trace: { summary: 'run a VC flow on the wire and print its NDIS sequence (Mermaid/JSON)', run: trace },
  soak: {
    summary: 'random churn on several VCs for a given time, every invariant checked as it runs',
    run: soakCommand,
  },
};

function version(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    try {
      return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version as string;
    } catch {
      dir = path.dirname(dir);
    }
  }
  return 'unknown';
}

function help(): string {
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(8)} ${c.summary}`);
  return [
    'usage: condis <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'options: --help (also after a command), --version',
    "example: sudo condis demo   (as root: a TAP and the host's ping; else the in-process wire)",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(`${help()}\n`);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '--version' || cmd === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    process.stderr.write(`condis: unknown command "${cmd}" (try condis --help)\n`);
    return 2;
  }
  try {
    return await c.run(rest);
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err instanceof UsageError) {
      process.stderr.write(`condis ${cmd}: ${err.message} (try condis ${cmd} --help)\n`);
      return 2;
    }
    process.stderr.write(`condis ${cmd}: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
    return 1;
  }
}
