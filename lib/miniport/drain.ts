/**
 * The end of a drain, either way: a draining VC's counters reach zero (checkDrain: the pair is
 * torn down and the pended deactivation completes SUCCESS), or the drain cannot finish (abortVc:
 * every send completes aborted, the VC is re-armed Active, the deactivation completes
 * REQUEST_ABORTED). The deactivation itself starts in control.ts (coDeactivateVc).
 *
 * Layer: on state.ts, vc.ts and send.ts (to complete what the VC still holds). Called from below
 * the VC lifecycle by the data path — receive.ts (a return), interrupt.ts (a transmit harvest) —
 * and from above by control.ts (a synchronous deactivation, the deadline, the device closed) and
 * adapter.ts (a lost backend, a ring error). It lives apart from control.ts so that the data path
 * can end a drain without importing the lifecycle that imports it.
 */
import { CondisError } from '../errors';
import { NDIS_STATUS_REQUEST_ABORTED, NDIS_STATUS_SUCCESS } from '../ndis/status';
import { abortSends, abortSoftwareQueue, completeAbortedChains } from './send';
import type { AdapterState } from './state';
import { type MiniportVc, VcState, vcStateName } from './vc';

/**
 * The end of a drain: called from the transmit harvest and from MiniportReturnNetBufferLists
 * after they lowered a Draining VC's counters. When both are zero, the pair is torn down and the
 * pended deactivation completes with SUCCESS (st.deactivated: NdisMCoDeactivateVcComplete, or
 * the owner's onDeactivated). Does nothing while the drain's end is held for the VC
 * (st.holdDrainEnd): inside coDeactivateVc (which returns SUCCESS itself) and inside an abort.
 */
export function checkDrain(st: AdapterState, vc: MiniportVc): void {
  if (vc.state !== VcState.Draining || !vc.drained || st.drainEndHeld(vc)) return;
  teardown(st, vc);
  vc.counters.deactivations++;
  vc.lastDeactivateStatus = NDIS_STATUS_SUCCESS;
  st.deactivated(vc, NDIS_STATUS_SUCCESS);
}

/**
 * Stops the pair (a tagged pair is unbound, so the host's frames for the VID are from now on
 * dropped by the device and counted as rxUnboundVid; pair 0 has its two queues reset), takes
 * back every receive buffer still posted (the transmitq is empty, the drain saw to that) and
 * frees the pair. Enters Inactive: the parameters are void (spec §1.2-C).
 */
export function teardown(st: AdapterState, vc: MiniportVc): void {
  const pair = vc.pair!;
  let ntx: number;
  if (pair.index !== 0 && !st.device.closed) {
    // The common case, on the path of every deactivation's completion: one native call, and the
    // receive ring's posted buffers are taken back after the completion (stopPairDeferRx).
    ntx = st.stopPairDeferRx(pair, pair.tokens);
  } else {
    let nrx: number;
    [nrx, ntx] = st.quiescePair(pair.index, pair.lens, pair.tokens);
    pair.rxPool.freeMany(pair.lens, nrx);
  }
  abortSoftwareQueue(st, vc); // after a real drain both are empty: nothing completes here
  completeAbortedChains(st, vc, pair, ntx);
  pair.vc = null;
  vc.pair = null;
  st.releaseVid(vc.vid);
  vc.vid = 0;
  vc.params = undefined;
  vc.state = VcState.Inactive;
  // Pair 0 is never on the free list: only VID 0 names it, and it is free again when pair.vc is null.
  st.releasePair(pair);
}

/**
 * Abort a drain that cannot finish (dead backend, NEEDS_RESET queue, NDIS deadline, device
 * closed):
 * 1. every send is completed now: the software queue, and the ring through a transmitq reset
 *    (its in-flight chains come back as tokens) — SEND_ABORTED;
 * 2. the receiveq is reset: buffers still posted come back to the pool (their frames, if any,
 *    are dropped);
 * 3. the adapter emits 'vcAbort' with a CondisError whose code says why (ERR_CONDIS_BACKEND_LOST,
 *    ERR_CONDIS_RING_*, ERR_CONDIS_DRAIN_TIMEOUT, ERR_CONDIS_DEVICE_CLOSED) and details {vid,
 *    pair, txAborted, rxHeld}, and the NDIS trace gets a 'MiniportAbortVc' note with that code;
 * 4. the deactivation completes with NDIS_STATUS_REQUEST_ABORTED (st.deactivated). A failed
 *    deactivation puts the VC back to ACTIVE (spec A11, U2), so the miniport re-arms it: Active
 *    again, same pair and VID, receive buffers posted. Receives the protocol still holds stay
 *    counted in rxHeld and are re-posted when returned. The call manager may retry the
 *    deactivation; nothing being in flight any more, it then completes at once.
 */
export function abortVc(st: AdapterState, vc: MiniportVc, why: CondisError): void {
  if (vc.state !== VcState.Draining || vc.pair === null) return;
  const pair = vc.pair;
  const inFlight = vc.txInFlight;
  st.holdDrainEnd(vc); // completions below must not finish the drain with SUCCESS
  try {
    abortSends(st, vc, pair);
    const n = st.resetQueue(pair.rxq.index, pair.tokens);
    pair.rxPool.freeMany(pair.tokens, n);
  } finally {
    st.releaseDrainEnd();
  }
  vc.counters.aborts++;
  vc.state = VcState.Active;
  pair.fillRx();
  st.device.publish(pair.rxq);
  pair.rxq.enableInterrupts();
  pair.txq.enableInterrupts();
  const err = new CondisError(why.code, `deactivation of the VC on VID ${vc.vid} aborted: ${why.message}`, {
    ...why.details,
    vid: vc.vid,
    pair: pair.index,
    txAborted: inFlight,
    rxHeld: vc.rxHeld,
    state: vcStateName(vc.state),
  });
  st.ndis.trace?.record({
    kind: 'note',
    from: 'Miniport',
    to: 'NDIS',
    name: 'MiniportAbortVc',
    detail: why.code,
  });
  vc.lastDeactivateStatus = NDIS_STATUS_REQUEST_ABORTED;
  st.reportAbort(err);
  st.deactivated(vc, NDIS_STATUS_REQUEST_ABORTED);
}
