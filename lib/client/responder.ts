/**
 * PingResponder: the reference CoNDIS client (protocol driver). It owns an IPv4 address and a MAC
 * on one VC and answers ARP requests for the address and ICMP echo requests to it, so that the
 * Linux host can `ping` the userland end of a VC (through `tap0.42` for VC 42, or anything else
 * that puts the host's frames on VID 42).
 *
 *   const r = PingResponder.open(ndis, adapter.handle, { vid: 42, ip: '10.42.0.2', mac: '02:00:00:00:42:02' });
 *   await r.start();                       // NdisClMakeCall: the call manager activates the VC
 *   ...                                    // the host pings 10.42.0.2
 *   await r.stop();                        // NdisClCloseCall: deactivated, drained
 *   await r.start(condisCallParameters(42, { maxSduSize: 1200 }));   // the same VC again (E38)
 *   await r.close();                       // delete the VC, close the AF and the binding
 *
 * Layering: a protocol driver straight on NDIS (NdisRegisterProtocolDriver, NdisOpenAdapterEx,
 * NdisClOpenAddressFamilyEx on AF_CONDIS_PVC, NdisCoCreateVc, NdisClMakeCall), not on VcChannel.
 * VcChannel is the convenience path: it copies every received frame into a fresh array for an
 * async reader and wraps every send in a Promise. A responder wants the opposite: it reads each
 * request where the device wrote it (ring memory, inside ProtocolCoReceiveNetBufferLists),
 * writes the reply into a reply buffer of its own, gives the received NBLs back before the
 * handler returns, and sends all replies of an indication as one NBL list. The setup is
 * VcChannel's (same address family, same per-miniport PvcCallManager).
 *
 * Buffers: `replyBuffers` NBLs (default 64) over one preallocated ArrayBuffer, reused after their
 * send completes: no allocation per packet. A request that finds every reply buffer in flight
 * is dropped and counted (`droppedNoBuffer`): ping retransmits nothing, so the host sees a loss,
 * never a stall. (Ring memory through MiniportAdapter.allocateSendNetBufferList would save one
 * copy of a few dozen bytes, but allocates an NBL per reply and ties the client to this
 * miniport; the miniport copies a foreign buffer into its ring itself.)
 *
 * Receives: never held. With or without NDIS_RECEIVE_FLAGS_RESOURCES the reply is built before
 * the handler returns, so a deactivation never waits for this client's receives.
 *
 * Sends and close: NdisClCloseCall with sends outstanding is a protocol error (E31), so stop()
 * stops answering first, waits for the replies in flight, then closes. A network-initiated close
 * (ProtocolClIncomingCloseCall) is answered the same way. A deactivation by the call manager
 * without a close (PvcCallManager.deactivate) needs nothing from the client: frames stop coming
 * while the VC is inactive and come again when it is re-activated.
 */

