/**
 * Control path: the VC lifecycle handlers of the miniport (MiniportCoCreateVc, MiniportCoDeleteVc,
 * MiniportCoActivateVc, MiniportCoDeactivateVc, and condis-tap's MiniportCoAbortVc deadline hook),
 * the end of a drain, and the abort path. Data-path work lives in send.ts and receive.ts.
 *
 * A VC owns a queue pair from its first successful activation until its deactivation completes:
 * - a tagged VC (VID 1..4094) takes a free pair 1..N-1: activation binds the pair to the VID and
 *   posts its receive buffers; a drained deactivation unbinds the pair and stops both queues
 *   (Device.quiescePair: every buffer is the driver's again) and returns the pair to the free list;
 * - the untagged VC (VID 0, lib/medium/params.ts) takes pair 0: no binding (untagged frames always
 *   go there; Device.bindPair refuses pair 0), receive buffers posted the same way; its drained
 *   deactivation resets both queues one by one (Device.quiescePair refuses pair 0, and there is
 *   no VID to unbind) and pair 0 is free for the next VID-0 activation. It is never on the free
 *   list: only VID 0 names it.
 */
import { CondisError } from '../errors';
import { maxFrameOf, UNTAGGED_VID, vidOf } from '../medium/params';
import type { ContextResult, NdisVcHandle } from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import {
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_INVALID_STATE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  type NdisStatus,
} from '../ndis/status';
import type { MiniportAdapter } from './adapter';
import type { QueuePair } from './pair';
import { abortSends, abortSoftwareQueue, completeAbortedChains } from './send';
import { MiniportVc, VcState, vcStateName } from './vc';

/**
 * MiniportCoCreateVc.
 * Enters: Inactive (no pair, nothing in flight).
 * Allowed afterwards: activation, deletion.
 * Results: SUCCESS with the VC context; never PENDING (fatal, E7); RESOURCES is never needed
 * (the context is a small object; queue pairs are only taken at activation).
 */
export function coCreateVc(ad: MiniportAdapter, ndisVcHandle: NdisVcHandle): ContextResult {
  const vc = new MiniportVc(ndisVcHandle);
  ad.vcs.add(vc);
  return { status: NDIS_STATUS_SUCCESS, context: vc };
}

/**
 * MiniportCoDeleteVc.
 * Requires: Inactive (NDIS refuses NdisCoDeleteVc on an active or deactivating VC, spec §2.3).
 * Enters: gone; the context is never used again.
 * Results: SUCCESS only (may not fail, may not pend).
 */
export function coDeleteVc(ad: MiniportAdapter, vc: MiniportVc): NdisStatus {
  ad.vcs.delete(vc);
  return NDIS_STATUS_SUCCESS;
}

/**
 * MiniportCoActivateVc.
 * From Inactive: takes a free queue pair, binds it to the VID of the parameters, posts every
 * receive buffer of the pair, enters Active.
 * From Active (re-activation, A6, no deactivation in between): keeps the pair; adopts the new
 * parameters if they are acceptable, otherwise fails and the old ones stay in force (A8). The VID
 * is the VC's identity on the wire, so a re-activation naming another VID is refused.
 * Allowed while Active: sends, receives, re-activation, deactivation.
 * VID 0 takes pair 0 instead of a free pair, and binds nothing (see the top of this file).
 * Results (always synchronous): SUCCESS; INVALID_DATA (no/invalid VID, VID already carried by
 * another VC — for VID 0: pair 0 already held —, VID 0 on an adapter that does not lend pair 0,
 * another VID on re-activation, maxSduSize too large without ROUND_DOWN_FLOW); RESOURCES (no free
 * queue pair 1..N-1); INVALID_STATE (the device refused the binding).
 */
