// Regression (issue 11 VcChannel work): an exception thrown by JS run from a device interrupt
// (onInterrupt, a FramePort's onFrame, an event listener) was swallowed with Node 20's DEP0168
// warning and the process ran on. It is an uncaught exception now, as in any Node callback.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const FIXTURE = path.join(__dirname, 'fixtures/throw-in-interrupt.ts');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--require', 'tsx/cjs', FIXTURE, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
  });

describe('an exception thrown in a device interrupt handler', () => {
  it('ends the process as uncaught (exit 1, the error on stderr), not a warning', () => {
    const r = run();
    expect(r.signal, 'the process ran on: the exception was swallowed').toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Error: thrown from onInterrupt 1/);
    expect(r.stderr).not.toMatch(/DEP0168/);
  });

  it("reaches process.on('uncaughtException')", () => {
    const r = run('catch');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('caught: thrown from onInterrupt 1\n');
  });
});
