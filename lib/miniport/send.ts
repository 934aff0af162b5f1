/**
 * Data path, transmit: MiniportCoSendNetBufferLists, transmit completions harvested from the
 * transmitq, the software queue, and the abort of a transmitq (queue reset).
 *
 * One NET_BUFFER = one frame = one single-descriptor chain. A NET_BUFFER whose memory already lies
 * in a held slot of this device's pool (this pair's transmit pool, or a receive buffer a bridge
 * forwards: heldPoolSlot) goes on the ring as is (descriptor addr = its region offset: zero
 * copy); any other is copied into a transmit pool buffer. An NBL completes when the chains of all
 * its NET_BUFFERs have come back; `miniportReserved` holds how many are still out (a number: no
 * allocation), and its status is the first failure any of them reported.
 *
 * Hot path: no allocation (the copy path makes one subarray view when a NET_BUFFER is a window of
 * a larger buffer); one publish per MiniportCoSendNetBufferLists call and per harvest batch; one
 * NdisMCoSendNetBufferListsComplete per batch.
 *
 * Layer: on state.ts and vc.ts only; drain.ts, interrupt.ts, control.ts and adapter.ts (which
 * hands MiniportCoSendNetBufferLists to NDIS) call down into it. It never decides a drain: the
 * caller checks it after a harvest.
 */
import type { NetBuffer, NetBufferList } from '../ndis/nbl';
import {
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_SEND_ABORTED,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  type NdisStatus,
} from '../ndis/status';
import { TxStatus } from '../virtio/layout';
import type { AdapterState } from './state';
import { type MiniportVc, type QueuePair, VcState } from './vc';
import { writeTxVnetHdr } from './vnet-map';

/**
 * What became of a frame (the device's TxStatus in used.len) as the NDIS_STATUS of its NBL.
 * The per-NBL codes NdisMCoSendNetBufferListsComplete allows are SUCCESS, INVALID_LENGTH,
 * RESOURCES, SEND_ABORTED, RESET_IN_PROGRESS and FAILURE (spec §1.2-I), so:
 * - Sent -> SUCCESS;
 * - Malformed (shorter than an Ethernet header, longer than the device takes) -> INVALID_LENGTH;
 * - Aborted (queue reset with the frame still queued) -> SEND_ABORTED;
 * - BackendError, PeerGone, DeviceFailed -> FAILURE (the medium is gone);
 * - Unbound -> FAILURE: the pair lost its VID under the frame, which only an unbind racing a
 *   send can cause; the frame did not leave, and no code says "VC gone" more precisely.
 */
export function txStatusToNdis(st: number): NdisStatus {
  switch (st) {
    case TxStatus.Sent:
      return NDIS_STATUS_SUCCESS;
    case TxStatus.Malformed:
      return NDIS_STATUS_INVALID_LENGTH;
    case TxStatus.Aborted:
      return NDIS_STATUS_SEND_ABORTED;
    default:
      return NDIS_STATUS_FAILURE;
  }
}

/**
 * MiniportCoSendNetBufferLists. Accepts every NBL (NDIS gives a CoNDIS miniport no back-pressure):
 * what the ring or the pool cannot take now waits in the VC's software queue, in order, and goes
 * out as transmit completions free room. NBLs that cannot be sent at all (no NET_BUFFER, a frame
 * of 0 bytes or over the VC's maximum) complete at once with INVALID_LENGTH. Under NDIS's
 * 'pass-through' send policy the miniport applies spec §4.3 itself: CLOSING while draining,
 * VC_NOT_ACTIVATED when inactive. On a device closed under the miniport every NBL fails at once
 * (FAILURE).
 */
