// Regression: `bench drain --svg /nonexistent/x.svg` and `demo --mermaid /nonexistent/x.mmd` ran
// all their work and only then failed, with the errno twice ("ENOENT: ENOENT: ..."). Every FILE
// option of every command (walked from the command table, so a new one is covered) is now checked
// before the command starts anything: one line, exit 2, nothing on stdout, the code once.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorText } from '../../lib/cli/usage';
import { DOUBLED_CODE, everyOption } from './command-table';
import { buildDist, condis } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-paths-'));
beforeAll(() => buildDist(), 120_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const files = everyOption('file').map((r) => [[...r.path, `--${r.option.name}`].join(' '), r] as const);

function expectUsageLine(
  r: { code: number; stdout: string; stderr: string },
  cmd: string[],
  pattern: RegExp,
): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).not.toMatch(DOUBLED_CODE);
  expect(lines[0]!.endsWith(`(try condis ${cmd.join(' ')} --help)`)).toBe(true);
}

describe('every output path is checked before any work', () => {
  it('the table has the FILE options the issue names', () => {
    expect(files.map(([n]) => n)).toEqual(
      expect.arrayContaining([
        'demo --mermaid',
        'demo --pcap',
        'run --pcap',
        'bench drain --json',
        'bench drain --svg',
        'bench drain --pcap',
        'bench pps --json',
        'soak --json',
      ]),
    );
  });

  it.each(files)('%s in a missing directory', (_, { path: cmd, option }) => {
    const t0 = Date.now();
    const r = condis([...cmd, `--${option.name}`, '/nonexistent/x.out']);
    expectUsageLine(
      r,
      cmd,
      new RegExp(`--${option.name} /nonexistent/x\\.out: ENOENT: directory /nonexistent does not exist`),
    );
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it.each(files)('%s naming a directory, or under a file', (_, { path: cmd, option }) => {
    expectUsageLine(condis([...cmd, `--${option.name}`, dir]), cmd, /: EISDIR: is a directory/);
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, '');
    expectUsageLine(condis([...cmd, `--${option.name}`, path.join(file, 'x')]), cmd, /: ENOTDIR: /);
  });

  it.each(files)('%s with an empty name', (_, { path: cmd, option }) => {
    expectUsageLine(
      condis([...cmd, `--${option.name}=`]),
      cmd,
      new RegExp(`--${option.name} needs a file name`),
    );
  });

  it('nothing is created by the check (a run that fails later leaves no empty file)', () => {
    const out = path.join(dir, 'never.svg');
    const r = condis(['bench', 'drain', '--svg', out, '--depths', 'x']);
    expect(r.code).toBe(2);
    expect(fs.existsSync(out)).toBe(false);
  });

  it("an error line carries Node's errno once", () => {
    let err: unknown;
    try {
      fs.openSync('/nonexistent/x.svg', 'r');
    } catch (e) {
      err = e;
    }
    expect(errorText(err)).toMatch(/^ENOENT: no such file or directory, open/);
    expect(errorText(Object.assign(new Error('device failed'), { code: 'ERR_X' }))).toBe(
      'ERR_X: device failed',
    );
    expect(errorText(new Error('two\n  lines'))).toBe('two lines');
  });
});
