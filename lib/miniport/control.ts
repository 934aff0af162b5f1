/**
 * Control path: the VC lifecycle handlers of the miniport (MiniportCoCreateVc, MiniportCoDeleteVc,
 * MiniportCoActivateVc, MiniportCoDeactivateVc, and condis-tap's MiniportCoAbortVc deadline hook)
 * and the device closed under the miniport. How a drain ends (SUCCESS or aborted) is drain.ts;
 * data-path work is send.ts and receive.ts.
 *
 * Layer: the top of lib/miniport below the facade: on state.ts, vc.ts, send.ts, drain.ts,
 * interrupt.ts and the medium's parameters (lib/medium/params.ts); only adapter.ts imports it.
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
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  type NdisStatus,
} from '../ndis/status';
import { abortVc, teardown } from './drain';
import { servicePair } from './interrupt';
import { abortSends } from './send';
import type { AdapterState } from './state';
import { MiniportVc, type QueuePair, VcState } from './vc';

/**
 * MiniportCoCreateVc.
 * Enters: Inactive (no pair, nothing in flight).
 * Allowed afterwards: activation, deletion.
 * Results: SUCCESS with the VC context; never PENDING (fatal, E7); RESOURCES is never needed
 * (the context is a small object; queue pairs are only taken at activation).
 */
export function coCreateVc(st: AdapterState, ndisVcHandle: NdisVcHandle): ContextResult {
  const vc = new MiniportVc(ndisVcHandle);
  st.addVc(vc);
  return { status: NDIS_STATUS_SUCCESS, context: vc };
}

/**
 * MiniportCoDeleteVc.
 * Requires: Inactive (NDIS refuses NdisCoDeleteVc on an active or deactivating VC, spec §2.3).
 * Enters: gone; the context is never used again.
 * Results: SUCCESS only (may not fail, may not pend).
 */
export function coDeleteVc(st: AdapterState, vc: MiniportVc): NdisStatus {
  st.deleteVc(vc);
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
 * queue pair 1..N-1); INVALID_STATE (the device refused the binding: its error, code kept, is
 * in vc.lastActivateError and the trace, see refusedByDevice).
 */
export function coActivateVc(st: AdapterState, vc: MiniportVc, params: CoCallParameters): NdisStatus {
  vc.lastActivateError = undefined;
  const vid = vidOf(params);
  if (vid === undefined) return NDIS_STATUS_INVALID_DATA;
  if (maxFrameOf(params, st.frameCapacity, false) < 0) return NDIS_STATUS_INVALID_DATA;
  if (vc.state === VcState.Active) {
    if (vid !== vc.vid) return NDIS_STATUS_INVALID_DATA;
    vc.maxFrame = maxFrameOf(params, st.frameCapacity, true);
    vc.params = params;
    return NDIS_STATUS_SUCCESS;
  }
  if (vc.state !== VcState.Inactive) return NDIS_STATUS_INVALID_STATE; // NDIS refuses this first (CLOSING)
  // One VC per VID; for VID 0 this is also "one VC on pair 0" (pair 0 is held iff VID 0 is).
  if (st.vidClaimed(vid)) return NDIS_STATUS_INVALID_DATA;
  let pair: QueuePair | undefined;
  if (vid === UNTAGGED_VID) {
    // Pair 0 needs no binding: the device steers every untagged frame to it.
    pair = st.pairs[0] ?? undefined;
    if (pair === undefined) return NDIS_STATUS_INVALID_DATA; // pair 0 is not this miniport's to lend
  } else {
    pair = st.takeFreePair();
    if (pair === undefined) return NDIS_STATUS_RESOURCES;
    st.reclaimRx(pair); // before bindPair re-enables its rings
    try {
      st.device.bindPair(pair.index, vid);
    } catch (e) {
      st.releasePair(pair);
      refusedByDevice(st, vc, e, vid, pair.index);
      return NDIS_STATUS_INVALID_STATE;
    }
  }
  pair.vc = vc;
  vc.pair = pair;
  vc.vid = vid;
  st.claimVid(vid, vc);
  vc.maxFrame = maxFrameOf(params, st.frameCapacity, true);
  vc.params = params;
  vc.state = VcState.Active;
  pair.fillRx();
  st.device.publish(pair.rxq);
  // Ask for the first interrupts (a fresh or reset queue has used_event 0 anyway).
  pair.rxq.enableInterrupts();
  pair.txq.enableInterrupts();
  return NDIS_STATUS_SUCCESS;
}