export function coSendNetBufferLists(st: AdapterState, vc: MiniportVc, nbls: NetBufferList): void {
  const pair = vc.pair;
  let failHead: NetBufferList | null = null;
  let failTail: NetBufferList | null = null;
  let failed = 0;
  const refuse =
    vc.state === VcState.Active && pair !== null
      ? st.device.closed
        ? NDIS_STATUS_FAILURE // the device is gone: nothing on its rings would ever complete
        : NDIS_STATUS_SUCCESS
      : vc.state === VcState.Draining
        ? NDIS_STATUS_CLOSING
        : NDIS_STATUS_VC_NOT_ACTIVATED;
  for (let p: NetBufferList | null = nbls; p; ) {
    const next: NetBufferList | null = p.next;
    p.next = null;
    vc.counters.txNbls++;
    p.status = refuse;
    let nbs = 0;
    for (let nb = p.firstNetBuffer; nb; nb = nb.next) {
      nbs++;
      if (nb.dataLength <= 0 || nb.dataLength > vc.maxFrame) p.status = NDIS_STATUS_INVALID_LENGTH;
    }
    if (nbs === 0) p.status = NDIS_STATUS_INVALID_LENGTH;
    if (p.status !== NDIS_STATUS_SUCCESS) {
      if (failTail) failTail.next = p;
      else failHead = p;
      failTail = p;
      failed++;
    } else {
      p.miniportReserved = nbs;
      vc.txInFlight++;
      if (vc.swqHead === null) {
        // Nothing waiting: place directly; whatever does not fit heads the software queue.
        const rest = placeFrom(st, vc, pair!, p, p.firstNetBuffer);
        if (rest !== null) {
          vc.swqHead = vc.swqTail = p;
          vc.swqNb = rest;
          vc.counters.txQueued++;
        }
      } else {
        // Behind others: order is preserved (spec §1.2-I), so queue even if the ring has room.
        vc.swqTail!.next = p;
        vc.swqTail = p;
        vc.counters.txQueued++;
      }
    }
    p = next;
  }
  if (pair !== null) st.device.publish(pair.txq);
  if (failHead !== null) {
    vc.counters.txFailed += failed;
    st.ndis.mCoSendNetBufferListsComplete(vc.ndisVcHandle, failHead, 0);
  }
}

/** Places NET_BUFFERs of `nbl` from `nb` on; returns the first one that did not fit, or null. */
function placeFrom(
  st: AdapterState,
  vc: MiniportVc,
  pair: QueuePair,
  nbl: NetBufferList,
  nb: NetBuffer | null,
): NetBuffer | null {
  for (; nb; nb = nb.next) if (!placeFrame(st, vc, pair, nbl, nb)) return nb;
  return null;
}

/** One frame on the transmitq (not published). False if the ring or the pool is full. */
function placeFrame(
  st: AdapterState,
  vc: MiniportVc,
  pair: QueuePair,
  nbl: NetBufferList,
  nb: NetBuffer,
): boolean {
  const q = pair.txq;
  if (q.freeDescriptors() === 0) return false;
  const t = pair.allocToken();
  if (t < 0) return false;
  const hdr = st.hdr;
  const bytes = st.bytes;
  const buf = nb.buffer;
  const len = nb.dataLength;
  if (buf.buffer === st.sab) {
    // Zero copy: the frame (and the virtio_net_hdr room before it) must sit inside one held slot
    // of this device's pool, or the device would reject the descriptor (DescOutOfPool) or read
    // memory someone else owns. Offsets are the region's: `buf` may be another view of the
    // buffer (another device's region, with createSharedRegions), hence the two byteOffsets.
    const start = buf.byteOffset - bytes.byteOffset + nb.dataOffset - hdr;
    if (heldPoolSlot(st, start, hdr + len)) {
      if (st.offloads) writeTxVnetHdr(bytes, start, nbl, len);
      else if (hdr > 0) bytes.fill(0, start, start + hdr); // virtio_net_hdr: no offloads
      q.addBuffer(start, hdr + len, false, t);
      pair.txNbl[t] = nbl;
      pair.txSlot[t] = -1;
      vc.counters.txZeroCopy++;
      return true;
    }
  }
  const slot = pair.txPool.alloc();
  if (slot < 0) {
    pair.freeToken(t);
    return false;
  }
  const off = pair.txPool.offsetOf(slot);
  const from = nb.dataOffset;
  bytes.set(from === 0 && len === buf.length ? buf : buf.subarray(from, from + len), off + hdr);
  // After the copy: the LSO header length is read from the frame's TCP header.
  if (st.offloads) writeTxVnetHdr(bytes, off, nbl, len);
  else if (hdr > 0) bytes.fill(0, off, off + hdr);
  q.addBuffer(off, hdr + len, false, t);
  pair.txNbl[t] = nbl;
  pair.txSlot[t] = slot;
  vc.counters.txCopied++;
  return true;
}

