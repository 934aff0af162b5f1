// Every command has --help with an example; bad input gets one line on stderr and a non-zero
// exit, never a stack trace — checked on the real binary (node bin/condis.js over dist/).
import { beforeAll, describe, expect, it } from 'vitest';
import { isRoot, stagePackage } from '../helpers/unprivileged';
import { buildDist, condis } from './helpers';

beforeAll(() => buildDist(), 120_000);

function oneLineError(r: { code: number; stdout: string; stderr: string }, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe('condis CLI errors and help', () => {
  it.each([
    [['run', '--help']],
    [['bench', '--help']],
    [['bench', 'drain', '--help']],
    [['trace', '--help']],
  ])('%j prints usage with an example and exits 0', (args) => {
    const r = condis(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: condis/);
    expect(r.stdout).toMatch(/example: /);
  });

  it.each([
    [['nope'], /unknown command "nope"/],
    [['bench', 'drain', '--bogus'], /condis bench: .*bogus/],
    [['bench', 'drain', '--backend', 'ether'], /--backend must be one of tap, wire/],
    [['bench', 'drain', '--depths', '0,x,16'], /--depths must be a comma-separated list/],
    [['bench', 'drain', '--depths', ''], /--depths must be a comma-separated list/],
    [['bench', 'drain', '--depths', '5000'], /--depths: 5000 is above 4096/],
    [['bench', 'drain', '--iterations', '-3'], /--iterations/],
    [['bench', 'drain', '--json'], /json/],
    [['bench', 'warp'], /unknown benchmark "warp"/],
    [['trace'], /name one flow/],
    [['trace', 'hang-up'], /unknown flow "hang-up"/],
    [['trace', '--svg', 'client-close'], /svg/],
    [['trace', '--json', '--mermaid', 'client-close'], /choose one of --mermaid and --json/],
    [['run', '--pcap'], /pcap/],
    [['run', '--backend', 'fiber'], /--backend must be one of auto, tap, wire/],
  ])('%j: one-line error, non-zero exit', (args, pattern) => {
    oneLineError(condis(args as string[]), pattern as RegExp);
  });

  it('a missing privilege (--backend tap as an unprivileged user) is one line, exit 1', () => {
    const args = ['bench', 'drain', '--backend', 'tap', '--no-kernel', '--iterations', '1'];
    if (!isRoot()) {
      // Already unprivileged: the same path, as ourselves.
      const r = condis(args);
      oneLineError(r, /--backend tap needs root \(CAP_NET_ADMIN\)/);
      expect(r.code).toBe(1);
      return;
    }
    // As root: run the package as nobody, from a copy nobody can read wherever the clone is.
    const stage = stagePackage();
    try {
      const r = stage.run(['bin/condis.js', ...args]);
      oneLineError(r, /--backend tap needs root \(CAP_NET_ADMIN\)/);
      expect(r.code).toBe(1);
    } finally {
      stage.remove();
    }
  });
});
