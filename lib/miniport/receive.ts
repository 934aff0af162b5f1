/**
 * Data path, receive: frames harvested from a pair's receiveq are indicated up with
 * NdisMCoIndicateReceiveNetBufferLists, and MiniportReturnNetBufferLists re-posts their buffers.
 *
 * Every receive pool slot has its own preallocated NBL whose NET_BUFFER points into the slot
 * (ring memory: the protocol reads the frame where the device wrote it). A harvest batch is one
 * NBL list and one indication; a return batch is one publish (and at most one kick) per pair.
 *
 * NDIS_RECEIVE_FLAGS_RESOURCES (optional, MiniportAdapterOptions.rxResourcesThreshold): when
 * fewer buffers than the threshold remain posted after a harvest, the batch is indicated with
 * the flag, as real miniports do when they run low: the protocol must copy what it wants before
 * returning, and the buffers go straight back on the ring. Such NBLs never count in rxHeld (E45).
 *
 * Layer: on state.ts, vc.ts and drain.ts (the return that brings a draining VC to zero ends its
 * drain there); interrupt.ts and adapter.ts (which hands MiniportReturnNetBufferLists to NDIS)
 * call down into it.
 */

import { CondisError } from '../errors';
import { NDIS_RECEIVE_FLAGS_RESOURCES, type NetBufferList } from '../ndis/nbl';
import { checkDrain } from './drain';
import type { AdapterState } from './state';
import { type MiniportVc, type QueuePair, ReceiveNetBufferList, VcState } from './vc';
import { readRxVnetHdr } from './vnet-map';

/**
 * Harvests the receiveq of `pair`. Active VC: indicate every non-empty frame (one list, one
 * indication); empty buffers (frame larger than a buffer) go straight back on the ring. Draining
 * VC: frames are dropped and their buffers kept off the ring (spec §2.4 condition 3: nothing is
 * left queued in the miniport; the queue reset at the end of the drain reclaims the rest).
 * Returns the buffers harvested.
 */
export function harvestRx(st: AdapterState, vc: MiniportVc, pair: QueuePair): number {
  const q = pair.rxq;
  const n = q.harvest(pair.tokens, pair.lens, pair.tokens.length);
  if (n === 0) return 0;
  const pool = pair.rxPool;
  const c = vc.counters;
  if (vc.state !== VcState.Active) {
    pool.freeMany(pair.tokens, n);
    c.rxDiscarded += n;
    return n;
  }
  const hdr = st.hdr;
  let head: NetBufferList | null = null;
  let tail: NetBufferList | null = null;
  let count = 0;
  let reposted = 0;
  for (let i = 0; i < n; i++) {
    const slot = pair.tokens[i]!;
    const len = pair.lens[i]!;
    if (len <= hdr) {
      q.addBuffer(pool.offsetOf(slot), pool.slotSize, true, slot);
      reposted++;
      c.rxEmpty++;
      continue;
    }
    const nbl = pair.rxNbl(slot);
    nbl.firstNetBuffer!.dataLength = len - hdr;
    if (st.offloads) readRxVnetHdr(st.bytes, pool.offsetOf(slot), nbl, len - hdr);
    nbl.next = null;
    nbl.status = 0;
    // The NBL is reused across VCs as the pair is lent out again: name this VC every time.
    nbl.sourceHandle = vc.ndisVcHandle;
    if (tail) tail.next = nbl;
    else head = nbl;
    tail = nbl;
    count++;
  }
  if (reposted > 0) st.device.publish(q);
  if (head === null) return n;
  const threshold = st.rxResourcesThreshold;
  if (threshold > 0 && q.inFlight() < threshold) {
    c.rxIndicatedResources += count;
    st.ndis.mCoIndicateReceiveNetBufferLists(vc.ndisVcHandle, head, count, NDIS_RECEIVE_FLAGS_RESOURCES);
    // The NBLs are ours again now that the indication returned.
    const keep = pair.vc === vc && vc.state === VcState.Active;
    for (let p: NetBufferList | null = head; p; ) {
      const next: NetBufferList | null = p.next;
      p.next = null;
      const slot = (p as ReceiveNetBufferList).slot;
      if (keep) q.addBuffer(pool.offsetOf(slot), pool.slotSize, true, slot);
      else pool.free(slot); // the protocol deactivated the VC from inside the indication
      p = next;
    }
    if (keep) st.device.publish(q);
    return n;
  }
  // Counted before the call: the protocol may return them from inside its receive handler.
  vc.rxHeld += count;
  c.rxIndicated += count;
  st.ndis.mCoIndicateReceiveNetBufferLists(vc.ndisVcHandle, head, count, 0);
  return n;
}

/**
 * MiniportReturnNetBufferLists: NBLs from any indications and any VCs, in any grouping (E62).
 * Each buffer goes back on its pair's receiveq if its VC is still Active (one publish per pair
 * per call), or back to the pool if the VC is draining; the return that brings a draining VC's
 * counters to zero completes its deactivation (event-driven: no polling).
 */
export function returnNetBufferLists(st: AdapterState, nbls: NetBufferList): void {
  const touched = st.touchedPairs;
  let nTouched = 0;
  for (let p: NetBufferList | null = nbls; p; ) {
    const next: NetBufferList | null = p.next;
    p.next = null;
    if (!(p instanceof ReceiveNetBufferList)) {
      throw new CondisError(
        'ERR_CONDIS_E62',
        'MiniportReturnNetBufferLists: an NBL this miniport did not indicate',
      );
    }
    const pair = p.pair;
    const vc = pair.vc;
    const pool = pair.rxPool;
    if (vc === null) {
      pool.free(p.slot);
    } else {
      vc.rxHeld--;
      vc.counters.rxReturned++;
      if (vc.state === VcState.Active) {
        pair.rxq.addBuffer(pool.offsetOf(p.slot), pool.slotSize, true, p.slot);
        if (!pair.rxDirty) {
          pair.rxDirty = true;
          touched[nTouched++] = pair;
        }
      } else {
        pool.free(p.slot);
        if (vc.state === VcState.Draining && vc.drained) checkDrain(st, vc);
      }
    }
    p = next;
  }
  for (let i = 0; i < nTouched; i++) {
    const pair = touched[i]!;
    pair.rxDirty = false;
    touched[i] = null;
    st.device.publish(pair.rxq);
  }
}
