// The kernel's side of `condis bench drain` (lib/bench/kernel-quiesce.ts): its python3 helper is
// a file of its own, found from the sources and from the compiled dist/ alike, and shipped; with
// root, the helper answers: DEPTH frames sent before each timed down.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KernelQuiesce, kernelQuiesceScript } from '../../lib/bench/kernel-quiesce';
import { buildDist, ROOT } from './helpers';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe('the kernel quiesce helper', () => {
  it('is lib/bench/kernel-quiesce.py, found from lib/ and from dist/lib/, and shipped', () => {
    const script = kernelQuiesceScript();
    expect(script).toBe(path.join(ROOT, 'lib', 'bench', 'kernel-quiesce.py'));
    expect(fs.readFileSync(script, 'utf8')).toMatch(/SIOCSIFFLAGS/);
    buildDist();
    const fromDist = execFileSync(
      process.execPath,
      ['-e', "process.stdout.write(require('./dist/lib/bench/kernel-quiesce.js').kernelQuiesceScript())"],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(fromDist).toBe(script);
    const files = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).files as string[];
    expect(files).toContain('lib/bench/*.py');
  }, 60_000);

  it.runIf(isRoot)(
    'with root, times the down of a TAP with DEPTH frames queued',
    async () => {
      const k = await KernelQuiesce.start(`ckq${process.pid % 100000}`, 16);
      try {
        for (const depth of [0, 8, 16]) {
          const s = await k.sample(depth);
          expect(s.sent).toBe(depth);
          expect(s.ns).toBeGreaterThan(0);
          expect(s.readable).toBeLessThanOrEqual(s.sent);
        }
      } finally {
        k.stop();
      }
    },
    30_000,
  );
});
