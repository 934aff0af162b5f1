/**
 * A per-VC run-to-completion mailbox (XState's Mailbox, reduced to what NDIS needs).
 *
 * A request on a VC (say NdisCmActivateVc) runs its transition and calls the driver's handler
 * inside `hold()`. A completion that arrives while the VC is held (a miniport that calls
 * NdisMCoActivateVcComplete from inside MiniportCoActivateVc, before returning PENDING) is queued
 * and processed only once the request has recorded the handler's answer, so every message sees
 * a finished transition. Nested requests on the same VC (a CM activating from inside its
 * ProtocolCmMakeCall) run at once: they must return a status synchronously.
 */
export class Mailbox {
  private depth = 0;
  private readonly queue: Array<() => void> = [];

  get busy(): boolean {
    return this.depth > 0;
  }

  /** Run `fn` with the VC held; queued messages run when the outermost hold ends. */
  hold<T>(fn: () => T): T {
    this.depth++;
    try {
      return fn();
    } finally {
      this.release();
    }
  }

  /** Process `message` now if the VC is not held, otherwise after the current holder finishes. */
  post(message: () => void): void {
    if (this.depth > 0) {
      this.queue.push(message);
      return;
    }
    this.hold(message);
  }

  private release(): void {
    if (this.depth > 1) {
      this.depth--;
      return;
    }
    // Still held while draining, so messages posted by messages queue behind them (FIFO).
    try {
      for (let m = this.queue.shift(); m; m = this.queue.shift()) m();
    } finally {
      this.depth--;
    }
  }
}
