/**
 * Argument checking shared by the subcommands (layer: the CLI, the top): node's parseArgs over the
 * options a command declares in the command table (./commands.ts), its errors turned into
 * UsageError; integer and choice flags; the up-front check of every FILE a command will write; and
 * the one line an error is printed as.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

/** A mistake in the command line: exit status 2 and a pointer to the (sub)command's --help. */
export class UsageError extends Error {}

/** The parsed options of a command, by name (without the dashes). */
export type Values = Partial<Record<string, string | boolean>>;

/** The parseArgs spec of a command's options (built from the command table). */
export type Spec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** A negative number, as the value of an option: `--frames -5`, `--depths -1,16`. */
const NEGATIVE = /^-\d/;

/**
 * Parses argv against `spec`. parseArgs takes `--frames -5` for an option followed by an option
 * ("argument is ambiguous"); no option of ours starts with a digit, so a value that looks like a
 * negative number is joined to its option first (`--frames=-5`), and the flag's own check then
 * names it ("--frames must be from 1 to ...").
 */
export function parse(
  argv: readonly string[],
  spec: Spec,
  allowPositionals = false,
): { values: Values; positionals: string[] } {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    if (name !== undefined && spec[name]?.type === 'string' && next !== undefined && NEGATIVE.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else {
      args.push(a);
    }
  }
  try {
    const r = parseArgs({ args, options: spec, allowPositionals, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
}

export function intFlag(
  name: string,
  v: string | boolean | undefined,
  dflt: number,
  min: number,
  max: number,
): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !/^-?\d+$/.test(v)) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  }
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${name} must be from ${min} to ${max}`);
  return n;
}

export function choice<T extends string>(
  name: string,
  v: string | boolean | undefined,
  allowed: readonly T[],
  dflt: T,
): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !allowed.includes(v as T)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}

/**
 * A comma-separated list of choices (--`name` a,b,c), each one of `known`, duplicates dropped, in
 * the order given; all of `known` when the flag is absent. A UsageError names an unknown entry.
 */
export function choiceList<T extends string>(
  name: string,
  v: string | boolean | undefined,
  known: readonly T[],
  noun = 'value',
): T[] {
  if (v === undefined) return [...known];
  const list = String(v)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const p of list) {
    if (!(known as readonly string[]).includes(p))
      throw new UsageError(`--${name}: unknown ${noun} "${p}" (known: ${known.join(', ')})`);
  }
  if (list.length === 0) throw new UsageError(`--${name}: give at least one ${noun}`);
  return [...new Set(list)] as T[];
}

/**
 * Checks, before any work, that `file` (the value of --`name`) can be written: its directory
 * exists and is writable, and the file, if it exists, is a writable file. Nothing is created, so a
 * run that fails later leaves no empty file behind. A UsageError (the path is the user's to fix),
 * its text carrying the errno name once.
 */
export function checkOutputFile(name: string, file: string | boolean | undefined): void {
  if (file === undefined) return;
  if (typeof file !== 'string' || file === '') throw new UsageError(`--${name} needs a file name`);
  const bad = (code: string, what: string) => new UsageError(`--${name} ${file}: ${code}: ${what}`);
  const st = statOrNull(file);
  if (st) {
    if (st.isDirectory()) throw bad('EISDIR', 'is a directory');
    if (!writable(file)) throw bad('EACCES', 'not writable');
    return;
  }
  const dir = path.dirname(path.resolve(file));
  const d = statOrNull(dir);
  if (!d) throw bad('ENOENT', `directory ${dir} does not exist`);
  if (!d.isDirectory()) throw bad('ENOTDIR', `${dir} is not a directory`);
  if (!writable(dir)) throw bad('EACCES', `directory ${dir} is not writable`);
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

function writable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * An error as the text of one line: `CODE: message`, the code written once (Node's own messages
 * already begin with it: "ENOENT: no such file or directory, open ..."), line breaks folded.
 */
export function errorText(e: unknown): string {
  const err = e instanceof Error ? (e as Error & { code?: unknown }) : null;
  const message = (err ? err.message : String(e)).replace(/\s*\n\s*/g, ' ').trim();
  const code = err && typeof err.code === 'string' ? err.code : '';
  return code && !message.startsWith(code) ? `${code}: ${message}` : message;
}
