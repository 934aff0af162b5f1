import { describe, expect, it } from 'vitest';
import { Drain, Mailbox, ManualClock, ManualScheduler } from '../../../lib/ndis';

describe('Drain (counter with a stop bit)', () => {
  it('refuses new sends once stopping; the last release completes the stop once', () => {
    let drained = 0;
    const d = new Drain(() => drained++);
    expect(d.tryAcquireTx(2)).toBe(true);
    d.acquireRx(1);
    d.beginStop();
    expect(d.tryAcquireTx(1)).toBe(false);
    d.acquireRx(1); // a deactivating miniport may still flush receives
    d.releaseTx(2);
    d.releaseRx(1);
    expect(drained).toBe(0);
    d.releaseRx(1);
    expect(drained).toBe(1);
    expect(d.idle).toBe(true);
  });

  it('does not fire when not stopping; deferred release fires only on poll', () => {
    let drained = 0;
    const d = new Drain(() => drained++);
    d.tryAcquireTx(1);
    d.releaseTx(1);
    expect(drained).toBe(0);
    d.acquireRx(1);
    d.beginStop();
    d.releaseRxDeferred(1);
    expect(drained).toBe(0);
    d.poll();
    expect(drained).toBe(1);
  });
});

describe('Mailbox (run to completion)', () => {
  it('queues messages posted while held, FIFO, after the holder finishes', () => {
    const m = new Mailbox();
    const seen: string[] = [];
    m.hold(() => {
      m.post(() => seen.push('a'));
      m.hold(() => m.post(() => seen.push('b'))); // nested hold: still queued
      seen.push('holder');
    });
    expect(seen).toEqual(['holder', 'a', 'b']);
    m.post(() => seen.push('now'));
    expect(seen.at(-1)).toBe('now');
  });
});

describe('ManualClock and ManualScheduler', () => {
  it('fire timers in deadline order only when advanced', () => {
    const c = new ManualClock();
    const fired: number[] = [];
    c.setTimer(20, () => fired.push(20));
    const t = c.setTimer(5, () => fired.push(5));
    c.setTimer(10, () => fired.push(10));
    c.clearTimer(t);
    c.advance(15);
    expect(fired).toEqual([10]);
    expect(c.now()).toBe(15);
    c.advance(5);
    expect(fired).toEqual([10, 20]);
  });

  it('runs tasks FIFO including those scheduled by tasks', () => {
    const s = new ManualScheduler();
    const seen: number[] = [];
    s.schedule(() => {
      seen.push(1);
      s.schedule(() => seen.push(3));
    });
    s.schedule(() => seen.push(2));
    expect(s.runAll()).toBe(3);
    expect(seen).toEqual([1, 2, 3]);
  });
});
