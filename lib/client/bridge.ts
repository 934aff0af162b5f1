/**
 * NdisBridge: the forwarding reference (issue 13 point 3), the simplest real virtual switch on
 * condis-tap. A CoNDIS client (protocol driver) with one VC on each of two miniports — or two VCs
 * on one — that sends every frame received on one VC out of the other, both ways.
 *
 *   const br = NdisBridge.open(ndis, { a: { adapter: mpA, vid: 1 }, b: { adapter: mpB, vid: 2 } });
 *   await br.start();          // NdisClMakeCall on both VCs
 *   ...                        // frames on VID 1 of A leave on VID 2 of B and back
 *   await br.stop();           // stop forwarding, wait for the forwards in flight, close both calls
 *   await br.close();          // delete the VCs, close the AFs and the bindings
 *
 * How a frame crosses (per NET_BUFFER; each forward is one NBL of the bridge's own):
 * - Zero copy: the received buffer lies in the region of the device the other VC is on (both VCs
 *   on one device). The bridge's NBL points at the received bytes themselves — what
 *   NdisAllocateCloneNetBufferList does in a Windows switch — and the miniport puts that receive
 *   buffer straight on its transmitq (lib/miniport/send.ts, heldPoolSlot). The received NBL is
 *   held (not returned) until every forward of it has completed, then returned
 *   (NdisReturnNetBufferLists); so a deactivation of the receiving VC waits for those sends.
 * - One copy: the regions differ (two devices), or the receive was indicated with
 *   NDIS_RECEIVE_FLAGS_RESOURCES (it may not be held). The frame is copied once, straight into a
 *   transmit buffer of the other VC's queue pair (what MiniportAdapter.allocateSendNetBufferList
 *   hands out, without allocating an NBL per frame), which the miniport then sends without a
 *   second copy; the received NBL is returned right after the copy.
 *
 * Back-pressure: each direction has `maxInFlight` NBLs of its own (preallocated; the cap). A
 * frame that finds none free is dropped and counted (`dropped.cap`), never queued: NDIS gives a
 * CoNDIS miniport no back-pressure, so an unbounded queue would be the bridge's. No allocation
 * and no Promise per frame; one NdisCoSendNetBufferLists per indication and direction, one
 * NdisReturnNetBufferLists per indication (copy) or per completion batch (zero copy).
 *
 * Drain safety: a VC being deactivated (by the call manager, or by stop()) completes sends at
 * once with a failure (they return their received NBLs) and, as receiving VC, waits for its held
 * NBLs, which come back as the other VC's sends complete: every path ends in a completion, so
 * both deactivations finish. stop() waits for the forwards in flight before NdisClCloseCall (a
 * close with sends outstanding is a protocol error, E31).
 *
 * Layering: a protocol straight on NDIS (AF_CONDIS_PVC through PvcCallManager, as PingResponder).
 * It needs the MiniportAdapter of each side for two facts a Windows switch gets from NDIS: which
 * memory the other miniport can send without a copy, and where its transmit buffers are.
 */
