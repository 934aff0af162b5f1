// Regression: `condis help demo` printed the top-level help. `condis help <cmd> [<sub>]` now
// prints exactly what `condis <cmd> [<sub>] --help` prints, for every command and subcommand of
// the command table; an unknown name is a one-line usage error (exit 2).
import { beforeAll, describe, expect, it } from 'vitest';
import { everyCommand } from './command-table';
import { buildDist, condis } from './helpers';

beforeAll(() => buildDist(), 120_000);

const all = everyCommand().map((r) => [r.path.join(' '), r.path] as const);

describe('condis help <cmd> [<sub>]', () => {
  it.each(all)('help %s is <cmd> --help, exit 0', (_, names) => {
    const viaHelp = condis(['help', ...names]);
    const viaFlag = condis([...names, '--help']);
    expect(viaHelp.code).toBe(0);
    expect(viaFlag.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    expect(viaHelp.stdout).toMatch(new RegExp(`^usage: condis ${names.join(' ')} `));
  });

  it('help demo is not the top-level help', () => {
    expect(condis(['help', 'demo']).stdout).toMatch(/^usage: condis demo \[--backend/);
  });

  it('help alone is condis --help', () => {
    const r = condis(['help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(condis(['--help']).stdout);
  });

  it.each([
    [['help', 'foo'], 'condis: unknown command "foo" (try condis --help)'],
    [
      ['help', 'bench', 'warp'],
      'condis bench: unknown benchmark "warp" (known: drain, pps, tcp, calls) (try condis bench --help)',
    ],
    [['help', 'demo', 'extra'], 'condis demo: no subcommand "extra" (try condis demo --help)'],
  ])('%j: one line, exit 2', (args, line) => {
    const r = condis(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`${line}\n`);
  });

  it.each([[[]], [['bench']]])(
    '%j, a subcommand missing: the usage on stderr (stdout empty), exit 2',
    (args) => {
      const r = condis(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^usage: condis /);
    },
  );
});
