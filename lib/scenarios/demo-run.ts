/**
 * The plumbing of one demo run (lib/scenarios/demo.ts): the caller's AbortSignal (Ctrl-C in the
 * CLI) raced by every wait, the teardown stack of what the run created, and event-driven waits —
 * a condition re-checked whenever something that moves it signals (`poke`), raced by a deadline.
 * Nothing here polls: a waiter that nobody pokes runs into its deadline.
 *
 * Layer: scenarios (above the drivers, the clients and the host plumbing, below the CLI). No NDIS.
 */

/** Deadline of one wait for the traffic of a step. */
export const STEP_TIMEOUT_MS = 15_000;

/** A rejection of `guard`: the signal fired (runDemo turns it into its DemoInterrupted). */
class Aborted extends Error {}

interface Waiter {
  readonly cond: () => boolean;
  readonly done: () => void;
  readonly fail: (e: Error) => void;
}

/** One run; `Step` names its steps ('setup' before the first). */
export class DemoRun<Step extends string = string> {
  step: Step | 'setup' = 'setup';
  /** What the teardown removed (named entries only). */
  readonly removed: string[] = [];
  private readonly undo: Array<{ what: string; fn: () => void | Promise<void> }> = [];
  private readonly waiters = new Set<Waiter>();
  private readonly aborted: Promise<never>;
  private onAbort: (() => void) | null = null;
  private pokeQueued = false;

  constructor(
    readonly signal: AbortSignal | undefined,
    /** A teardown entry that failed (the rest still run). */
    private readonly onCleanupError: (what: string, e: Error) => void,
  ) {
    this.aborted = new Promise<never>((_, reject) => {
      if (!signal) return;
      const fire = () => {
        reject(new Aborted());
        this.failWaiters(new Aborted());
      };
      if (signal.aborted) fire();
      else {
        this.onAbort = fire;
        signal.addEventListener('abort', fire, { once: true });
      }
    });
    this.aborted.catch(() => {});
  }

  /** `p`, or a rejection as soon as the signal fires. */
  guard<T>(p: Promise<T>): Promise<T> {
    return this.signal ? Promise.race([p, this.aborted]) : p;
  }

  /**
   * Resolves once `cond()` holds: checked now and at every `poke`; rejects after `ms` (or when
   * the run is aborted). Whoever changes what `cond` reads must poke.
   */
  when(cond: () => boolean, what: string, ms = STEP_TIMEOUT_MS): Promise<void> {
    if (this.signal?.aborted) return Promise.reject(new Aborted());
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      const w: Waiter = {
        cond,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
        fail: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.add(w);
    });
  }

  /** Something a waiter may wait for changed: re-check every waiter (synchronously). */
  readonly poke = (): void => {
    this.pokeQueued = false;
    for (const w of this.waiters) {
      if (w.cond()) {
        this.waiters.delete(w);
        w.done();
      }
    }
  };

  /**
   * `poke` once the current microtasks ran. A device interrupt calls this: NDIS delivers the
   * completions the interrupt caused in microtasks queued during it, which then run first.
   */
  readonly pokeSoon = (): void => {
    if (this.pokeQueued || this.waiters.size === 0) return;
    this.pokeQueued = true;
    queueMicrotask(this.poke);
  };

  /** Remember how to undo something just created; `what` names it in `removed` ('' : unnamed). */
  defer(what: string, fn: () => void | Promise<void>): void {
    this.undo.push({ what, fn });
  }

  /** Undoes everything deferred, newest first; each failure is reported and the rest still run. */
  async teardown(): Promise<void> {
    for (let u = this.undo.pop(); u; u = this.undo.pop()) {
      try {
        await u.fn();
        if (u.what) this.removed.push(u.what);
      } catch (e) {
        this.onCleanupError(u.what, e as Error);
      }
    }
  }

  /** After the run: stop listening to the signal, fail the waits still pending. */
  dispose(): void {
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    this.onAbort = null;
    this.failWaiters(new Error('the demo ended'));
  }

  private failWaiters(e: Error): void {
    for (const w of this.waiters) w.fail(e);
    this.waiters.clear();
  }
}