import { CondisError } from '../errors';
import { condisCallParameters } from '../medium/params';
import type { MiniportAdapter } from '../miniport/adapter';
import { type MiniportVc, VcState } from '../miniport/vc';
import type { ClientHandlers, NdisAfHandle, NdisBindingHandle, NdisVcHandle } from '../ndis/actors';
import { NDIS_RECEIVE_FLAGS_RESOURCES, NetBuffer, NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import {
  clearNblOffloadInfo,
  NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4,
  NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6,
  NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE,
  NdisCsumRx,
  NdisCsumTx,
} from '../ndis/offload';
import { NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import { pvcCallManagerFor } from '../vc/channel';
import { AF_CONDIS_PVC, type PvcCallManager } from '../vc/pvc-call-manager';
import type { BufferPool } from '../virtio/buffer-pool';

/** One side of the bridge: a miniport and the VID of the VC on it (0: pair 0, untagged). */
export interface BridgeEndOptions {
  adapter: MiniportAdapter;
  vid: number;
  /** The call manager of AF_CONDIS_PVC on that miniport (default: the one per Ndis and miniport). */
  callManager?: PvcCallManager;
}

/** NdisBridge.open's options: the two VCs' ends and the per-direction cap. */
export interface NdisBridgeOptions {
  a: BridgeEndOptions;
  b: BridgeEndOptions;
  /** Forwards in flight per direction (the cap; default 256). Beyond it frames are dropped. */
  maxInFlight?: number;
}

/** Why frames were not forwarded, per direction. */
export class BridgeDrops {
  /** Every NBL of the direction was in flight (the cap). */
  cap = 0;
  /** The bridge was stopping, or the other VC not active (deactivated, closing). */
  inactive = 0;
  /** Copy case: no free transmit buffer on the other VC's pair. */
  noBuffer = 0;
  /** Larger than the other VC may send (its maxSduSize, or a buffer). */
  tooBig = 0;
  /** Forwarded, but the send completed with a failure status (counted at completion). */
  sendFailed = 0;

  get total(): number {
    return this.cap + this.inactive + this.noBuffer + this.tooBig + this.sendFailed;
  }
}

/** Counters of one direction, cumulative. forwarded = zeroCopy + copied; completed <= forwarded. */
export class BridgeCounters {
  /** Frames (NET_BUFFERs) received on the VC this direction starts at. */
  received = 0;
  /** Frames handed to NdisCoSendNetBufferLists on the other VC, by how. */
  forwarded = 0;
  zeroCopy = 0;
  copied = 0;
  /** Forwards completed (any status; failures also in dropped.sendFailed). */
  completed = 0;
  readonly dropped = new BridgeDrops();
}

export type BridgeState = 'idle' | 'starting' | 'forwarding' | 'stopping' | 'closed';

/**
 * What a forwarding protocol does with a received NBL's offload info (issue 13), as a virtual
 * switch does: the receive side's result becomes the send side's request. A coalesced receive
 * (RSC: one large TCP packet with its MSS) is sent as LSOv2 with that MSS, so the far side's
 * hardware (here: the kernel behind the other TAP) segments it; a receive whose checksum is
 * partial (known good, field not filled: virtio's NEEDS_CSUM) is sent with a TCP/UDP checksum
 * request. The offsets come from the frame itself (IPv4 with options, IPv6 without extension
 * headers: what virtio GSO carries), as a switch reads them. `tx`'s info is cleared first: it is
 * a pooled NBL. Anything else is sent as is. Allocates nothing.
 *
 * Both VCs' miniports must advertise the offloads (the verifier flags an LSO send on one that
 * does not, ERR_CONDIS_OFFLOAD_NOT_ADVERTISED): a receive is only ever coalesced or partial on a
 * miniport with offloads on, and the bridge's ends are opened alike (ndis-bridge-forwarder.ts).
 */
export function carryOffloadInfo(
  rx: NetBufferList,
  tx: NetBufferList,
  bytes: Uint8Array,
  at: number,
  len: number,
): void {
  clearNblOffloadInfo(tx);
  const partial = (rx.csumRx & NdisCsumRx.ChecksumPartial) !== 0;
  if (rx.rscMss === 0 && !partial) return;
  if (len < 14 + 20) return; // too short for an IPv4 header: nothing to ask for
  const type = (bytes[at + 12]! << 8) | bytes[at + 13]!;
  let l4: number;
  let proto: number;
  let v6: boolean;
  if (type === 0x0800) {
    l4 = 14 + ((bytes[at + 14]! & 0x0f) << 2);
    proto = bytes[at + 14 + 9]!;
    v6 = false;
  } else if (type === 0x86dd) {
    l4 = 14 + 40;
    proto = bytes[at + 14 + 6]!;
    v6 = true;
  } else {
    return;
  }
  // The L4 header must be in the frame (a 4-byte UDP datagram is 46 bytes: short frames count).
  if (l4 + (proto === 6 ? 20 : 8) > len) return;
  if (rx.rscMss !== 0 && proto === 6) {
    tx.lsoType = NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE;
    tx.lsoMss = rx.rscMss;
    tx.lsoTcpHeaderOffset = l4;
    tx.lsoIpVersion = v6 ? NDIS_TCP_LARGE_SEND_OFFLOAD_IPv6 : NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4;
    return;
  }
  if (partial && (proto === 6 || proto === 17)) {
    tx.csumTx =
      (v6 ? NdisCsumTx.IsIPv6 : NdisCsumTx.IsIPv4) |
      (proto === 6 ? NdisCsumTx.TcpChecksum : NdisCsumTx.UdpChecksum);
    tx.csumTcpHeaderOffset = l4;
  }
}

/** A forward's context, in its NBL's protocolReserved: preallocated, reused. */
class Forward {
  /** Zero copy: the received NBL this forward holds. */
  rx: NetBufferList | null = null;
  /** Copy: the transmit slot the frame was copied into, and its pool. */
  pool: BufferPool | null = null;
  slot = -1;
}

/** One side's handles and the miniport's context of its VC. */
class End {
  /** Set by NdisBridge.open right after the AF is opened and the VC created. */
  vcHandle!: NdisVcHandle;
  af!: NdisAfHandle;
  mvc: MiniportVc | null = null;
  /** The call is up from our side (made, not closed, no incoming close). */
  connected = false;
  constructor(
    readonly name: 'a' | 'b',
    readonly adapter: MiniportAdapter,
    readonly binding: NdisBindingHandle,
    readonly vid: number,
  ) {}
}

/** One direction: frames received on `from` go out on `to`. */
class Direction {
  readonly counters = new BridgeCounters();
  /** Free NBLs of this direction (a stack); in flight = cap - free. */
  readonly free: NetBufferList[];
  readonly cap: number;
  /** Resolves stop()'s wait once nothing of this direction is in flight. */
  idleWaiter: (() => void) | null = null;

  constructor(
    readonly from: End,
    readonly to: End,
    cap: number,
  ) {
    this.cap = cap;
    this.free = [];
    const empty = new Uint8Array(0);
    for (let i = 0; i < cap; i++) {
      const nbl = new NetBufferList(new NetBuffer(empty, 0, 0));
      nbl.protocolReserved = new Forward();
      this.free.push(nbl);
    }
  }

  get inFlight(): number {
    return this.cap - this.free.length;
  }
}

let bridges = 0;

/**
 * The forwarding reference (issue 13): a CoNDIS client that joins two VCs, so that what one
 * receives the other sends — zero copy within one region, one copy across two, offload info
 * carried (carryOffloadInfo), a cap per direction, drain-safe. `NdisBridge.open(ndis, options)`,
 * then `start()` (makes both calls), `stop()`, `close()`; counters in `aToB` / `bToA`.
 */
export class NdisBridge {
  private bridgeState: BridgeState = 'idle';
  private readonly ab: Direction;
  private readonly ba: Direction;
  private stopping: Promise<NdisStatus> | null = null;
  private held = 0;

  private constructor(
    private readonly ndis: Ndis,
    readonly a: End,
    readonly b: End,
    cap: number,
  ) {
    this.ab = new Direction(a, b, cap);
    this.ba = new Direction(b, a, cap);
  }

  /**
   * Binds to both miniports (one binding if both ends are on one) and creates a VC on each (no
   * call yet: start() makes them). Throws if an address family cannot be opened or a VC created.
   */
  static open(ndis: Ndis, opts: NdisBridgeOptions): NdisBridge {
    const cap = opts.maxInFlight ?? 256;
    if (!(Number.isInteger(cap) && cap > 0))
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        `NdisBridge: maxInFlight must be an integer > 0, got ${cap}`,
        { maxInFlight: cap },
      );
    if (opts.a.adapter === opts.b.adapter && opts.a.vid === opts.b.vid) {
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'NdisBridge: the two ends are the same VC');
    }
    const box: { br: NdisBridge | null } = { br: null };
    const proto = ndis.registerProtocol(`ndis-bridge-${++bridges}`, {
      coSendNetBufferListsComplete: (vcCtx, nbls) => box.br?.onSendComplete(vcCtx as End, nbls),
      coReceiveNetBufferLists: (_bindCtx, vcCtx, nbls, _n, flags) =>
        box.br?.onReceive(vcCtx as End, nbls, flags),
    });
    const undo: Array<() => void> = [];
    const bindings = new Map<MiniportAdapter, NdisBindingHandle>();
    const endOf = (name: 'a' | 'b', o: BridgeEndOptions): End => {
      let binding = bindings.get(o.adapter);
      if (binding === undefined) {
        binding = ndis.openAdapter(proto, o.adapter.handle, box);
        const bh = binding;
        undo.push(() => ndis.closeAdapter(bh));
        bindings.set(o.adapter, binding);
      }
      if (o.callManager === undefined) pvcCallManagerFor(ndis, o.adapter.handle);
      const end = new End(name, o.adapter, binding, o.vid);
      const handlers: ClientHandlers = {
        // The network closed this call (PvcCallManager.teardown): stop using it, close from our side.
        clIncomingCloseCall: () => box.br?.onIncomingClose(end),
      };
      const af = ndis.clOpenAddressFamily(binding, AF_CONDIS_PVC, handlers, end);
      if (af.status !== NDIS_STATUS_SUCCESS || !af.afHandle) {
        throw new CondisError(
          'ERR_CONDIS_CALL_FAILED',
          `NdisBridge: NdisClOpenAddressFamilyEx failed: ${statusName(af.status)}`,
          { status: af.status },
        );
      }
      const afh = af.afHandle;
      undo.push(() => void ndis.clCloseAddressFamily(afh));
      end.af = afh;
      const vc = ndis.coCreateVc(binding, afh, end);
      if (vc.status !== NDIS_STATUS_SUCCESS || !vc.vcHandle) {
        throw new CondisError(
          'ERR_CONDIS_CALL_FAILED',
          `NdisBridge: NdisCoCreateVc failed: ${statusName(vc.status)}`,
          { status: vc.status },
        );
      }
      const vh = vc.vcHandle;
      undo.push(() => void ndis.coDeleteVc(vh));
      end.vcHandle = vh;
      end.mvc = o.adapter.vcFor(vh) ?? null;
      return end;
    };
    try {
      const a = endOf('a', opts.a);
      const b = endOf('b', opts.b);
      const br = new NdisBridge(ndis, a, b, cap);
      box.br = br;
      return br;
    } catch (e) {
      for (let u = undo.pop(); u; u = undo.pop()) u();
      throw e;
    }
  }

  get state(): BridgeState {
    return this.bridgeState;
  }

  /** Counters of a -> b and b -> a. */
  get aToB(): BridgeCounters {
    return this.ab.counters;
  }

  get bToA(): BridgeCounters {
    return this.ba.counters;
  }

  /** Forwards in flight, both directions (sends handed to NDIS, not completed). */
  get inFlight(): number {
    return this.ab.inFlight + this.ba.inFlight;
  }

  /** Received NBLs held (zero copy, waiting for their forwards), both directions. */
  get heldRx(): number {
    return this.held;
  }

  /**
   * NdisClMakeCall on both VCs (`vid` of each end; each call its own parameter object, E50).
   * Resolves SUCCESS once both are connected and forwarding; on a failure the call made is
   * closed again and the failing status returned.
   */
  async start(): Promise<NdisStatus> {
    if (this.bridgeState !== 'idle')
      throw new CondisError(
        'ERR_CONDIS_INVALID_STATE',
        `NdisBridge.start: the bridge is ${this.bridgeState}`,
        { state: this.bridgeState },
      );
    this.bridgeState = 'starting';
    const [sa, sb] = await Promise.all([this.makeCall(this.a), this.makeCall(this.b)]);
    if (sa !== NDIS_STATUS_SUCCESS || sb !== NDIS_STATUS_SUCCESS) {
      await Promise.all([this.closeCall(this.a), this.closeCall(this.b)]);
      this.bridgeState = 'idle';
      return sa !== NDIS_STATUS_SUCCESS ? sa : sb;
    }
    this.bridgeState = 'forwarding';
    return NDIS_STATUS_SUCCESS;
  }

  private async makeCall(end: End): Promise<NdisStatus> {
    const st = await this.ndis.clMakeCallAsync(end.vcHandle, condisCallParameters(end.vid));
    if (st === NDIS_STATUS_SUCCESS) {
      end.connected = true;
      // The miniport creates its context at NdisCoCreateVc; look it up again in case it did not.
      end.mvc ??= end.adapter.vcFor(end.vcHandle) ?? null;
    }
    return st;
  }

  /**
   * Stops forwarding (frames arriving now are returned at once, counted `dropped.inactive`),
   * waits for every forward in flight to complete — which returns every held receive — then
   * NdisClCloseCall on both VCs. Resolves with the first failing close status, else SUCCESS.
   * Concurrent calls share one stop.
   */
  stop(): Promise<NdisStatus> {
    if (this.stopping) return this.stopping;
    if (this.bridgeState !== 'forwarding') return Promise.resolve(NDIS_STATUS_SUCCESS);
    this.bridgeState = 'stopping';
    this.stopping = this.doStop().finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  private async doStop(): Promise<NdisStatus> {
    await Promise.all([this.idle(this.ab), this.idle(this.ba)]);
    const [sa, sb] = await Promise.all([this.closeCall(this.a), this.closeCall(this.b)]);
    this.bridgeState = 'idle';
    return sa !== NDIS_STATUS_SUCCESS ? sa : sb;
  }

  /** Resolves once nothing of `d` is in flight. */
  private idle(d: Direction): Promise<void> {
    if (d.inFlight === 0) return Promise.resolve();
    return new Promise<void>((r) => (d.idleWaiter = r));
  }

  private async closeCall(end: End): Promise<NdisStatus> {
    if (!end.connected) return NDIS_STATUS_SUCCESS;
    end.connected = false;
    return this.ndis.clCloseCallAsync(end.vcHandle);
  }

  /** stop(), then NdisCoDeleteVc, NdisClCloseAddressFamily and NdisCloseAdapterEx. Idempotent. */
  async close(): Promise<void> {
    if (this.bridgeState === 'closed') return;
    if (this.bridgeState === 'starting')
      throw new CondisError('ERR_CONDIS_INVALID_STATE', 'NdisBridge.close: start() is in progress', {
        state: this.bridgeState,
      });
    const st = await this.stop();
    if (st !== NDIS_STATUS_SUCCESS)
      throw new CondisError(
        'ERR_CONDIS_CALL_FAILED',
        `NdisBridge.close: NdisClCloseCall: ${statusName(st)}`,
        { status: st },
      );
    // An incoming close may still be closing a call from its own turn.
    await Promise.all([this.closeCall(this.a), this.closeCall(this.b)]);
    this.bridgeState = 'closed';
    for (const end of [this.a, this.b]) {
      this.ndis.coDeleteVc(end.vcHandle);
      await this.ndis.clCloseAddressFamilyAsync(end.af);
    }
    this.ndis.closeAdapter(this.a.binding);
    if (this.b.binding !== this.a.binding) this.ndis.closeAdapter(this.b.binding);
  }

  /**
   * ProtocolClIncomingCloseCall on `end`: forwards to it stop at once (its sends would be refused
   * now); its call is closed from a later turn, once this direction's forwards in flight are
   * back (E31), the way PingResponder answers one.
   */
  private onIncomingClose(end: End): void {
    if (!end.connected) return;
    const d = end === this.a ? this.ba : this.ab;
    setImmediate(() => {
      void this.idle(d).then(() => this.closeCall(end));
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Data path

  /**
   * ProtocolCoReceiveNetBufferLists on `end`'s VC: one forward per NET_BUFFER, all of the
   * indication sent as one list; the received NBLs not held are returned before this returns
   * (with RESOURCES the miniport takes them back itself).
   */
  private onReceive(end: End, nbls: NetBufferList, flags: number): void {
    const d = end === this.a ? this.ab : this.ba;
    const to = d.to;
    const c = d.counters;
    const resources = (flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0;
    const mvc = to.mvc;
    // Sends only to a VC that can take them now: NDIS would complete them with CLOSING or
    // VC_NOT_ACTIVATED anyway, and a refused send should not cost a copy.
    const open =
      this.bridgeState === 'forwarding' &&
      to.connected &&
      mvc !== null &&
      mvc.state === VcState.Active &&
      mvc.pair !== null;
    const toSab = to.adapter.device.region.u8.buffer;
    let sendHead: NetBufferList | null = null;
    let sendTail: NetBufferList | null = null;
    let retHead: NetBufferList | null = null;
    let retTail: NetBufferList | null = null;
    for (let p: NetBufferList | null = nbls; p; ) {
      const next: NetBufferList | null = p.next;
      p.next = null;
      let held = 0;
      for (let nb = p.firstNetBuffer; nb; nb = nb.next) {
        c.received++;
        const len = nb.dataLength;
        if (!open) {
          c.dropped.inactive++;
          continue;
        }
        if (len > mvc.maxFrame) {
          c.dropped.tooBig++;
          continue;
        }
        const tx = d.free.pop();
        if (tx === undefined) {
          c.dropped.cap++;
          continue;
        }
        const f = tx.protocolReserved as Forward;
        const out = tx.firstNetBuffer!;
        if (!resources && nb.buffer.buffer === toSab) {
          // Zero copy: the other VC's miniport sends the receive buffer itself.
          out.buffer = nb.buffer;
          out.dataOffset = nb.dataOffset;
          out.dataLength = len;
          f.rx = p;
          held++;
          c.zeroCopy++;
        } else {
          // One copy, into a transmit buffer of the other VC's pair (sent from there as is).
          const pool = mvc.pair!.txPool;
          const slot = pool.alloc();
          if (slot < 0) {
            d.free.push(tx);
            c.dropped.noBuffer++;
            continue;
          }
          const at = pool.offsetOf(slot) + to.adapter.device.region.payloadOffset;
          const bytes = pool.bytes;
          const src = nb.buffer;
          const from = nb.dataOffset;
          bytes.set(from === 0 && len === src.length ? src : src.subarray(from, from + len), at);
          out.buffer = bytes;
          out.dataOffset = at;
          out.dataLength = len;
          f.pool = pool;
          f.slot = slot;
          c.copied++;
        }
        carryOffloadInfo(p, tx, nb.buffer, nb.dataOffset, len);
        tx.sourceHandle = to.vcHandle;
        tx.status = NDIS_STATUS_SUCCESS;
        c.forwarded++;
        if (sendTail) sendTail.next = tx;
        else sendHead = tx;
        sendTail = tx;
      }
      if (held > 0) {
        // Returned once its last forward completes (onSendComplete).
        p.protocolReserved = held;
        this.held++;
      } else if (!resources) {
        if (retTail) retTail.next = p;
        else retHead = p;
        retTail = p;
      }
      p = next;
    }
    if (retHead !== null) this.ndis.returnNetBufferLists(end.binding, retHead, 0);
    if (sendHead !== null) this.ndis.coSendNetBufferLists(to.vcHandle, sendHead, 0);
  }

  /**
   * ProtocolCoSendNetBufferListsComplete on `end`'s VC: the forwards into it are back. Copy
   * buffers go back to their pool; each received NBL whose last forward this was is returned,
   * all of a batch in one NdisReturnNetBufferLists.
   */
  private onSendComplete(end: End, nbls: NetBufferList): void {
    const d = end === this.a ? this.ba : this.ab;
    const c = d.counters;
    let retHead: NetBufferList | null = null;
    let retTail: NetBufferList | null = null;
    for (let p: NetBufferList | null = nbls; p; ) {
      const next: NetBufferList | null = p.next;
      p.next = null;
      c.completed++;
      if (p.status !== NDIS_STATUS_SUCCESS) c.dropped.sendFailed++;
      const f = p.protocolReserved as Forward;
      if (f.rx !== null) {
        const rx = f.rx;
        f.rx = null;
        const left = (rx.protocolReserved as number) - 1;
        rx.protocolReserved = left === 0 ? undefined : left;
        if (left === 0) {
          this.held--;
          if (retTail) retTail.next = rx;
          else retHead = rx;
          retTail = rx;
        }
      } else if (f.pool !== null) {
        f.pool.free(f.slot);
        f.pool = null;
        f.slot = -1;
      }
      const out = p.firstNetBuffer!;
      out.dataLength = 0;
      d.free.push(p);
      p = next;
    }
    if (retHead !== null) this.ndis.returnNetBufferLists(d.from.binding, retHead, 0);
    if (d.inFlight === 0 && d.idleWaiter) {
      const w = d.idleWaiter;
      d.idleWaiter = null;
      w();
    }
  }
}