/**
 * Whether `[start, start + total)` lies inside ONE slot of this device's pool that is allocated
 * (held by whoever sends it), so it may go on a transmitq as is. Not only this pair's transmit
 * pool (a RingNetBufferList): issue 13 (the reference bridge, lib/client/bridge.ts) forwards a
 * received frame by sending the receive buffer itself on another VC of the same device — a slot
 * of another pair's receive pool that the protocol holds (indicated, not returned), off its ring
 * — or of another device's, when both devices share one region (createSharedRegions): the pool
 * is then one, and `region.owners` says whose the slot is. The device accepts any descriptor
 * inside the pool, so this is a driver-side rule only; the slot stays its holder's (txSlot -1:
 * the completion frees nothing).
 */
function heldPoolSlot(st: AdapterState, start: number, total: number): boolean {
  const r = st.device.region;
  const rel = start - r.poolOffset;
  if (rel < 0 || rel + total > r.poolSize) return false;
  const slot = Math.floor(rel / r.bufferSize);
  if (rel + total > (slot + 1) * r.bufferSize) return false;
  const own = slot - r.slotBase;
  if (own >= 0 && own < r.numQueues * r.buffersPerQueue) {
    return st.device.pools[Math.floor(own / r.buffersPerQueue)]!.isAllocated(slot);
  }
  const owners = r.owners;
  for (let i = 0; i < owners.length; i++) {
    const pool = owners[i]!;
    if (slot >= pool.firstSlot && slot < pool.firstSlot + pool.capacity) return pool.isAllocated(slot);
  }
  return false;
}

/** Moves what the software queue holds onto the ring while there is room. Not published. */
export function drainSoftwareQueue(st: AdapterState, vc: MiniportVc, pair: QueuePair): void {
  while (vc.swqHead !== null) {
    const rest = placeFrom(st, vc, pair, vc.swqHead, vc.swqNb);
    vc.swqNb = rest;
    if (rest !== null) return;
    const done = vc.swqHead;
    vc.swqHead = done.next;
    done.next = null;
    if (vc.swqHead === null) vc.swqTail = null;
    else vc.swqNb = vc.swqHead.firstNetBuffer;
  }
}

/**
 * Harvests transmit completions of `pair` (its VC's sends): frees copy buffers and tokens, maps
 * each TxStatus, completes every NBL whose frames are all back in ONE
 * NdisMCoSendNetBufferListsComplete, then refills the ring from the software queue. The caller
 * checks the drain. Returns the chains harvested.
 */
export function harvestTx(st: AdapterState, vc: MiniportVc, pair: QueuePair): number {
  const n = harvestTxCompletions(st, vc, pair);
  if (n > 0 && vc.swqHead !== null && vc.state !== VcState.Inactive) {
    drainSoftwareQueue(st, vc, pair);
    st.device.publish(pair.txq);
  }
  return n;
}

/**
 * harvestTx without the refill: completes the chains the device finished (each with the status it
 * gave) and places nothing new on the ring — the step before a transmitq reset, which would abort
 * whatever a refill placed. Returns the chains harvested.
 */
function harvestTxCompletions(st: AdapterState, vc: MiniportVc, pair: QueuePair): number {
  const n = pair.txq.harvest(pair.tokens, pair.lens, pair.tokens.length);
  if (n > 0) completeChains(st, vc, pair, n, -1);
  return n;
}

/**
 * Completes the `n` chains whose tokens are in pair.tokens (statuses in pair.lens, or `forced`
 * for all of them when >= 0) and gives back every NBL that has all its frames back.
 */
function completeChains(st: AdapterState, vc: MiniportVc, pair: QueuePair, n: number, forced: number): void {
  let head: NetBufferList | null = null;
  let tail: NetBufferList | null = null;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const t = pair.tokens[i]!;
    const nbl = pair.txNbl[t]!;
    const slot = pair.txSlot[t]!;
    if (slot >= 0) pair.txPool.free(slot);
    pair.freeToken(t);
    const st = txStatusToNdis(forced >= 0 ? forced : pair.lens[i]!);
    if (st !== NDIS_STATUS_SUCCESS && nbl.status === NDIS_STATUS_SUCCESS) nbl.status = st;
    const left = (nbl.miniportReserved as number) - 1;
    nbl.miniportReserved = left;
    if (left === 0) {
      nbl.miniportReserved = undefined;
      // LsoV2TransmitComplete: the byte count set at placement stands only for a send that went.
      if (nbl.status !== NDIS_STATUS_SUCCESS) nbl.lsoTransmitCompleteBytes = 0;
      countCompletion(vc, nbl);
      if (tail) tail.next = nbl;
      else head = nbl;
      tail = nbl;
      count++;
    }
  }
  if (head !== null) giveBack(st, vc, head, count);
}

