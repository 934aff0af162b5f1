/**
 * Every --help text of `condis`, rendered from the command table (./commands.ts; layer: the CLI):
 * the usage line from the options, the options' list from their help, a group's list from its
 * subcommands' summaries. `condis help <cmd> [<sub>]` and `condis <cmd> [<sub>] --help` print the
 * same text because both call helpText().
 */
import type { CommandDef, OptionDef } from './commands';

const WIDTH = 100;

/** The help of the command reached by `path` (names under the root; [] for `condis` itself). */
export function helpText(def: CommandDef, path: readonly string[]): string {
  const prog = ['condis', ...path].join(' ');
  if (def.subcommands) return groupHelp(def, prog, path.length === 0);
  const out = [usageLine(prog, def), ''];
  if (def.about) out.push(def.about, '');
  const shown = (def.options ?? []).filter((o) => !o.hidden);
  if (shown.length) {
    const labels = shown.map(label);
    const col = Math.max(...labels.map((l) => l.length)) + 2;
    shown.forEach((o, k) => {
      const [first, ...more] = o.help.split('\n');
      out.push(`  ${labels[k]!.padEnd(col)}${first}`);
      for (const m of more) out.push(`  ${' '.repeat(col)}${m}`);
    });
    out.push('');
  }
  if (def.notes) out.push(def.notes, '');
  for (const e of def.examples) out.push(`example: ${e}`);
  return out.join('\n');
}

function groupHelp(def: CommandDef, prog: string, root: boolean): string {
  const subs = def.subcommands!;
  const out = [`usage: ${prog} <${def.noun?.one ?? 'command'}> [options]`];
  if (root) out.push(`       ${prog} help <command> [<subcommand>]`);
  out.push('', `${def.noun?.many ?? 'commands'}:`);
  for (const c of subs) {
    out.push(`  ${c.name.padEnd(8)} ${c.summary}`);
    // The root lists the subcommands of its groups too, so that every command is in one help.
    if (root && c.subcommands)
      for (const s of c.subcommands) out.push(`    ${s.name.padEnd(6)} ${s.summary}`);
  }
  out.push('');
  if (root) out.push('options: --help (also after a command), --version');
  for (const e of def.examples) out.push(`example: ${e}`);
  return out.join('\n');
}

/** `--name` and, for a file, `--name FILE`: the left column of the options' list. */
function label(o: OptionDef): string {
  return o.kind === 'file' ? `--${o.name} FILE` : `--${o.name}`;
}

/** `usage: condis bench drain [--backend tap|wire] ...`, wrapped under its first option. */
function usageLine(prog: string, def: CommandDef): string {
  const head = `usage: ${prog} `;
  const parts = (def.options ?? [])
    .filter((o) => !o.hidden)
    .map((o) => {
      if (o.kind === 'flag') return `[--${o.name}]`;
      return `[--${o.name} ${o.kind === 'file' ? 'FILE' : (o.arg ?? 'VALUE')}]`;
    });
  if (def.positionals) parts.push(def.positionals);
  const lines: string[] = [];
  let line = head;
  for (const p of parts) {
    if (line.length > head.length && line.length + 1 + p.length > WIDTH) {
      lines.push(line.trimEnd());
      line = ' '.repeat(head.length);
    }
    line += line.endsWith(' ') ? p : ` ${p}`;
  }
  lines.push(line.trimEnd());
  return lines.join('\n');
}
