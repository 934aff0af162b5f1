// `condis soak` as a command: --help with an example, usage errors (exit 2), a short clean run on
// the wire with its JSON report, and the progress lines.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMain } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condis-soak-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('condis soak', () => {
  it('--help explains the command and shows an example', async () => {
    const r = await runMain(['soak', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: condis soak /);
    expect(r.stdout).toMatch(/\nexample: sudo condis soak --backend tap --seconds 600/);
    const top = await runMain(['--help']);
    expect(top.stdout).toMatch(/\n {2}soak {4} random churn/);
  });

  it.each([
    [['--backend', 'ether'], /--backend must be one of wire, tap/],
    [['--seconds', '0'], /--seconds must be from 1 to 86400/],
    [['--queue-size', '100'], /--queue-size must be a power of two/],
    [['--vcs', 'x'], /--vcs must be a whole number/],
    [['--json'], /--json/],
  ])('usage error %j: one line, exit 2', async (args, msg) => {
    const r = await runMain(['soak', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a short run on the wire prints its figures, names its seed and writes the JSON report', async () => {
    const json = path.join(dir, 'soak.json');
    const r = await runMain([
      'soak',
      '--seconds',
      '3',
      '--vcs',
      '3',
      '--seed',
      '4242',
      '--progress',
      '1',
      '--json',
      json,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^condis soak: wire, 3 VCs, 3 s, seed 4242 \(replay: condis soak --backend wire .* --seed 4242\)/,
    );
    expect(r.stdout).toMatch(/\n\s+1 s {2}ops \d/);
    expect(r.stdout).toMatch(/\nchurn ran [\d.]+ s: 0 violation\(s\)/);
    expect(r.stdout).toMatch(/\nmakeCall\s+\d+\s+[\d.]+\n/);
    expect(r.stdout).toMatch(/\ndeactivation \d+ \(\d+ pended/);
    expect(r.stdout).toMatch(/\nrss MiB( +[\d.]+){5}\n/);
    expect(r.stdout).toMatch(/\nviolations: none\n$/);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(report).toMatchObject({ backend: 'wire', seed: 4242, vcs: 3, passed: true, violationCount: 0 });
    expect(report.sends.completed).toBe(report.sends.given);
    expect(Object.keys(report.process)).toEqual(['before', 'start', 'warm', 'end', 'after']);
  }, 60_000);
});
