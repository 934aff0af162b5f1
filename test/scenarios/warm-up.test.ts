// warmUp() (issue 12 point 4): the package's deactivation path run on a private wire pair, so a
// program's first deactivation is a warm one. Its effect is measured by `condis bench drain
// --cold N` (cold after warmUp()); here: what it runs, what it leaves behind, how it refuses.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { warmUp } from '../../lib/index';

const deviceThreads = () =>
  fs.readdirSync('/proc/self/task').filter((t) => {
    try {
      return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').startsWith('condis');
    } catch {
      return false;
    }
  }).length;

describe('warmUp()', () => {
  it('runs the deactivations asked for on pairs of its own, and closes them', async () => {
    const before = deviceThreads();
    const r = await warmUp({ deactivations: 40 });
    expect(r.deactivations).toBe(40);
    expect(r.ms).toBeGreaterThan(0);
    expect(deviceThreads()).toBe(before); // its devices' I/O threads are gone
  }, 30_000);

  it("waits for V8's background threads to go quiet before it resolves (two quiet 5 ms looks, at most 500 ms)", async () => {
    const r = await warmUp({ deactivations: 40 });
    // At least the two looks that found them quiet; never more than the cap (plus a timer's lateness).
    expect(r.settleMs).toBeGreaterThanOrEqual(9);
    expect(r.settleMs).toBeLessThan(700);
    expect(r.settleMs).toBeLessThanOrEqual(r.ms);
  }, 30_000);

  it.each([0, -1, 1.5, 100_001])('refuses %s deactivations with ERR_CONDIS_INVALID_ARG', async (n) => {
    await expect(warmUp({ deactivations: n })).rejects.toMatchObject({ code: 'ERR_CONDIS_INVALID_ARG' });
  });

  it('an aborted signal rejects with AbortError (ABORT_ERR), before or during the run', async () => {
    await expect(warmUp({ signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
      code: 'ABORT_ERR',
    });
    const ac = new AbortController();
    const running = warmUp({ deactivations: 100_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(running).rejects.toMatchObject({ code: 'ABORT_ERR' });
  }, 30_000);
});