/**
 * The device refused to bind `pair` to `vid` (Device.bindPair threw: ERR_CONDIS_VID_IN_USE,
 * ERR_CONDIS_PAIR_IN_USE, ERR_CONDIS_DEVICE_CLOSED, an errno name...). NDIS gets INVALID_STATE,
 * the status its activation rules expect, which has no room for why; the why is kept with its
 * code where the VC's owner and a trace reader find it: `vc.lastActivateError`, a CondisError
 * with the device's code (and errno and syscall, for an OS failure), details {vid, pair} and the
 * device's error as its cause; and a 'MiniportCoActivateVc' note in the NDIS trace naming the code.
 */
function refusedByDevice(st: AdapterState, vc: MiniportVc, e: unknown, vid: number, pair: number): void {
  const cause = e as { code?: unknown; errno?: unknown; syscall?: unknown; message?: unknown } | null;
  // An error without a code is no refusal of the device's but a fault: named as fromNative does.
  const code = typeof cause?.code === 'string' ? cause.code : 'ERR_CONDIS_INTERNAL';
  const why = typeof cause?.message === 'string' ? cause.message : String(e);
  const err = new CondisError(
    code,
    `activation of the VC on VID ${vid} failed: the device refused to bind queue pair ${pair}: ${why}`,
    { ...(e instanceof CondisError ? e.details : {}), vid, pair },
    { cause: e },
  );
  if (typeof cause?.errno === 'number') err.errno = cause.errno;
  if (typeof cause?.syscall === 'string') err.syscall = cause.syscall;
  vc.lastActivateError = err;
  st.ndis.trace?.record({
    kind: 'note',
    from: 'Miniport',
    to: 'NDIS',
    name: 'MiniportCoActivateVc',
    vc: st.ndis.vcInfo(vc.ndisVcHandle)?.slot,
    detail: code,
  });
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
 * MiniportReturnNetBufferLists (drain.ts checkDrain). A dead backend, a NEEDS_RESET queue or the
 * device closed under the miniport aborts the drain (drain.ts abortVc), as does NDIS's deadline
 * hook (coAbortVc).
 */
export function coDeactivateVc(st: AdapterState, vc: MiniportVc): NdisStatus {
  if (vc.state !== VcState.Active || vc.pair === null) return NDIS_STATUS_INVALID_STATE;
  vc.state = VcState.Draining;
  // Take what the device has already finished, so a VC that is idle by now completes
  // synchronously; holding the drain's end keeps checkDrain from completing it through NDIS
  // meanwhile.
  st.holdDrainEnd(vc);
  try {
    servicePair(st, vc.pair);
  } finally {
    st.releaseDrainEnd();
  }
  if (vc.drained) {
    teardown(st, vc);
    vc.counters.deactivations++;
    vc.lastDeactivateStatus = NDIS_STATUS_SUCCESS;
    return NDIS_STATUS_SUCCESS;
  }
  st.stopReceive(vc.pair);
  if (st.backendLost) {
    // The medium is already gone: do not wait for a drain that relies on it.
    queueMicrotask(() => abortVc(st, vc, st.backendLost!));
  }
  return NDIS_STATUS_PENDING;
}

/**
 * condis-tap's MiniportCoAbortVc (no NDIS counterpart): NDIS's deactivation deadline passed.
 * Aborts the drain (abortVc) with ERR_CONDIS_DRAIN_TIMEOUT.
 */
export function coAbortVc(st: AdapterState, vc: MiniportVc): void {
  if (vc.state !== VcState.Draining) return;
  abortVc(
    st,
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
export function deviceClosed(st: AdapterState): void {
  for (const vc of st.vcs) {
    const pair = vc.pair;
    if (pair === null) continue;
    if (vc.state === VcState.Draining) {
      abortVc(
        st,
        vc,
        new CondisError(
          'ERR_CONDIS_DEVICE_CLOSED',
          `the device was closed while VC on VID ${vc.vid} was draining`,
        ),
      );
    } else {
      abortSends(st, vc, pair);
    }
  }
}
