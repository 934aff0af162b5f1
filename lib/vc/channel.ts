/**
 * VcChannel: a VC for people who do not want NBLs. One channel = one tiny CoNDIS client
 * (protocol) with one VC on a condis-tap miniport, so every frame goes through NDIS's rules
 * (sends refused on a VC that is not ready, drain on deactivation, returns counted):
 *
 *   const ch = await VcChannel.open(ndis, adapter.handle, { vid: 42 });
 *   await ch.send(frame);                 // resolves with the NDIS_STATUS of the completion
 *   for await (const f of ch) { ... }     // received frames, until the call is closed
 *   await ch.close();
 *
 * Received frames are COPIES (fresh Uint8Arrays the caller keeps): the channel returns each
 * indication's NBLs to the miniport at once (NdisReturnNetBufferLists from inside
 * ProtocolCoReceiveNetBufferLists), so a slow reader never holds ring buffers and never blocks a
 * deactivation. Frames wait in a bounded queue (`maxQueued`, default 4096); beyond it they are
 * dropped and counted in `dropped`. This is the convenience path: it allocates per frame. Drivers
 * that care use NBLs directly (see lib/miniport).
 *
 * `send(frame)` does not copy: `frame` must stay unchanged until the promise settles.
 *
 * Setup, per channel: NdisRegisterProtocolDriver, NdisOpenAdapterEx, NdisClOpenAddressFamilyEx
 * (AF_CONDIS_PVC, served by a PvcCallManager on the same miniport: one is created on first use),
 * NdisCoCreateVc, NdisClMakeCall with condis call parameters for the VID. close(): waits for its
 * sends, NdisClCloseCall (the call manager deactivates; the close completes once drained),
 * NdisCoDeleteVc, NdisClCloseAddressFamily, NdisCloseAdapterEx. A network-initiated close
 * (ProtocolClIncomingCloseCall) ends the iterator and closes the channel the same way.
 */

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
import { NDIS_STATUS_CLOSING, NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import { AF_CONDIS_PVC, PvcCallManager } from './pvc-call-manager';

export interface VcChannelOptions {
  /** VID (= VC id) of the channel, 1..4094. */
  vid: number;
  /** Parameters for the call (default: condisCallParameters(vid)). */
  callParameters?: CoCallParameters;
  /** Received frames kept for the reader before new ones are dropped (default 4096). */
  maxQueued?: number;
  /** The call manager to use (default: one PvcCallManager per Ndis and miniport). */
  callManager?: PvcCallManager;
}

const callManagers = new WeakMap<Ndis, Map<NdisMiniportHandle, PvcCallManager>>();

/** The PvcCallManager serving `miniport` under `ndis`, created on first use. */
export function pvcCallManagerFor(ndis: Ndis, miniport: NdisMiniportHandle): PvcCallManager {
  let m = callManagers.get(ndis);
  if (!m) {
    m = new Map();
    callManagers.set(ndis, m);
  }
  let cm = m.get(miniport);
  if (!cm) {
    cm = new PvcCallManager(ndis, miniport);
    m.set(miniport, cm);
  }
  return cm;
}

let channels = 0;

export class VcChannel implements AsyncIterable<Uint8Array> {
  /** The client's VC handle. */
  readonly vcHandle: NdisVcHandle;
  readonly vid: number;
  /** Frames received (queued for the reader) and dropped because the queue was full. */
  received = 0;
  dropped = 0;
  /** Sends handed to NDIS and completed. */
  sent = 0;
  completed = 0;
  private readonly queue: Uint8Array[] = [];
  private queueHead = 0;
  private readonly readers: Array<(r: IteratorResult<Uint8Array>) => void> = [];
  private readonly maxQueued: number;
  private readonly freeNbls: NetBufferList[] = [];
  private idleWaiter: (() => void) | null = null;
  private ended = false;
  private closing: Promise<NdisStatus> | null = null;

  private constructor(
    private readonly ndis: Ndis,
    private readonly binding: NdisBindingHandle,
    private readonly af: NdisAfHandle,
    vcHandle: NdisVcHandle,
    vid: number,
    maxQueued: number,
  ) {
    this.vcHandle = vcHandle;
    this.vid = vid;
    this.maxQueued = maxQueued;
  }

  /** Opens a channel on `miniport` (see the file comment). Rejects if the call fails. */
  static async open(ndis: Ndis, miniport: NdisMiniportHandle, opts: VcChannelOptions): Promise<VcChannel> {
    const cm = opts.callManager ?? pvcCallManagerFor(ndis, miniport);
    void cm;
    // The channel object is created after the VC exists; handlers reach it through this box.
    const box: { ch: VcChannel | null } = { ch: null };
    const proto = ndis.registerProtocol(`vc-channel-${++channels}`, {
      coSendNetBufferListsComplete: (_vcCtx, nbls) => box.ch?.onSendComplete(nbls),
      coReceiveNetBufferLists: (_bindCtx, _vcCtx, nbls, _n, flags) => box.ch?.onReceive(nbls, flags),
    });
    const binding = ndis.openAdapter(proto, miniport, box);
    const handlers: ClientHandlers = {
      clIncomingCloseCall: () => void box.ch?.close(),
    };
    const af = ndis.clOpenAddressFamily(binding, AF_CONDIS_PVC, handlers, box);
    if (af.status !== NDIS_STATUS_SUCCESS || !af.afHandle) {
      ndis.closeAdapter(binding);
      throw new Error(`VcChannel: NdisClOpenAddressFamilyEx failed: ${statusName(af.status)}`);
    }
    const vc = ndis.coCreateVc(binding, af.afHandle, box);
    if (vc.status !== NDIS_STATUS_SUCCESS || !vc.vcHandle) {
      await ndis.clCloseAddressFamilyAsync(af.afHandle);
      ndis.closeAdapter(binding);
      throw new Error(`VcChannel: NdisCoCreateVc failed: ${statusName(vc.status)}`);
    }
    const ch = new VcChannel(ndis, binding, af.afHandle, vc.vcHandle, opts.vid, opts.maxQueued ?? 4096);
    box.ch = ch;
    const st = await ndis.clMakeCallAsync(vc.vcHandle, opts.callParameters ?? condisCallParameters(opts.vid));
    if (st !== NDIS_STATUS_SUCCESS) {
      ch.ended = true;
      ndis.coDeleteVc(vc.vcHandle);
      await ndis.clCloseAddressFamilyAsync(af.afHandle);
      ndis.closeAdapter(binding);
      throw new Error(`VcChannel: NdisClMakeCall on VID ${opts.vid} failed: ${statusName(st)}`);
    }
    return ch;
  }

  /** Sends one frame; resolves with its completion status (SUCCESS, or why it failed). */
  send(frame: Uint8Array): Promise<NdisStatus> {
    if (this.closing) return Promise.resolve(NDIS_STATUS_CLOSING);
    return new Promise<NdisStatus>((resolve) => {
      const nbl = this.freeNbls.pop() ?? new NetBufferList(new NetBuffer(frame));
      const nb = nbl.firstNetBuffer!;
      nb.buffer = frame;
      nb.dataOffset = 0;
      nb.dataLength = frame.length;
      nbl.sourceHandle = this.vcHandle;
      nbl.protocolReserved = resolve;
      this.sent++;
      this.ndis.coSendNetBufferLists(this.vcHandle, nbl, 0);
    });
  }

  /** The next received frame, or undefined once the channel is closed and the queue empty. */
  async receive(): Promise<Uint8Array | undefined> {
    const r = await this.next();
    return r.done ? undefined : r.value;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return { next: () => this.next(), return: async () => ({ done: true, value: undefined }) };
  }

  /** Frames waiting for the reader. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /**
   * Closes the call (NdisClCloseCall once every send has completed, spec §1.2-G), then deletes the
   * VC and unbinds. Resolves with the close status. Idempotent.
   */
  close(): Promise<NdisStatus> {
    if (this.closing) return this.closing;
    this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<NdisStatus> {
    this.end();
    if (this.sent !== this.completed) await new Promise<void>((r) => (this.idleWaiter = r));
    const st = await this.ndis.clCloseCallAsync(this.vcHandle);
    if (st !== NDIS_STATUS_SUCCESS) return st; // the call stays up (K13); nothing to delete
    this.ndis.coDeleteVc(this.vcHandle);
    await this.ndis.clCloseAddressFamilyAsync(this.af);
    this.ndis.closeAdapter(this.binding);
    return st;
  }

  private next(): Promise<IteratorResult<Uint8Array>> {
    if (this.queueHead < this.queue.length) {
      const value = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as Uint8Array;
      if (this.queueHead === this.queue.length) this.queue.length = this.queueHead = 0;
      return Promise.resolve({ done: false, value });
    }
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => this.readers.push(resolve));
  }

  private end(): void {
    this.ended = true;
    for (let r = this.readers.shift(); r; r = this.readers.shift()) r({ done: true, value: undefined });
  }

  /** ProtocolCoReceiveNetBufferLists: copy every frame, give the NBLs back at once. */
  private onReceive(nbls: NetBufferList, flags: number): void {
    for (let p: NetBufferList | null = nbls; p; p = p.next) {
      for (let nb = p.firstNetBuffer; nb; nb = nb.next) {
        if (this.ended || this.queued >= this.maxQueued) {
          this.dropped++;
          continue;
        }
        const copy = nb.buffer.slice(nb.dataOffset, nb.dataOffset + nb.dataLength);
        this.received++;
        const reader = this.readers.shift();
        if (reader) reader({ done: false, value: copy });
        else this.queue.push(copy);
      }
    }
    // With RESOURCES the miniport owns them again when we return; otherwise hand them back.
    if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0) this.ndis.returnNetBufferLists(this.binding, nbls, 0);
  }

  /** ProtocolCoSendNetBufferListsComplete: settle each send with its NBL's status. */
  private onSendComplete(nbls: NetBufferList): void {
    for (let p: NetBufferList | null = nbls; p; ) {
      const next: NetBufferList | null = p.next;
      p.next = null;
      const resolve = p.protocolReserved as (s: NdisStatus) => void;
      p.protocolReserved = undefined;
      p.firstNetBuffer!.buffer = EMPTY;
      this.freeNbls.push(p);
      this.completed++;
      resolve(p.status);
      p = next;
    }
    if (this.completed === this.sent && this.idleWaiter) {
      const w = this.idleWaiter;
      this.idleWaiter = null;
      w();
    }
  }
}

const EMPTY = new Uint8Array(0);
