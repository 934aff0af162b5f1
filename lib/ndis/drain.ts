/**
 * The drain rule of spec §2.4 as a counter with a stop bit (NetKVM's CFlowStateMachine shape):
 * - `tryAcquireTx` registers sends handed to the miniport; it fails once the stop bit is set,
 *   which is how sends posted after deactivation began never reach the miniport (E47);
 * - `acquireRx` registers receives indicated without NDIS_RECEIVE_FLAGS_RESOURCES; it does not
 *   look at the stop bit, because a deactivating miniport may still flush queued receives;
 * - the release that brings both counts to zero while stopping calls `onDrained` once.
 *
 * No allocation: two numbers, a bit and one callback set once per VC.
 */
export class Drain {
  /** NBLs handed to MiniportCoSendNetBufferLists and not yet completed. */
  txInMiniport = 0;
  /** NBLs indicated without the RESOURCES flag and not yet returned to the miniport. */
  rxHeld = 0;
  private stop = false;

  constructor(private readonly onDrained: () => void) {}

  get stopping(): boolean {
    return this.stop;
  }

  get idle(): boolean {
    return this.txInMiniport === 0 && this.rxHeld === 0;
  }

  tryAcquireTx(n: number): boolean {
    if (this.stop) return false;
    this.txInMiniport += n;
    return true;
  }

  /** Count sends even while stopping (pass-through policy: NDIS forwards regardless). */
  forceAcquireTx(n: number): void {
    this.txInMiniport += n;
  }

  releaseTx(n: number): void {
    this.txInMiniport -= n;
    this.check();
  }

  acquireRx(n: number): void {
    this.rxHeld += n;
  }

  releaseRx(n: number): void {
    this.rxHeld -= n;
    this.check();
  }

  /**
   * Release without completing the stop yet: NDIS gives the NBLs back to the miniport first and
   * then calls `poll()`, so a deactivation never completes before MiniportReturnNetBufferLists
   * has run (E44), while the miniport already sees the counter at its new value.
   */
  releaseRxDeferred(n: number): void {
    this.rxHeld -= n;
  }

  /** Complete the stop if the counters reached zero (after releaseRxDeferred). */
  poll(): void {
    this.check();
  }

  /** Set the stop bit. If nothing is outstanding the drain is complete at once. */
  beginStop(): void {
    this.stop = true;
  }

  /** Clear the stop bit (a failed deactivation, A11). */
  resume(): void {
    this.stop = false;
  }

  private check(): void {
    if (this.stop && this.txInMiniport === 0 && this.rxHeld === 0) this.onDrained();
  }
}
