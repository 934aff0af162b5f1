/**
 * The miniport's interrupt work on one queue pair (MiniportInterruptDPC's body): harvest both
 * queues until they are empty and interrupts are back on, and let a draining VC's drain end.
 *
 * Layer: on the data path (send.ts harvestTx, receive.ts harvestRx), drain.ts, state.ts and
 * vc.ts; called by adapter.ts (the device's coalesced interrupt) and by control.ts
 * (coDeactivateVc takes what the device has already finished before it decides to pend).
 */
import { checkDrain } from './drain';
import { harvestRx } from './receive';
import { harvestTx } from './send';
import type { AdapterState } from './state';
import { type QueuePair, VcState } from './vc';

/**
 * Harvests both queues of a bound pair until they are empty and interrupts are re-enabled
 * (FramePort.poll's loop), then lets a draining VC complete. Transmit interrupts are delayed
 * to 3/4 of what is in flight, as Linux's virtqueue_enable_cb_delayed: every chain completes,
 * so the interrupt always comes. A queue stopped on an impossible used entry yields nothing
 * and reports no work, so the loop ends; the Device's 'ringError' (adapter.ts) follows.
 */
export function servicePair(st: AdapterState, pair: QueuePair): void {
  for (;;) {
    const vc = pair.vc;
    if (vc === null) return;
    const t = harvestTx(st, vc, pair);
    if (pair.vc !== vc) return;
    const r = harvestRx(st, vc, pair);
    if (pair.vc !== vc) return;
    if (vc.state === VcState.Draining && vc.drained) {
      checkDrain(st, vc);
      if (pair.vc !== vc) return;
    }
    if (t === 0 && r === 0) {
      const txDelay = (pair.txq.inFlight() * 3) >>> 2;
      const more = pair.txq.enableInterrupts(txDelay) || pair.rxq.enableInterrupts();
      if (!more) return;
    }
  }
}
