// Regression: the top-level help omitted `bench pps` (its summary said "condis bench drain"). Every
// help text is now rendered from the one command table (lib/cli/commands.ts): this walks the
// table and checks that every command and subcommand is in `condis --help`, that each --help
// exits 0 with the usage and an example, and that every option it shows is documented.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { everyCommand, everyLeaf } from './command-table';
import { buildDist, condis, ROOT } from './helpers';

beforeAll(() => buildDist(), 120_000);

const all = everyCommand();

describe('the help comes from the command table', () => {
  it('condis --help lists every command and, under its group, every subcommand', () => {
    const r = condis(['--help']);
    expect(r.code).toBe(0);
    const top = r.stdout;
    for (const { def, path } of all) {
      if (path.length === 1) {
        expect(top).toMatch(new RegExp(`\\n {2}${def.name} +${reEscape(def.summary)}\\n`));
      } else {
        // Under its parent's line, indented one more step.
        const parent = top.indexOf(`\n  ${path[0]} `);
        expect(parent).toBeGreaterThan(0);
        const sub = top.indexOf(`\n    ${def.name} `, parent);
        expect(sub, `${path.join(' ')} in condis --help`).toBeGreaterThan(parent);
        expect(top.slice(sub)).toMatch(new RegExp(`^\\n {4}${def.name} +${reEscape(def.summary)}\\n`));
      }
    }
    expect(top).toMatch(/\n {4}pps +frames per second/);
  });

  it.each(all.map((r) => [r.path.join(' '), r] as const))(
    '%s --help: exit 0, usage, example, every option',
    (_, { def, path }) => {
      const r = condis([...path, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: condis ${path.join(' ')} `));
      expect(r.stdout).toMatch(/\nexample: /);
      for (const o of def.options ?? []) {
        if (o.hidden) continue;
        expect(r.stdout).toMatch(
          new RegExp(`\\n {2}--${o.name}( FILE)? +${reEscape(o.help.split('\n')[0]!)}`),
        );
        expect(r.stdout.split('\n\n')[0]).toContain(`[--${o.name}`);
      }
      for (const s of def.subcommands ?? [])
        expect(r.stdout).toMatch(new RegExp(`\\n {2}${s.name} +${reEscape(s.summary)}`));
    },
  );
});

describe('the README lists the table', () => {
  it('"## The CLI" has a line for every command with every option it shows in --help', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## The CLI\n'));
    const block = section.slice(
      section.indexOf('```\n') + 4,
      section.indexOf('\n```', section.indexOf('```\n') + 4),
    );
    const lines = block.split('\n');
    for (const { def, path: names } of everyLeaf()) {
      const line = lines.find((l) => l.startsWith(`condis ${names.join(' ')} `));
      expect(line, `condis ${names.join(' ')} in README "## The CLI"`).toBeDefined();
      for (const o of def.options ?? []) if (!o.hidden) expect(line).toContain(`[--${o.name}`);
    }
    expect(lines.some((l) => l.startsWith('condis help '))).toBe(true);
  });
});

function reEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
