// lib/bench/run-delay: the tail attribution of the drain benchmark (issue 12 point 3).
import { describe, expect, it } from 'vitest';
import { attributeTail, type DelaySnapshot, delayBetween, delaySnapshot } from '../../../lib/bench/run-delay';

const d = (waitUs: number, otherUs = 0, stealUs = 0): DelaySnapshot => ({
  waitNs: waitUs * 1000,
  otherRunNs: otherUs * 1000,
  machineBusyNs: 0,
  selfRunNs: 0,
  stealNs: stealUs * 1000,
});

describe('run-delay', () => {
  it('attributes the slowest 1% of iterations: their drain, the median, what they waited for a CPU and who had it', () => {
    // 199 quick iterations and one 2,000 us one that spent 1,900 us in the run queue.
    const samples: [number, DelaySnapshot][] = Array.from({ length: 199 }, (_, i) => [30 + (i % 3), d(0)]);
    samples.push([2000, d(1900, 1700)]);
    const t = attributeTail(samples)!;
    expect(t.iterations).toBe(2); // p99 of 200 and above: the two slowest
    expect(t.medianUs).toBe(31);
    expect(t.drainUs).toBe((2000 + 32) / 2);
    expect(t.runQueueUs).toBe(950);
    expect(t.otherThreadsUs).toBe(850);
    expect(t.stealUs).toBe(0);
    expect(attributeTail([])).toBeNull();
  });

  it('reads this process: the JS thread is counted, and the clocks only go forward', () => {
    const a = delaySnapshot();
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += i; // some CPU time of our own
    const b = delaySnapshot();
    expect(x).toBeGreaterThan(0);
    const diff = delayBetween(a, b);
    expect(diff.selfRunNs).toBeGreaterThan(0);
    for (const v of Object.values(diff)) expect(v).toBeGreaterThanOrEqual(0);
  });
});
