/**
 * Where "later task turns" come from. Every completion NDIS delivers to a driver runs from a task
 * given to the scheduler, never inside the call that caused it (spec §8). Injectable so that tests
 * can run every turn by hand, deterministically.
 */
export interface Scheduler {
  schedule(task: () => void): void;
}

/** Default: one microtask per task. */
export const microtaskScheduler: Scheduler = {
  schedule: (task) => queueMicrotask(task),
};

/** A FIFO of tasks that run only when the test says so. */
export class ManualScheduler implements Scheduler {
  private queue: Array<() => void> = [];

  schedule(task: () => void): void {
    this.queue.push(task);
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Run the oldest task; false when there was none. */
  runNext(): boolean {
    const task = this.queue.shift();
    if (!task) return false;
    task();
    return true;
  }

  /** Run tasks (including those they schedule) until none is left; returns how many ran. */
  runAll(limit = 1_000_000): number {
    let n = 0;
    while (this.runNext()) {
      if (++n >= limit) throw new Error(`ManualScheduler.runAll: more than ${limit} tasks (a livelock?)`);
    }
    return n;
  }
}