import { parseMac } from '../device/options';
import { condisCallParameters } from '../medium/params';
import type {
  ClientHandlers,
  NdisAfHandle,
  NdisBindingHandle,
  NdisMiniportHandle,
  NdisVcHandle,
} from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import { NDIS_RECEIVE_FLAGS_RESOURCES, NetBuffer, NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import { pvcCallManagerFor } from '../vc/channel';
import { AF_CONDIS_PVC, type PvcCallManager } from '../vc/pvc-call-manager';
import { ARP_LEN, ARP_SHA, ArpVerdict, checkArp, writeArpReply } from './arp';
import {
  bytesEqual,
  ETH_HLEN,
  ETH_ZLEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  isBroadcastMac,
  padFrame,
  u16,
  writeEthernetHeader,
} from './ethernet';
import { checkIcmp, IcmpVerdict, writeEchoReply } from './icmp';
import {
  checkIpv4,
  IPPROTO_ICMP,
  IPV4_HLEN,
  Ipv4Verdict,
  ipv4HeaderLength,
  ipv4TotalLength,
  parseIpv4Address,
  writeIpv4ReplyHeader,
} from './ipv4';

export interface PingResponderOptions {
  /** VID (= VC id) the default call parameters of start() name, 1..4094. */
  vid: number;
  /** The IPv4 address the client owns, dotted quad. */
  ip: string;
  /** The client's MAC, 'aa:bb:cc:dd:ee:ff', unicast. */
  mac: string;
  /** TTL of the echo replies (default 64, Linux's). */
  ttl?: number;
  /** Reply buffers (default 64) and their size in bytes (default 1518: a full Ethernet frame). */
  replyBuffers?: number;
  replyBufferSize?: number;
  /** The call manager of AF_CONDIS_PVC (default: the one per Ndis and miniport VcChannel uses). */
  callManager?: PvcCallManager;
}

/** What the client did with the frames it was given. Cumulative over every call. */
export class ResponderCounters {
  /** Frames (NET_BUFFERs) indicated to the client. */
  framesIn = 0;
  /** ARP requests for our address answered; ICMP echo requests to it answered. */
  arpReplies = 0;
  echoReplies = 0;
  /** Well formed but for another MAC or address. */
  ignoredNotForUs = 0;
  /** Truncated, inconsistent lengths, bad IPv4 header or ICMP checksum. */
  ignoredMalformed = 0;
  /** Other ethertypes, IP protocols, ICMP types, fragments, ARP that asks nothing. */
  ignoredUnsupported = 0;
  /** Would have been answered, but every reply buffer was in flight / the reply exceeds the VC's maximum. */
  droppedNoBuffer = 0;
  droppedTooBig = 0;
  /** Arrived while stop() waited for the replies in flight. */
  droppedStopping = 0;
  /** Reply NBLs sent, and completed by outcome. */
  repliesSent = 0;
  repliesCompleted = 0;
  repliesFailed = 0;

  get answered(): number {
    return this.arpReplies + this.echoReplies;
  }

  get ignored(): number {
    return this.ignoredNotForUs + this.ignoredMalformed + this.ignoredUnsupported;
  }
}

/** Where the client's call is (its own view; NDIS keeps the authoritative one). */
export type ResponderState = 'idle' | 'calling' | 'connected' | 'stopping' | 'closed';

let responders = 0;

export class PingResponder {
  readonly counters = new ResponderCounters();
  readonly vid: number;
  readonly ip: Uint8Array;
  readonly mac: Uint8Array;
  readonly ttl: number;
  /** The client's handle of its VC (created in open(), reused by every call). */
  readonly vcHandle: NdisVcHandle;
  private callState: ResponderState = 'idle';
  /** Status the last completed send reported that was not SUCCESS (diagnostics). */
  lastSendFailure: NdisStatus = NDIS_STATUS_SUCCESS;
  private readonly replyPool: NetBufferList[];
  private readonly freeReplies: NetBufferList[];
  private readonly replyBufferSize: number;
  /** Largest frame a send may carry on the current call (its transmit maxSduSize, or a buffer). */
  private maxFrame: number;
  private ipId = 0;
  private idleWaiter: (() => void) | null = null;
  private stopping: Promise<NdisStatus> | null = null;
  /** ProtocolClIncomingCloseCall came for the current call: answer nothing more. */
  private closeIndicated = false;

  private constructor(
    private readonly ndis: Ndis,
    private readonly binding: NdisBindingHandle,
    private readonly af: NdisAfHandle,
    vcHandle: NdisVcHandle,
    opts: PingResponderOptions,
  ) {
    this.vcHandle = vcHandle;
    this.vid = opts.vid;
    this.ip = parseIpv4Address(opts.ip);
    this.mac = parseMac(opts.mac);
    this.ttl = opts.ttl ?? 64;
    const n = opts.replyBuffers ?? 64;
    const size = opts.replyBufferSize ?? 1518;
    if (!(Number.isInteger(n) && n > 0) || !(Number.isInteger(size) && size >= ETH_ZLEN)) {
      throw new RangeError(`PingResponder: replyBuffers must be > 0 and replyBufferSize >= ${ETH_ZLEN}`);
    }
    this.replyBufferSize = size;
    this.maxFrame = size;
    const memory = new Uint8Array(n * size);
    this.replyPool = [];
    for (let i = 0; i < n; i++) {
      const nbl = new NetBufferList(new NetBuffer(memory, i * size, 0));
      nbl.sourceHandle = vcHandle;
      this.replyPool.push(nbl);
    }
    this.freeReplies = this.replyPool.slice().reverse();
  }

  /**
   * Binds a new client to `miniport` and creates its VC (no call yet: start() makes one).
   * Throws if the address family cannot be opened or the VC created.
   */
  static open(ndis: Ndis, miniport: NdisMiniportHandle, opts: PingResponderOptions): PingResponder {
    // Validate before registering anything, so a bad option leaves nothing behind.
    parseIpv4Address(opts.ip);
    parseMac(opts.mac);
    if (opts.callManager === undefined) pvcCallManagerFor(ndis, miniport);
    // Handlers reach the object through this box: it exists only once the VC does.
    const box: { r: PingResponder | null } = { r: null };
    const proto = ndis.registerProtocol(`ping-responder-${++responders}`, {
      coSendNetBufferListsComplete: (_vcCtx, nbls) => box.r?.onSendComplete(nbls),
      coReceiveNetBufferLists: (_bindCtx, _vcCtx, nbls, _n, flags) => box.r?.onReceive(nbls, flags),
    });
    const binding = ndis.openAdapter(proto, miniport, box);
    const handlers: ClientHandlers = {
      // The network closed the call (PvcCallManager.teardown): complete it from our side.
      clIncomingCloseCall: () => box.r?.onIncomingClose(),
    };
    const af = ndis.clOpenAddressFamily(binding, AF_CONDIS_PVC, handlers, box);
    if (af.status !== NDIS_STATUS_SUCCESS || !af.afHandle) {
      ndis.closeAdapter(binding);
      throw new Error(`PingResponder: NdisClOpenAddressFamilyEx failed: ${statusName(af.status)}`);
    }
    const vc = ndis.coCreateVc(binding, af.afHandle, box);
    if (vc.status !== NDIS_STATUS_SUCCESS || !vc.vcHandle) {
      ndis.clCloseAddressFamily(af.afHandle);
      ndis.closeAdapter(binding);
      throw new Error(`PingResponder: NdisCoCreateVc failed: ${statusName(vc.status)}`);
    }
    const r = new PingResponder(ndis, binding, af.afHandle, vc.vcHandle, opts);
    box.r = r;
    return r;
  }

  get state(): ResponderState {
    return this.callState;
  }

  /** Reply NBLs handed to NDIS and not completed yet. */
  get repliesInFlight(): number {
    return this.counters.repliesSent - this.counters.repliesCompleted;
  }

  /** Reply buffers free / in total (all free once nothing is in flight). */
  get replyBuffersFree(): number {
    return this.freeReplies.length;
  }

  get replyBufferCount(): number {
    return this.replyPool.length;
  }

  /**
   * NdisClMakeCall on the client's VC with `params` (default: a fresh condisCallParameters(vid);
   * each call needs its own parameter object, E50). Resolves with the call's final status; on
   * SUCCESS the VC is active and requests are answered.
   */
  async start(params: CoCallParameters = condisCallParameters(this.vid)): Promise<NdisStatus> {
    if (this.callState !== 'idle') {
      throw new Error(`PingResponder.start: the client is ${this.callState}, not idle`);
    }
    this.callState = 'calling';
    const st = await this.ndis.clMakeCallAsync(this.vcHandle, params);
    if (st !== NDIS_STATUS_SUCCESS) {
      this.callState = 'idle';
      return st;
    }
    // The miniport may have rounded maxSduSize down into this object (ROUND_DOWN_FLOW, E15).
    const sdu = params.callMgrParameters?.transmit?.maxSduSize ?? 0;
    this.maxFrame = sdu > 0 ? Math.min(sdu, this.replyBufferSize) : this.replyBufferSize;
    this.closeIndicated = false;
    this.callState = 'connected';
    return st;
  }

  /**
   * Stops answering, waits until every reply in flight has completed (E31), then NdisClCloseCall:
   * the call manager deactivates the VC and the close completes once it has drained. Resolves
   * with the close status (SUCCESS when not connected). Concurrent calls share one close.
   */
  stop(): Promise<NdisStatus> {
    if (this.stopping) return this.stopping;
    if (this.callState !== 'connected') return Promise.resolve(NDIS_STATUS_SUCCESS);
    this.callState = 'stopping';
    this.stopping = this.doStop().finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  private async doStop(): Promise<NdisStatus> {
    if (this.repliesInFlight > 0) await new Promise<void>((r) => (this.idleWaiter = r));
    const st = await this.ndis.clCloseCallAsync(this.vcHandle);
    // A failed close leaves the call connected (K13): answer again rather than go deaf.
    this.callState = st === NDIS_STATUS_SUCCESS ? 'idle' : 'connected';
    return st;
  }

  /** stop(), then NdisCoDeleteVc, NdisClCloseAddressFamily, NdisCloseAdapterEx. Idempotent. */
  async close(): Promise<void> {
    if (this.callState === 'closed') return;
    if (this.callState === 'calling') throw new Error('PingResponder.close: a make-call is in progress');
    const st = await this.stop();
    if (st !== NDIS_STATUS_SUCCESS)
      throw new Error(`PingResponder.close: NdisClCloseCall: ${statusName(st)}`);
    this.callState = 'closed';
    this.ndis.coDeleteVc(this.vcHandle);
    await this.ndis.clCloseAddressFamilyAsync(this.af);
    this.ndis.closeAdapter(this.binding);
  }

  /**
   * ProtocolClIncomingCloseCall: stop answering at once (sends would only be refused now), and
   * close from a later turn. A call manager deactivates right after dispatching the close
   * (spec §3.3); closing from inside the handler would start a second deactivation ahead of its
   * own, which it would then see refused. From a later turn our close finds the deactivation
   * under way and completes with it.
   */
  private onIncomingClose(): void {
    this.closeIndicated = true;
    setImmediate(() => void this.stop());
  }

  // ---------------------------------------------------------------------------------------------
  // Data path

  /**
   * ProtocolCoReceiveNetBufferLists: answer what deserves an answer, give every NBL back before
   * returning (unless RESOURCES, where the miniport takes them back itself), send the replies as
   * one list.
   */
  private onReceive(nbls: NetBufferList, flags: number): void {
    let head: NetBufferList | null = null;
    let tail: NetBufferList | null = null;
    let n = 0;
    const answering = this.callState === 'connected' && !this.closeIndicated;
    for (let p: NetBufferList | null = nbls; p; p = p.next) {
      for (let nb = p.firstNetBuffer; nb; nb = nb.next) {
        this.counters.framesIn++;
        const reply = this.answer(nb.buffer, nb.dataOffset, nb.dataLength, answering);
        if (reply === null) continue;
        if (tail) tail.next = reply;
        else head = reply;
        tail = reply;
        n++;
      }
    }
    if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0) this.ndis.returnNetBufferLists(this.binding, nbls, 0);
    if (head !== null) {
      this.counters.repliesSent += n;
      this.ndis.coSendNetBufferLists(this.vcHandle, head, 0);
    }
  }

  /**
   * The reply to the frame at `b[off..off+len)`, written into a free reply NBL, or null (each
   * outcome counted once).
   */
  private answer(b: Uint8Array, off: number, len: number, answering: boolean): NetBufferList | null {
    const c = this.counters;
    if (len < ETH_HLEN) {
      c.ignoredMalformed++;
      return null;
    }
    const type = u16(b, off + 12);
    if (type === ETHERTYPE_ARP) {
      if (!isBroadcastMac(b, off) && !bytesEqual(b, off, this.mac)) {
        c.ignoredNotForUs++;
        return null;
      }
      const arp = off + ETH_HLEN;
      const v = checkArp(b, arp, len - ETH_HLEN, this.ip);
      if (v !== ArpVerdict.Request) return this.ignore(v);
      const nbl = this.takeReply(ETH_HLEN + ARP_LEN, answering);
      if (nbl === null) return null;
      const nb = nbl.firstNetBuffer!;
      const out = nb.buffer;
      const o = nb.dataOffset;
      writeEthernetHeader(out, o, b, arp + ARP_SHA, this.mac, ETHERTYPE_ARP);
      writeArpReply(out, o + ETH_HLEN, b, arp, this.mac, this.ip);
      nb.dataLength = padFrame(out, o, ETH_HLEN + ARP_LEN);
      c.arpReplies++;
      return nbl;
    }
    if (type !== ETHERTYPE_IPV4) {
      c.ignoredUnsupported++;
      return null;
    }
    // Unicast to our MAC only: RFC 1122 lets a host ignore broadcast and multicast echoes.
    if (!bytesEqual(b, off, this.mac)) {
      c.ignoredNotForUs++;
      return null;
    }
    const ip = off + ETH_HLEN;
    const iv = checkIpv4(b, ip, len - ETH_HLEN, this.ip);
    if (iv !== Ipv4Verdict.Ok) return this.ignore(iv);
    if (b[ip + 9] !== IPPROTO_ICMP) {
      c.ignoredUnsupported++;
      return null;
    }
    const hlen = ipv4HeaderLength(b, ip);
    const icmpLen = ipv4TotalLength(b, ip) - hlen;
    const icmp = ip + hlen;
    const v = checkIcmp(b, icmp, icmpLen);
    if (v !== IcmpVerdict.EchoRequest) return this.ignore(v);
    // Options of the request are not carried over: the reply has a plain 20-byte header.
    const frameLen = ETH_HLEN + IPV4_HLEN + icmpLen;
    const nbl = this.takeReply(frameLen, answering);
    if (nbl === null) return null;
    const nb = nbl.firstNetBuffer!;
    const out = nb.buffer;
    const o = nb.dataOffset;
    writeEthernetHeader(out, o, b, off + 6, this.mac, ETHERTYPE_IPV4);
    writeIpv4ReplyHeader(
      out,
      o + ETH_HLEN,
      b,
      ip,
      this.ip,
      IPV4_HLEN + icmpLen,
      this.ipId++,
      this.ttl,
      IPPROTO_ICMP,
    );
    writeEchoReply(out, o + ETH_HLEN + IPV4_HLEN, b, icmp, icmpLen);
    nb.dataLength = padFrame(out, o, frameLen);
    c.echoReplies++;
    return nbl;
  }

  /** Counts a verdict other than "answer" (the three verdict enums share their numbering). */
  private ignore(v: number): null {
    const c = this.counters;
    if (v === Ipv4Verdict.Malformed) c.ignoredMalformed++;
    else if (v === Ipv4Verdict.NotForUs) c.ignoredNotForUs++;
    else c.ignoredUnsupported++;
    return null;
  }

  /** A free reply NBL for a frame of `frameLen` bytes, or null (counted why). */
  private takeReply(frameLen: number, answering: boolean): NetBufferList | null {
    const c = this.counters;
    if (!answering) {
      c.droppedStopping++;
      return null;
    }
    // Replies are padded to ETH_ZLEN, so that is what goes on the wire.
    if (Math.max(frameLen, ETH_ZLEN) > this.maxFrame) {
      c.droppedTooBig++;
      return null;
    }
    const nbl = this.freeReplies.pop();
    if (nbl === undefined) {
      c.droppedNoBuffer++;
      return null;
    }
    nbl.next = null;
    nbl.status = NDIS_STATUS_SUCCESS;
    return nbl;
  }

  /** ProtocolCoSendNetBufferListsComplete: the reply buffers are ours again. */
  private onSendComplete(nbls: NetBufferList): void {
    const c = this.counters;
    for (let p: NetBufferList | null = nbls; p; ) {
      const next: NetBufferList | null = p.next;
      p.next = null;
      c.repliesCompleted++;
      if (p.status !== NDIS_STATUS_SUCCESS) {
        c.repliesFailed++;
        this.lastSendFailure = p.status;
      }
      this.freeReplies.push(p);
      p = next;
    }
    if (this.repliesInFlight === 0 && this.idleWaiter) {
      const w = this.idleWaiter;
      this.idleWaiter = null;
      w();
    }
  }
}