export function coActivateVc(ad: MiniportAdapter, vc: MiniportVc, params: CoCallParameters): NdisStatus {
  const vid = vidOf(params);
  if (vid === undefined) return NDIS_STATUS_INVALID_DATA;
  if (maxFrameOf(params, ad.frameCapacity, false) < 0) return NDIS_STATUS_INVALID_DATA;
  if (vc.state === VcState.Active) {
    if (vid !== vc.vid) return NDIS_STATUS_INVALID_DATA;
    vc.maxFrame = maxFrameOf(params, ad.frameCapacity, true);
    vc.params = params;
    return NDIS_STATUS_SUCCESS;
  }
  if (vc.state !== VcState.Inactive) return NDIS_STATUS_INVALID_STATE; // NDIS refuses this first (CLOSING)
  // One VC per VID; for VID 0 this is also "one VC on pair 0" (pair 0 is held iff VID 0 is).
  if (ad.vcByVid.has(vid)) return NDIS_STATUS_INVALID_DATA;
  let pair: QueuePair | undefined;
  if (vid === UNTAGGED_VID) {
    // Pair 0 needs no binding: the device steers every untagged frame to it.
    pair = ad.pairs[0] ?? undefined;
    if (pair === undefined) return NDIS_STATUS_INVALID_DATA; // pair 0 is not this miniport's to lend
  } else {
    pair = ad.freePairs.pop();
    if (pair === undefined) return NDIS_STATUS_RESOURCES;
    ad.reclaimRx(pair); // before bindPair re-enables its rings
    try {
      ad.device.bindPair(pair.index, vid);
    } catch {
      ad.freePairs.push(pair);
      return NDIS_STATUS_INVALID_STATE;
    }
  }
  pair.vc = vc;
  vc.pair = pair;
  vc.vid = vid;
  ad.vcByVid.set(vid, vc);
  vc.maxFrame = maxFrameOf(params, ad.frameCapacity, true);
  vc.params = params;
  vc.state = VcState.Active;
  pair.fillRx();
  ad.device.publish(pair.rxq);
  // Ask for the first interrupts (a fresh or reset queue has used_event 0 anyway).
  pair.rxq.enableInterrupts();
  pair.txq.enableInterrupts();
  return NDIS_STATUS_SUCCESS;
}

/**
 * MiniportCoDeactivateVc.
 * Enters: Draining. No new receive is indicated: the pair's receive queue is stopped at once
 * (frames still arriving are dropped by the device, counted), sends
 * already accepted keep going out (the software queue drains into the ring); NDIS itself refuses
 * new sends (CLOSING, §4.3).
 * Results: SUCCESS when nothing is outstanding — the pair is then unbound, reset and freed before
 * returning; otherwise PENDING, and NdisMCoDeactivateVcComplete(SUCCESS) comes from whichever
 * event brings the last count to zero: a transmit harvest (interrupt) or
 * MiniportReturnNetBufferLists (see checkDrain). A dead backend, a NEEDS_RESET queue or the device
 * closed under the miniport aborts the drain (abortVc), as does NDIS's deadline hook (coAbortVc).
 */
export function coDeactivateVc(ad: MiniportAdapter, vc: MiniportVc): NdisStatus {
  if (vc.state !== VcState.Active || vc.pair === null) return NDIS_STATUS_INVALID_STATE;
  vc.state = VcState.Draining;
  // Take what the device has already finished, so a VC that is idle by now completes
  // synchronously; `deactivating` keeps checkDrain from completing it through NDIS meanwhile.
  ad.deactivating = vc;
  try {
    ad.servicePair(vc.pair);
  } finally {
    ad.deactivating = null;
  }
  if (vc.drained) {
    teardown(ad, vc);
    vc.counters.deactivations++;
    vc.lastDeactivateStatus = NDIS_STATUS_SUCCESS;
    return NDIS_STATUS_SUCCESS;
  }
  ad.stopReceive(vc.pair);
  if (ad.backendLost) {
    // The medium is already gone: do not wait for a drain that relies on it.
    queueMicrotask(() => abortVc(ad, vc, ad.backendLost!));
  }
  return NDIS_STATUS_PENDING;
}

/**
 * The end of a drain: called from the transmit harvest and from MiniportReturnNetBufferLists
 * after they lowered a Draining VC's counters. When both are zero, the pair is torn down and the
 * pended deactivation completes with SUCCESS (ad.deactivated: NdisMCoDeactivateVcComplete, or
 * the owner's onDeactivated). Does nothing while `ad.deactivating` names the VC: inside
 * coDeactivateVc (which returns SUCCESS itself) and inside an abort.
 */
export function checkDrain(ad: MiniportAdapter, vc: MiniportVc): void {
  if (vc.state !== VcState.Draining || !vc.drained || ad.deactivating === vc) return;
  teardown(ad, vc);
  vc.counters.deactivations++;
  vc.lastDeactivateStatus = NDIS_STATUS_SUCCESS;
  ad.deactivated(vc, NDIS_STATUS_SUCCESS);
}

/**
 * Stops the pair (adapter.quiescePair: a tagged pair is unbound, so the host's frames for the VID
 * are from now on dropped by the device and counted as rxUnboundVid; pair 0 has its two queues
 * reset), takes back every receive buffer still posted (the transmitq is empty, the drain saw to
 * that) and frees the pair. Enters Inactive: the parameters are void (spec §1.2-C).
 */
