/**
 * The plumbing of one demo run (lib/scenarios/demo.ts): the caller's AbortSignal (Ctrl-C in the
 * CLI) raced by every wait, the teardown stack of what the run created, and `poll`, the wait for
 * a node's state: the demo sees its nodes only through their control requests (a node may be
 * another process), so it asks again until the answer holds or a deadline passes.
 *
 * Layer: scenarios (above the drivers, the clients and the host plumbing, below the CLI). No NDIS.
 */

import { CondisError } from '../errors';

/** Deadline of one wait for the traffic of a step. */
export const STEP_TIMEOUT_MS = 15_000;

/** A rejection of `guard`: the signal fired (runDemo turns it into its DemoInterrupted). */
class Aborted extends Error {}

/** One run; `Step` names its steps ('setup' before the first). */
export class DemoRun<Step extends string = string> {
  step: Step | 'setup' = 'setup';
  /** What the teardown removed (named entries only). */
  readonly removed: string[] = [];
  private readonly undo: Array<{ what: string; fn: () => void | Promise<void> }> = [];
  private readonly aborted: Promise<never>;
  private onAbort: (() => void) | null = null;

  constructor(
    readonly signal: AbortSignal | undefined,
    /** A teardown entry that failed (the rest still run). */
    private readonly onCleanupError: (what: string, e: Error) => void,
  ) {
    this.aborted = new Promise<never>((_, reject) => {
      if (!signal) return;
      const fire = () => reject(new Aborted());
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
   * Resolves with `check()`'s first non-null value, asked now and then every `everyMs` (each ask
   * awaited: a control request, not a busy loop); rejects after `ms` or when the run is aborted.
   */
  async poll<T>(check: () => Promise<T | null>, what: string, ms = STEP_TIMEOUT_MS, everyMs = 5): Promise<T> {
    const end = performance.now() + ms;
    for (;;) {
      const v = await this.guard(check());
      if (v !== null) return v;
      if (performance.now() >= end)
        throw new CondisError('ERR_CONDIS_DEMO_FAILED', `timed out waiting for ${what}`);
      await this.guard(new Promise((r) => setTimeout(r, everyMs)));
    }
  }

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

  /** After the run: stop listening to the signal. */
  dispose(): void {
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    this.onAbort = null;
  }
}
