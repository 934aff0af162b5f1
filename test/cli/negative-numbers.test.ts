// Regression: `condis run --frames -5` said "argument is ambiguous" (node's parseArgs takes -5 for
// an option). Every integer option of every command (walked from the command table) now answers
// `--x -5` and `--x=-5` alike, naming the flag and its range: one line, exit 2.
import { beforeAll, describe, expect, it } from 'vitest';
import { everyOption } from './command-table';
import { buildDist, condis } from './helpers';

beforeAll(() => buildDist(), 120_000);

const ints = everyOption('int').map((r) => [[...r.path, `--${r.option.name}`].join(' '), r] as const);

describe('negative numbers as option values', () => {
  it('run --frames -5 names the flag and its range', () => {
    const r = condis(['run', '--frames', '-5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('condis run: --frames must be from 1 to 100000000 (try condis run --help)\n');
  });

  it.each(ints)('%s -5 and =-5: the same one-line error naming the flag', (_, { path: cmd, option }) => {
    const spaced = condis([...cmd, `--${option.name}`, '-5']);
    const joined = condis([...cmd, `--${option.name}=-5`]);
    expect(spaced.code).toBe(2);
    expect(spaced.stderr).toBe(joined.stderr);
    expect(spaced.stderr).toMatch(
      new RegExp(`^condis ${cmd[0]}: --${option.name} must be (a whole number )?from -?\\d+ to \\d+ `),
    );
    expect(spaced.stderr).not.toMatch(/ambiguous/);
    expect(spaced.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a list with a negative number (bench drain --depths -1,16) is the list check, not "ambiguous"', () => {
    const r = condis(['bench', 'drain', '--depths', '-1,16']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--depths must be a comma-separated list of whole numbers/);
  });

  it('a non-number says "whole number" with the range', () => {
    expect(condis(['demo', '--pings', 'x']).stderr).toMatch(/--pings must be a whole number from 1 to 1000/);
  });
});