function teardown(ad: MiniportAdapter, vc: MiniportVc): void {
  const pair = vc.pair!;
  let ntx: number;
  if (pair.index !== 0 && !ad.device.closed) {
    // The common case, on the path of every deactivation's completion: one native call, and the
    // receive ring's posted buffers are taken back after the completion (stopPairDeferRx).
    ntx = ad.stopPairDeferRx(pair, pair.tokens);
  } else {
    let nrx: number;
    [nrx, ntx] = ad.quiescePair(pair.index, pair.lens, pair.tokens);
    pair.rxPool.freeMany(pair.lens, nrx);
  }
  abortSoftwareQueue(ad, vc); // after a real drain both are empty: nothing completes here
  completeAbortedChains(ad, vc, pair, ntx);
  pair.vc = null;
  vc.pair = null;
  ad.vcByVid.delete(vc.vid);
  vc.vid = 0;
  vc.params = undefined;
  vc.state = VcState.Inactive;
  // Pair 0 is never on the free list: only VID 0 names it, and it is free again when pair.vc is null.
  if (pair.index !== 0) ad.freePairs.push(pair);
}

/**
 * condis-tap's MiniportCoAbortVc (no NDIS counterpart): NDIS's deactivation deadline passed.
 * Aborts the drain (abortVc) with ERR_CONDIS_DRAIN_TIMEOUT.
 */
export function coAbortVc(ad: MiniportAdapter, vc: MiniportVc): void {
  if (vc.state !== VcState.Draining) return;
  abortVc(
    ad,
    vc,
    new CondisError('ERR_CONDIS_DRAIN_TIMEOUT', `VC on VID ${vc.vid} did not drain before NDIS's deadline`),
  );
}

/**
 * The device stopped under the miniport (Device.close() or destroy() without MiniportHaltEx
 * first): nothing on its rings will complete any more, so a drain waiting for the hardware would
 * wait forever. Every VC with a pair gets its sends back now — chains the device finished keep
 * their status, the rest SEND_ABORTED (send.ts abortSends; the rings are reclaimed from the
 * driver side, the thread being gone) — and a draining VC's deactivation is aborted with
 * ERR_CONDIS_DEVICE_CLOSED (abortVc: it fails, the VC is Active again, held receives are
 * returned whenever the protocol gives them, and a retry completes once they are). Sends made
 * from now on fail at once (send.ts).
 */
export function deviceClosed(ad: MiniportAdapter): void {
  for (const vc of ad.vcs) {
    const pair = vc.pair;
    if (pair === null) continue;
    if (vc.state === VcState.Draining) {
      abortVc(
        ad,
        vc,
        new CondisError(
          'ERR_CONDIS_DEVICE_CLOSED',
          `the device was closed while VC on VID ${vc.vid} was draining`,
        ),
      );
    } else {
      abortSends(ad, vc, pair);
    }
  }
}

/**
 * Abort a drain that cannot finish (dead backend, NEEDS_RESET queue, NDIS deadline):
 * 1. every send is completed now: the software queue, and the ring through a transmitq reset
 *    (its in-flight chains come back as tokens) — SEND_ABORTED;
 * 2. the receiveq is reset: buffers still posted come back to the pool (their frames, if any,
 *    are dropped);
 * 3. the adapter emits 'vcAbort' with a CondisError whose code says why (ERR_CONDIS_BACKEND_LOST,
 *    ERR_CONDIS_RING_*, ERR_CONDIS_DRAIN_TIMEOUT, ERR_CONDIS_DEVICE_CLOSED) and details {vid, pair, txAborted, rxHeld},
 *    and the NDIS trace gets a 'MiniportAbortVc' note with that code;
 * 4. the deactivation completes with NDIS_STATUS_REQUEST_ABORTED (ad.deactivated). A failed
 *    deactivation puts the VC back to ACTIVE (spec A11, U2), so the miniport re-arms it: Active
 *    again, same pair and VID, receive buffers posted. Receives the protocol still holds stay counted in rxHeld and
 *    are re-posted when returned. The call manager may retry the deactivation; nothing being in
 *    flight any more, it then completes at once.
 */
export function abortVc(ad: MiniportAdapter, vc: MiniportVc, why: CondisError): void {
  if (vc.state !== VcState.Draining || vc.pair === null) return;
  const pair = vc.pair;
  const inFlight = vc.txInFlight;
  ad.deactivating = vc; // completions below must not finish the drain with SUCCESS
  try {
    abortSends(ad, vc, pair);
    const n = ad.resetQueue(pair.rxq.index, pair.tokens);
    pair.rxPool.freeMany(pair.tokens, n);
  } finally {
    ad.deactivating = null;
  }
  vc.counters.aborts++;
  vc.state = VcState.Active;
  pair.fillRx();
  ad.device.publish(pair.rxq);
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
  ad.ndis.trace?.record({
    kind: 'note',
    from: 'Miniport',
    to: 'NDIS',
    name: 'MiniportAbortVc',
    detail: why.code,
  });
  vc.lastDeactivateStatus = NDIS_STATUS_REQUEST_ABORTED;
  ad.emit('vcAbort', err);
  ad.deactivated(vc, NDIS_STATUS_REQUEST_ABORTED);
}
