// Regression: a usage error inside `bench drain` pointed at `condis bench --help`. Every command
// and subcommand of the command table now names its own help: `(try condis bench drain --help)`.
import { beforeAll, describe, expect, it } from 'vitest';
import { everyCommand, everyLeaf } from './command-table';
import { buildDist, condis } from './helpers';

beforeAll(() => buildDist(), 120_000);

describe('a usage error names the full subcommand', () => {
  it.each(everyLeaf().map((r) => [r.path.join(' '), r.path] as const))('%s --bogus', (_, names) => {
    const r = condis([...names, '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^condis \w+: .*--bogus.*\n$/);
    expect(r.stderr.endsWith(` (try condis ${names.join(' ')} --help)\n`)).toBe(true);
  });

  it('bench drain --iterations 0', () => {
    expect(condis(['bench', 'drain', '--iterations', '0']).stderr).toBe(
      'condis bench: --iterations must be from 1 to 1000000 (try condis bench drain --help)\n',
    );
  });

  it.each(
    everyCommand()
      .filter((r) => r.def.subcommands)
      .map((r) => [r.path.join(' '), r.path] as const),
  )('an unknown subcommand of %s names the group', (_, names) => {
    const r = condis([...names, 'warp']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.endsWith(` (try condis ${names.join(' ')} --help)\n`)).toBe(true);
  });
});
