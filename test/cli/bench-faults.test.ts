// `condis bench pps` and `condis bench drain` on the wire, with a fault injected into one of the
// devices they opened while they run: each ends at once (well inside the quiet timeouts it would
// otherwise wait out) with the fault's coded error as its one-line message and exit 1.
// The devices are caught as the benchmark opens them (openWirePair wrapped by vi.mock); the faults
// are real: Device.testBreakEpoll() (the I/O thread fails) and a hostile used.idx (the driver side
// stops the queue).
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Device } from '../../lib/device/device';
import { RawRing } from '../helpers/device-ring';
import { waitUntil } from '../helpers/wait';
import { runMain } from './helpers';

const opened = vi.hoisted(() => [] as Device[]);
vi.mock('../../lib/device/open', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../lib/device/open')>();
  return {
    ...orig,
    openWirePair: (...args: Parameters<typeof orig.openWirePair>) => {
      const pair = orig.openWirePair(...args);
      opened.push(...pair);
      return pair;
    },
  };
});

afterEach(() => {
  opened.length = 0;
});

/**
 * Runs the command; once its devices move frames, `inject` breaks one; the run must end soon after.
 * `repeat`: inject again on every turn of the event loop until the run ends, for a lie written
 * where the device writes too (a used.idx the device itself overwrote was lost: 1 run in 6 under
 * load then ran its million iterations into the test's timeout). The time counts from the first.
 */
async function runWithFault(argv: string[], inject: (devices: Device[]) => void, repeat = false) {
  let injectedAt = 0;
  let done = false;
  const running = runMain(argv).finally(() => {
    done = true;
  });
  const injected = (async () => {
    await waitUntil(() => opened.length === 2, 'the benchmark to open its devices', 20_000);
    await waitUntil(
      () => !opened[0]!.closed && opened[0]!.stats().pairs.some((p) => p.txFrames > 0),
      'frames moving',
      20_000,
    );
    inject(opened);
    injectedAt = performance.now();
    while (repeat && !done) {
      await new Promise((r) => setImmediate(r));
      if (!done) inject(opened);
    }
  })();
  const r = await running;
  await injected;
  return { ...r, afterFaultMs: performance.now() - injectedAt };
}

function expectOneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe('a benchmark stops at once on a device fault', () => {
  it('condis bench pps: the receiving device fails -> ERR_CONDIS_DEVICE_FAILED', async () => {
    const r = await runWithFault(
      ['bench', 'pps', '--backend', 'wire', '--frames', '100000000', '--reps', '1', '--warmup', '0'],
      (d) => d[1]!.testBreakEpoll(),
    );
    expectOneLineError(r, /^condis bench: ERR_CONDIS_DEVICE_FAILED: wire device failed: .*epoll_wait/);
    // Not after the 1 s without frames the phase would otherwise wait for.
    expect(r.afterFaultMs).toBeLessThan(800);
    expect(r.stdout).toBe('');
  }, 60_000);

  it('condis bench drain: the far end sends an impossible used.idx -> ERR_CONDIS_RING_USED_IDX_TOO_FAR', async () => {
    const r = await runWithFault(
      ['bench', 'drain', '--backend', 'wire', '--depths', '16', '--iterations', '1000000', '--no-kernel'],
      (d) => {
        // The far end's transmit ring (pair 1): the next harvest of its port finds it impossible.
        const far = d[1]!;
        const txq = far.tx[1]!;
        new RawRing(far.region.sab, txq.index).setUsedIdx((txq.lastUsedIdx + txq.size + 1) & 0xffff);
      },
      true,
    );
    expectOneLineError(r, /^condis bench: ERR_CONDIS_RING_USED_IDX_TOO_FAR: queue 3 \(transmitq 1\) stopped/);
    // Not after a 5 s step timeout, nor 1000 tries of 20 ms to get receives held.
    expect(r.afterFaultMs).toBeLessThan(800);
  }, 60_000);
});
