/**
 * The `condis` command line (layer: the CLI, the top): dispatch through the command table
 * (./commands.ts), --help / `help <cmd> [<sub>]` and --version. Before a command runs, its options
 * are parsed and every FILE it will write is checked, so a bad path fails at once, not after the
 * work. Every failure is one line on stderr, never a stack trace: a usage error names the full
 * subcommand's help and exits 2; a failure while running exits 1.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CONDIS, type CommandDef, lookup } from './commands';
import { helpText } from './help';
import { checkOutputFile, errorText, parse, type Spec, UsageError } from './usage';

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

const isHelp = (a: string | undefined) => a === '--help' || a === '-h';

/**
 * A usage error of the command at `names`: its text and where its help is. The line starts with
 * the top command (`condis bench:`, as every error line of the benchmarks has read, faults too);
 * the pointer names the full subcommand (`try condis bench drain --help`).
 */
function usageError(names: readonly string[], message: string): number {
  const where = names.length ? `condis ${names[0]}` : 'condis';
  process.stderr.write(`${where}: ${message} (try ${['condis', ...names].join(' ')} --help)\n`);
  return 2;
}

/** The name after a group that matched none of its subcommands. */
function unknown(def: CommandDef, name: string): string {
  const noun = def.noun?.one ?? 'command';
  return def === CONDIS
    ? `unknown ${noun} "${name}"`
    : `unknown ${noun} "${name}" (known: ${def.subcommands!.map((c) => c.name).join(', ')})`;
}

/** `condis help [<cmd> [<sub>]]`: the same text as `condis <cmd> [<sub>] --help`. */
function help(names: readonly string[]): number {
  const { def, path: at, rest } = lookup(names);
  if (rest.length === 0) {
    process.stdout.write(`${helpText(def, at)}\n`);
    return 0;
  }
  if (!def.subcommands) return usageError(at, `no subcommand "${rest[0]}"`);
  return usageError(at, unknown(def, rest[0]!));
}

export async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === undefined) {
    // A usage error: the usage goes where errors go (stdout stays empty for a pipe).
    process.stderr.write(`${helpText(CONDIS, [])}\n`);
    return 2;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === 'help') return help(argv.slice(1));
  if (isHelp(first)) return help([]);

  // Walk the groups: `bench drain ...` reaches drain; what follows are its arguments.
  let def = CONDIS;
  const names: string[] = [];
  let i = 0;
  while (def.subcommands) {
    const a = argv[i];
    if (a === undefined || isHelp(a)) {
      // Asked for (--help): stdout, exit 0. A subcommand missing: a usage error, on stderr, exit 2.
      (a === undefined ? process.stderr : process.stdout).write(`${helpText(def, names)}\n`);
      return a === undefined ? 2 : 0;
    }
    const sub = def.subcommands.find((c) => c.name === a);
    if (!sub) {
      return usageError(names, unknown(def, a));
    }
    def = sub;
    names.push(a);
    i++;
  }

  try {
    const spec: Spec = { help: { type: 'boolean', short: 'h' } };
    for (const o of def.options ?? []) {
      spec[o.name] = {
        type: o.kind === 'flag' ? 'boolean' : 'string',
        ...(o.short ? { short: o.short } : {}),
      };
    }
    const { values, positionals } = parse(argv.slice(i), spec, def.positionals !== undefined);
    if (values.help) {
      process.stdout.write(`${helpText(def, names)}\n`);
      return 0;
    }
    // Every file the command will write, before it starts anything (a child, a TAP, a run).
    for (const o of def.options ?? []) if (o.kind === 'file') checkOutputFile(o.name, values[o.name]);
    return await def.run!(values, positionals);
  } catch (e) {
    if (e instanceof UsageError) return usageError(names, e.message);
    process.stderr.write(`condis ${names[0]}: ${errorText(e)}\n`);
    return 1;
  }
}
