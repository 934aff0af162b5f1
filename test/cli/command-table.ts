/**
 * The CLI tests' walk of the command table (lib/cli/commands.ts): every command and subcommand
 * with the names that reach it, so a test over "every command" or "every option" cannot miss one
 * that is added later.
 */
import { CONDIS, type CommandDef, type OptionDef } from '../../lib/cli/commands';

export interface Reached {
  def: CommandDef;
  /** The names under `condis`: ['bench', 'drain']. */
  path: string[];
}

/** Every command and group under the root, parents before their subcommands. */
export function everyCommand(def: CommandDef = CONDIS, path: string[] = []): Reached[] {
  const out: Reached[] = [];
  for (const c of def.subcommands ?? []) {
    out.push({ def: c, path: [...path, c.name] });
    out.push(...everyCommand(c, [...path, c.name]));
  }
  return out;
}

/** Every command that runs (not a group). */
export function everyLeaf(): Reached[] {
  return everyCommand().filter((r) => r.def.run !== undefined);
}

/** Every option of kind `kind`, with the command that declares it. */
export function everyOption(kind: OptionDef['kind']): Array<Reached & { option: OptionDef }> {
  return everyLeaf().flatMap((r) =>
    (r.def.options ?? []).filter((o) => o.kind === kind).map((option) => ({ ...r, option })),
  );
}

/** An error line must not carry an errno name twice ("ENOENT: ENOENT: ..."). */
export const DOUBLED_CODE = /\b([A-Z][A-Z0-9_]{2,}): \1\b/;