/** The VC's completion counters for one NBL given back (counted as the list is built: one pass). */
function countCompletion(vc: MiniportVc, nbl: NetBufferList): void {
  const c = vc.counters;
  if (nbl.status === NDIS_STATUS_SUCCESS) c.txCompleted++;
  else {
    c.txFailed++;
    if (nbl.status === NDIS_STATUS_SEND_ABORTED) c.txAborted++;
  }
}

/** NdisMCoSendNetBufferListsComplete for a list of `count` NBLs of `vc` (counted by countCompletion). */
function giveBack(st: AdapterState, vc: MiniportVc, head: NetBufferList, count: number): void {
  vc.txInFlight -= count;
  // The instant the hardware's completions are handed to NDIS, for whoever measures (the drain
  // benchmark's overhead starts here, not when the sender hears of it a microtask later).
  st.onSendsCompleted?.(vc);
  st.ndis.mCoSendNetBufferListsComplete(vc.ndisVcHandle, head, 0);
}

/**
 * Aborts every send the VC holds: the software queue (never placed) and, through a virtio queue
 * reset of the transmitq, every chain on the ring (the reset hands their tokens back). Each NBL
 * completes with SEND_ABORTED (unless one of its frames already reported another failure).
 * Chains the device had already finished (used entries not harvested yet) are harvested first
 * and keep the status the device gave them: a frame that went out completes SUCCESS, not
 * SEND_ABORTED (the reset would hand its token back like any other). The transmitq is
 * re-enabled, empty. The caller checks the drain.
 */
export function abortSends(st: AdapterState, vc: MiniportVc, pair: QueuePair): void {
  abortSoftwareQueue(st, vc);
  resetTransmitq(st, vc, pair);
}

/**
 * Resets the transmitq of a VC that keeps its sends (its queue failed; the VC stays Active): the
 * chains the device had finished are harvested first and keep their status (a frame that went
 * out completes SUCCESS, as in abortSends), the reset aborts the rest (SEND_ABORTED), and the
 * software queue, left alone, refills the fresh ring and is published. The transmitq is
 * re-enabled.
 */
export function resetTransmitq(st: AdapterState, vc: MiniportVc, pair: QueuePair): void {
  harvestTxCompletions(st, vc, pair);
  abortRing(st, vc, pair);
  if (vc.swqHead === null) return;
  drainSoftwareQueue(st, vc, pair);
  st.device.publish(pair.txq);
}

/** Completes every NBL of the software queue (never placed on the ring) with SEND_ABORTED. */
export function abortSoftwareQueue(st: AdapterState, vc: MiniportVc): void {
  if (vc.swqHead === null) return;
  let head: NetBufferList | null = null;
  let tail: NetBufferList | null = null;
  let count = 0;
  for (let p: NetBufferList | null = vc.swqHead; p; ) {
    const next: NetBufferList | null = p.next;
    p.next = null;
    let unplaced = 0;
    for (let nb = p === vc.swqHead ? vc.swqNb : p.firstNetBuffer; nb; nb = nb.next) unplaced++;
    if (p.status === NDIS_STATUS_SUCCESS) p.status = NDIS_STATUS_SEND_ABORTED;
    const left = (p.miniportReserved as number) - unplaced;
    p.miniportReserved = left;
    if (left === 0) {
      p.miniportReserved = undefined;
      countCompletion(vc, p);
      if (tail) tail.next = p;
      else head = p;
      tail = p;
      count++;
    }
    p = next;
  }
  vc.swqHead = vc.swqTail = null;
  vc.swqNb = null;
  if (head !== null) giveBack(st, vc, head, count);
}

/**
 * Completes `n` transmit chains whose tokens a queue reset (or quiesce) left in pair.tokens, as
 * Aborted. For callers that reset the transmitq themselves.
 */
export function completeAbortedChains(st: AdapterState, vc: MiniportVc, pair: QueuePair, n: number): void {
  if (n > 0) completeChains(st, vc, pair, n, TxStatus.Aborted);
}

/**
 * Virtio queue reset of the transmitq: every chain still on the ring comes back as a token and
 * its frame counts as Aborted. The software queue is left alone (a partly placed head NBL keeps
 * waiting for its other frames). The transmitq is re-enabled, empty.
 */
export function abortRing(st: AdapterState, vc: MiniportVc, pair: QueuePair): void {
  const n = st.resetQueue(pair.txq.index, pair.tokens);
  if (n > 0) completeChains(st, vc, pair, n, TxStatus.Aborted);
}
