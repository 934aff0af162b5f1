/**
 * The client of `condis soak`: one CoNDIS protocol with one VC per soak slot, which sends at full
 * rate, holds and returns receives at random, and accounts for every NBL as it goes:
 * - every send is a tracked NBL (a pool per VC, reused: nothing allocated per packet) that must
 *   complete exactly once, with a status that fits what the VC was when it was sent: a send on a
 *   VC the soak had made ready (its own bookkeeping, not NDIS's) completes SUCCESS or
 *   SEND_ABORTED (INVALID_LENGTH for an oversized probe); one on a VC that was not ready never
 *   goes out: CLOSING or VC_NOT_ACTIVATED;
 * - every receive indicated without NDIS_RECEIVE_FLAGS_RESOURCES is held or returned exactly once
 *   (an NBL indicated again while held is caught by the mark in its ProtocolReserved), carries a
 *   frame of the peer for the VC's VID, and arrives only while the VC is ready;
 * - `crossCheck` compares, per VC, the client's counts with NDIS's drain counter and the
 *   miniport's (sends in the miniport, receives held): they must agree between macrotasks.
 */
import { type MiniportAdapter, RingNetBufferList } from '../miniport/adapter';
import type { NdisAfHandle, NdisBindingHandle, NdisVcHandle } from '../ndis/actors';
import { NDIS_RECEIVE_FLAGS_RESOURCES, NetBuffer, NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import {
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_SEND_ABORTED,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_VC_NOT_ACTIVATED,
  type NdisStatus,
  statusName,
} from '../ndis/status';
import { AF_CONDIS_PVC } from '../vc/pvc-call-manager';
import type { Random } from './random';
import { DIR_FROM_PEER, DIR_TO_PEER, soakFrameVid, vidOfVc, writeSoakHeader } from './soak-peer';

/** What the soak checks; each violation names one. */
export type SoakCheck =
  /** The NDIS verifier recorded a contract break (the code says which rule). */
  | 'verifier'
  /** A send completed twice, or an NBL the client never sent came back. */
  | 'send-completed-twice'
  /** A send completed with a status that does not fit the VC's state when it was sent. */
  | 'send-status'
  /** A send did not complete by the end of the run. */
  | 'send-never-completed'
  /** A receive NBL was indicated again while the client still held it. */
  | 'receive-indicated-twice'
  /** A receive indicated on a VC that was not ready (inactive, draining, call not up). */
  | 'receive-on-inactive-vc'
  /** A frame reached the wrong VC, or the peer's wrong pair. */
  | 'misrouted-frame'
  /** The client's, NDIS's and the miniport's counts of a VC's outstanding work disagree. */
  | 'count-mismatch'
  /** A deactivation completed SUCCESS while sends of the client were out or receives held. */
  | 'deactivation-left-work'
  /** A deactivation failed without a coded error, or was aborted when nothing held it up. */
  | 'deactivation-failure'
  /** A deactivation was still pending past its deadline (plus the grace). */
  | 'deactivation-late'
  /** An NDIS request of the soak did not complete in time, or threw. */
  | 'request'
  /** Something was left at the end: NBLs, buffers, VCs, descriptors, threads. */
  | 'leak';

export interface SoakViolation {
  check: SoakCheck;
  /** The verifier's code for 'verifier' violations (ERR_CONDIS_E<n>...). */
  code?: string;
  message: string;
  /** ms since the churn began. */
  atMs: number;
  /** Soak VC index, when the violation is about one. */
  vc?: number;
}

export type Flag = (check: SoakCheck, message: string, vc?: number, code?: string) => void;

/** How the client treats the receives of one VC. */
export const HoldMode = { ReturnAtOnce: 0, HoldSome: 1, HoldAll: 2 } as const;
export type HoldMode = (typeof HoldMode)[keyof typeof HoldMode];

/** A send NBL of the pool: the NBL itself is the tracking record. */
class SendNbl extends NetBufferList {
  inFlight = false;
  /** The VC was ready (per the soak's own bookkeeping) when this was sent. */
  sentReady = false;
  oversize = false;
  constructor(
    readonly vc: SoakVc,
    nb: NetBuffer,
  ) {
    super(nb);
  }
}

/** Tracking record of a zero-copy send (a ring NBL of the miniport, in protocolReserved). */
interface RingSend {
  vc: SoakVc;
  inFlight: boolean;
  sentReady: boolean;
}

/** The client's view of one soak VC slot. */
export class SoakVc {
  readonly vid: number;
  handle: NdisVcHandle | null = null;
  /** The call as the client knows it. */
  call: 'idle' | 'making' | 'connected' | 'closing' | 'close-indicated' = 'idle';
  /** Active as the soak knows it: activated, and no deactivation begun (or one failed). */
  active = false;
  /** maxSduSize of the parameters in force (0: the buffer's capacity). */
  maxSdu = 0;
  holdMode: HoldMode = HoldMode.ReturnAtOnce;
  /** Sends out (given, not completed), and those of them sent while the VC was ready. */
  outstanding = 0;
  readyOutstanding = 0;
  /** Receives held (indicated without RESOURCES, not returned yet). */
  held = 0;
  /** Counters. */
  given = 0;
  completed = 0;
  indicated = 0;
  indicatedResources = 0;
  /** performance.now() of the last send completion (or of the first send while none was out). */
  lastTxProgress = 0;
  txSeq = 0;
  /** A count mismatch / stuck sends already reported for this VC (one report each). */
  mismatchReported = false;
  stuckReported = false;
  /** The client stopped sending on the VC to close its call (E31: no close with sends out). */
  quiet = false;
  /** Its actor stopped (a request timed out or threw): the end leaves the VC alone. */
  wedged = false;
  readonly free: SendNbl[] = [];

  constructor(readonly index: number) {
    this.vid = vidOfVc(index);
  }

  /** Sends on this VC go out (the soak's view; NDIS agrees unless something is broken). */
  get ready(): boolean {
    return this.handle !== null && this.active && this.call === 'connected';
  }
}

export interface SoakClientOptions {
  vcs: number;
  /** Send NBLs per VC: the most a VC has out at once. */
  window: number;
  /** Largest frame a send carries. */
  maxFrame: number;
  /** Bytes a ring buffer holds after the header: an oversized probe is larger. */
  frameCapacity: number;
}

export class SoakClient {
  readonly binding: NdisBindingHandle;
  readonly af: NdisAfHandle;
  readonly vcs: SoakVc[] = [];
  /** Every receive NBL the client holds, any VC. */
  readonly held: NetBufferList[] = [];
  returned = 0;
  incomingCloses = 0;
  /** Set by the soak: called on ProtocolClIncomingCloseCall. */
  onIncomingClose: ((vc: SoakVc) => void) | null = null;
  private readonly statusCounts = new Map<NdisStatus, number>();

  constructor(
    readonly ndis: Ndis,
    readonly adapter: MiniportAdapter,
    private readonly o: SoakClientOptions,
    private readonly flag: Flag,
  ) {
    for (let i = 0; i < o.vcs; i++) {
      const vc = new SoakVc(i);
      for (let k = 0; k < o.window; k++) {
        // One NBL in eight carries two frames (two NET_BUFFERs): the miniport completes it once both are back.
        const nb = this.frameBuffer(vc);
        if (k % 8 === 7) nb.next = this.frameBuffer(vc);
        vc.free.push(new SendNbl(vc, nb));
      }
      this.vcs.push(vc);
    }
    const proto = ndis.registerProtocol('soak-client', {
      coSendNetBufferListsComplete: (_ctx, nbls) => this.onSendComplete(nbls),
      coReceiveNetBufferLists: (_b, vcCtx, nbls, _n, flags) => this.onReceive(vcCtx as SoakVc, nbls, flags),
    });
    this.binding = ndis.openAdapter(proto, adapter.handle, this);
    const af = ndis.clOpenAddressFamily(
      this.binding,
      AF_CONDIS_PVC,
      {
        clIncomingCloseCall: (_status, vcCtx) => {
          const vc = vcCtx as SoakVc;
          this.incomingCloses++;
          vc.call = 'close-indicated';
          this.onIncomingClose?.(vc);
        },
      },
      this,
    );
    if (!af.afHandle) throw new Error(`soak client: NdisClOpenAddressFamilyEx: ${statusName(af.status)}`);
    this.af = af.afHandle;
  }

  private frameBuffer(vc: SoakVc): NetBuffer {
    const f = new Uint8Array(this.o.maxFrame);
    writeSoakHeader(f, 0, vc.vid, DIR_TO_PEER);
    return new NetBuffer(f, 0, f.length);
  }

  // ---------------------------------------------------------------------------------------------
  // Sends

  /**
   * Sends up to `n` pool NBLs of `size` bytes as one list on `vc` (one NdisCoSendNetBufferLists).
   * Returns how many went.
   */
  send(vc: SoakVc, n: number, size: number): number {
    const h = vc.handle;
    if (h === null) return 0;
    const k = Math.min(n, vc.free.length);
    if (k === 0) return 0;
    const ready = vc.ready;
    let head: NetBufferList | null = null;
    for (let i = 0; i < k; i++) {
      const p = vc.free.pop()!;
      const seq = vc.txSeq++;
      for (let nb: NetBuffer | null = p.firstNetBuffer; nb; nb = nb.next) {
        const b = nb.buffer;
        b[21] = seq >>> 24;
        b[22] = (seq >>> 16) & 0xff;
        b[23] = (seq >>> 8) & 0xff;
        b[24] = seq & 0xff;
        nb.dataLength = size;
      }
      p.inFlight = true;
      p.sentReady = ready;
      p.oversize = false;
      p.status = 0;
      p.sourceHandle = h;
      p.next = head;
      head = p;
    }
    this.account(vc, k, ready);
    this.ndis.coSendNetBufferLists(h, head!, 0);
    return k;
  }

  /** One NBL larger than a ring buffer: it must complete INVALID_LENGTH (or be refused). */
  sendOversized(vc: SoakVc): boolean {
    const h = vc.handle;
    if (h === null) return false;
    const p = vc.free.pop();
    if (!p) return false;
    const big = new Uint8Array(this.o.frameCapacity + 100);
    writeSoakHeader(big, 0, vc.vid, DIR_TO_PEER);
    const keep = p.firstNetBuffer!;
    p.firstNetBuffer = new NetBuffer(big);
    p.protocolReserved = keep; // put back on completion
    p.inFlight = true;
    p.sentReady = vc.ready;
    p.oversize = true;
    p.status = 0;
    p.sourceHandle = h;
    p.next = null;
    this.account(vc, 1, p.sentReady);
    this.ndis.coSendNetBufferLists(h, p, 0);
    return true;
  }

  /**
   * Up to `n` zero-copy sends: ring NBLs of the miniport (MiniportAdapter.allocateSendNetBufferList),
   * written in place. Only while the VC is active (the miniport lends none otherwise).
   */
  sendZeroCopy(vc: SoakVc, n: number, size: number): number {
    const h = vc.handle;
    if (h === null) return 0;
    let head: NetBufferList | null = null;
    let k = 0;
    const ready = vc.ready;
    for (; k < n; k++) {
      const nbl = this.adapter.allocateSendNetBufferList(h, size);
      if (!nbl) break;
      const nb = nbl.firstNetBuffer!;
      writeSoakHeader(nb.buffer, nb.dataOffset, vc.vid, DIR_TO_PEER);
      const rec: RingSend = { vc, inFlight: true, sentReady: ready };
      nbl.protocolReserved = rec;
      nbl.next = head;
      head = nbl;
    }
    if (head === null) return 0;
    this.account(vc, k, ready);
    this.ndis.coSendNetBufferLists(h, head, 0);
    return k;
  }

  private account(vc: SoakVc, k: number, ready: boolean): void {
    if (vc.outstanding === 0) vc.lastTxProgress = performance.now();
    vc.outstanding += k;
    if (ready) vc.readyOutstanding += k;
    vc.given += k;
  }

  /** ProtocolCoSendNetBufferListsComplete: each NBL once, with a status that fits. */
  private onSendComplete(nbls: NetBufferList): void {
    const now = performance.now();
    for (let p: NetBufferList | null = nbls; p; ) {
      const next: NetBufferList | null = p.next;
      p.next = null;
      let vc: SoakVc;
      let sentReady: boolean;
      let oversize = false;
      if (p instanceof SendNbl) {
        if (!p.inFlight) {
          this.flag('send-completed-twice', 'a send NBL of the client completed twice', p.vc.index);
          p = next;
          continue;
        }
        p.inFlight = false;
        vc = p.vc;
        sentReady = p.sentReady;
        oversize = p.oversize;
        if (oversize) {
          p.firstNetBuffer = p.protocolReserved as NetBuffer;
          p.protocolReserved = undefined;
        }
        vc.free.push(p);
      } else {
        const rec = p.protocolReserved as RingSend | undefined;
        if (!rec?.inFlight) {
          this.flag(
            'send-completed-twice',
            'an NBL the client did not send (or a zero-copy send twice) completed',
          );
          p = next;
          continue;
        }
        rec.inFlight = false;
        p.protocolReserved = undefined;
        vc = rec.vc;
        sentReady = rec.sentReady;
        if (p instanceof RingNetBufferList) this.adapter.freeSendNetBufferList(p);
      }
      const st = p.status;
      this.statusCounts.set(st, (this.statusCounts.get(st) ?? 0) + 1);
      vc.outstanding--;
      if (sentReady) vc.readyOutstanding--;
      vc.completed++;
      vc.lastTxProgress = now;
      const fits = sentReady
        ? oversize
          ? st === NDIS_STATUS_INVALID_LENGTH
          : st === NDIS_STATUS_SUCCESS || st === NDIS_STATUS_SEND_ABORTED
        : st === NDIS_STATUS_CLOSING || st === NDIS_STATUS_VC_NOT_ACTIVATED;
      if (!fits) {
        this.flag(
          'send-status',
          `a send ${sentReady ? 'on a ready VC' : 'on a VC that was not ready'}${oversize ? ' (oversized)' : ''} completed ${statusName(st)}`,
          vc.index,
        );
      }
      p = next;
    }
  }

  /** Send completions by status name. */
  statusTable(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [st, n] of this.statusCounts) out[statusName(st)] = n;
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Receives

  /** ProtocolCoReceiveNetBufferLists: check, then hold or return each NBL. */
  private onReceive(vc: SoakVc, nbls: NetBufferList, flags: number): void {
    const resources = (flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0;
    if (!vc.ready) this.notReady(vc);
    let back: NetBufferList | null = null;
    let n = 0;
    for (let p: NetBufferList | null = nbls; p; ) {
      const next: NetBufferList | null = p.next;
      // A held NBL carries its VC in ProtocolReserved until it is returned.
      if (p.protocolReserved instanceof SoakVc) {
        this.flag(
          'receive-indicated-twice',
          'a receive NBL was indicated again while the client held it',
          vc.index,
        );
      }
      for (let nb = p.firstNetBuffer; nb; nb = nb.next) {
        if (soakFrameVid(nb.buffer, nb.dataOffset, nb.dataLength, DIR_FROM_PEER) !== vc.vid) {
          this.flag(
            'misrouted-frame',
            `VC ${vc.index} (VID ${vc.vid}) received a frame that is not the peer's for its VID`,
            vc.index,
          );
        }
      }
      n++;
      if (resources) {
        vc.indicatedResources++;
      } else {
        vc.indicated++;
        const hold = vc.holdMode === HoldMode.HoldAll || (vc.holdMode === HoldMode.HoldSome && (n & 3) === 0);
        if (hold) {
          p.next = null;
          p.protocolReserved = vc;
          vc.held++;
          this.held.push(p);
        } else {
          p.next = back;
          back = p;
          this.returned++;
        }
      }
      p = next;
    }
    // RESOURCES: the miniport's again when we return; the rest not held goes back now.
    if (back !== null) this.ndis.returnNetBufferLists(this.binding, back, 0);
  }

  /**
   * A receive arrived while the soak's bookkeeping says the VC is not ready. NDIS delivers while
   * ACTIVE, REACTIVATING or DEACTIVATING with the call up, so NDIS's own state decides which
   * party broke a rule: DEACTIVATING means the miniport indicated during its drain (it must stop
   * indicating when MiniportCoDeactivateVc begins); inactive or a call that is down means NDIS
   * delivered what it must not. ACTIVE with the call up is the one legal window: a failed
   * deactivation whose completion is still on its way to the call manager.
   */
  private notReady(vc: SoakVc): void {
    const info = vc.handle === null ? undefined : this.ndis.vcInfo(vc.handle);
    const a = info?.activation;
    const c = info?.call;
    if (a === 'DEACTIVATING') {
      this.flag(
        'receive-on-inactive-vc',
        'the miniport indicated a receive on a VC it was draining',
        vc.index,
      );
    } else if (
      !(a === 'ACTIVE' || a === 'REACTIVATING') ||
      !(c === 'CONNECTED' || c === 'MODIFYING' || c === 'ACCEPTED')
    ) {
      this.flag('receive-on-inactive-vc', `a receive was delivered on a VC that is ${a}/${c}`, vc.index);
    }
  }

  /**
   * Returns `count` held receives picked at random (or the newest, without `rng`) as ONE
   * NdisReturnNetBufferLists: the list mixes VCs and indications (E62). With `onlyVc`, every
   * receive that VC's client side holds instead.
   */
  returnHeld(rng: Random | null, count: number, onlyVc?: SoakVc): number {
    const h = this.held;
    let head: NetBufferList | null = null;
    let n = 0;
    const take = (k: number) => {
      const p = h[k]!;
      h[k] = h[h.length - 1]!;
      h.pop();
      const owner = p.protocolReserved as SoakVc;
      owner.held--;
      p.protocolReserved = undefined;
      p.next = head;
      head = p;
      n++;
    };
    if (onlyVc) {
      for (let i = h.length - 1; i >= 0; i--) if (h[i]!.protocolReserved === onlyVc) take(i);
    } else {
      while (n < count && h.length > 0) take(rng ? rng.int(0, h.length - 1) : h.length - 1);
    }
    if (head === null) return 0;
    this.returned += n;
    this.ndis.returnNetBufferLists(this.binding, head, 0);
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // Cross-checks

  /**
   * Per VC: the client's sends out and receives held against NDIS's drain counter
   * (txInMiniport, rxHeld) and the miniport's (txInFlight, rxHeld). Call between macrotasks: NDIS
   * delivers completions in microtasks, so by then all three agree. One report per VC.
   */
  crossCheck(): void {
    for (const vc of this.vcs) {
      if (vc.handle === null || vc.mismatchReported) continue;
      const info = this.ndis.vcInfo(vc.handle);
      if (!info) continue;
      const mvc = this.adapter.vcFor(vc.handle);
      const parts: string[] = [];
      if (info.txInMiniport !== vc.outstanding)
        parts.push(`sends: client ${vc.outstanding} out, NDIS ${info.txInMiniport} in the miniport`);
      if (mvc && mvc.txInFlight !== info.txInMiniport)
        parts.push(`sends: NDIS ${info.txInMiniport} in the miniport, miniport ${mvc.txInFlight} in flight`);
      if (info.rxHeld !== vc.held)
        parts.push(`receives: client holds ${vc.held}, NDIS counts ${info.rxHeld}`);
      if (mvc && mvc.rxHeld !== info.rxHeld)
        parts.push(`receives: NDIS counts ${info.rxHeld} held, miniport ${mvc.rxHeld}`);
      if (parts.length > 0) {
        vc.mismatchReported = true;
        this.flag('count-mismatch', `VC ${vc.index}: ${parts.join('; ')}`, vc.index);
      }
    }
  }
}
