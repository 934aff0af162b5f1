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
 * Frames: what to answer and the reply buffers are PingAnswerer's (ping-answerer.ts, shared with
 * the node's client of switched calls); this file is the NDIS side: binding, AF, VC, call, close.
 * (Ring memory through MiniportAdapter.allocateSendNetBufferList would save one
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
import { NDIS_RECEIVE_FLAGS_RESOURCES, type NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import { pvcCallManagerFor } from '../vc/channel';
import { AF_CONDIS_PVC, type PvcCallManager } from '../vc/pvc-call-manager';
import { parseIpv4Address } from './ipv4';
import { PingAnswerer, type ResponderCounters } from './ping-answerer';

export { ResponderCounters } from './ping-answerer';

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

/** Where the client's call is (its own view; NDIS keeps the authoritative one). */
export type ResponderState = 'idle' | 'calling' | 'connected' | 'stopping' | 'closed';

let responders = 0;

export class PingResponder {
  readonly vid: number;
  /** The client's handle of its VC (created in open(), reused by every call). */
  readonly vcHandle: NdisVcHandle;
  /** What to answer, and the reply buffers. */
  private readonly answerer: PingAnswerer;
  private callState: ResponderState = 'idle';
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
    this.answerer = new PingAnswerer(vcHandle, {
      ip: parseIpv4Address(opts.ip),
      mac: parseMac(opts.mac),
      ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}),
      ...(opts.replyBuffers !== undefined ? { replyBuffers: opts.replyBuffers } : {}),
      ...(opts.replyBufferSize !== undefined ? { replyBufferSize: opts.replyBufferSize } : {}),
    });
  }

  /** What the client did with the frames it was given. Cumulative over every call. */
  get counters(): ResponderCounters {
    return this.answerer.counters;
  }

  get ip(): Uint8Array {
    return this.answerer.ip;
  }

  get mac(): Uint8Array {
    return this.answerer.mac;
  }

  get ttl(): number {
    return this.answerer.ttl;
  }

  /** Status the last completed send reported that was not SUCCESS (diagnostics). */
  get lastSendFailure(): NdisStatus {
    return this.answerer.lastSendFailure;
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
    return this.answerer.repliesInFlight;
  }

  /** Reply buffers free / in total (all free once nothing is in flight). */
  get replyBuffersFree(): number {
    return this.answerer.replyBuffersFree;
  }

  get replyBufferCount(): number {
    return this.answerer.replyBufferCount;
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
    this.answerer.setMaxSdu(params.callMgrParameters?.transmit?.maxSduSize ?? 0);
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
    await this.answerer.whenIdle();
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
    const answering = this.callState === 'connected' && !this.closeIndicated;
    const head = this.answerer.answerAll(nbls, answering);
    if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0) this.ndis.returnNetBufferLists(this.binding, nbls, 0);
    if (head !== null) this.ndis.coSendNetBufferLists(this.vcHandle, head, 0);
  }

  /** ProtocolCoSendNetBufferListsComplete: the reply buffers are ours again. */
  private onSendComplete(nbls: NetBufferList): void {
    this.answerer.complete(nbls);
  }
}
