/**
 * Injected time (DESIGN "Rules of the house"): the runtime never reads the wall clock or sets a
 * timer itself. Tests use ManualClock and advance it; production uses systemClock.
 */
/** A timer set by Clock.setTimer, for clearTimer. */
export type TimerId = number;

/** A time source: what `new Ndis({ clock })` reads for trace stamps and the drain deadline. */
export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Run `fn` once, `ms` from now. */
  setTimer(ms: number, fn: () => void): TimerId;
  clearTimer(id: TimerId): void;
}

/** Wall time: performance.now() and setTimeout, both portable (Node, browsers, Deno). */
export const systemClock: Clock = (() => {
  const timers = new Map<TimerId, ReturnType<typeof setTimeout>>();
  let next = 1;
  return {
    now: () => globalThis.performance.now(),
    setTimer(ms, fn) {
      const id = next++;
      timers.set(
        id,
        setTimeout(() => {
          timers.delete(id);
          fn();
        }, ms),
      );
      return id;
    },
    clearTimer(id) {
      const t = timers.get(id);
      if (t !== undefined) clearTimeout(t);
      timers.delete(id);
    },
  };
})();

interface ManualTimer {
  id: TimerId;
  at: number;
  fn: () => void;
}

/** A simulated clock: time moves only when the test calls advance(). */
export class ManualClock implements Clock {
  private t: number;
  private nextId = 1;
  private timers: ManualTimer[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): TimerId {
    const id = this.nextId++;
    this.timers.push({ id, at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(id: TimerId): void {
    this.timers = this.timers.filter((t) => t.id !== id);
  }

  /** Number of timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Move time forward by `ms`, firing due timers in deadline order (ties in creation order). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let due: ManualTimer | undefined;
      for (const t of this.timers) if (t.at <= end && (!due || t.at < due.at)) due = t;
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
}
