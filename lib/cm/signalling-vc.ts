/**
 * The stand-alone call manager's signalling VC (spec §3.7): an ordinary NDIS VC the call manager
 * creates with a NULL address family (NdisCoCreateVc -> MiniportCoCreateVc only, E2), activates
 * with NdisCmActivateVc, sends on with NdisCoSendNetBufferLists and receives on through its
 * ProtocolCoReceiveNetBufferLists; NdisCmDeactivateVc and NdisCoDeleteVc take it down.
 *
 * Where it lives on the wire: the protocol's home, untagged frames on queue pair 0 under
 * ethertype 0x88B5. The VC asks for VID 0 (SIGNALLING_VID), which the reference miniport maps to
 * "pair 0, untagged" (lib/medium/params.ts). Another VID (CondisCallManagerOptions.signallingVid)
 * carries the same messages in frames tagged with it, on a pair 1..N-1, for a network that wants
 * signalling on a VLAN of its own; both ends must then use the same one.
 *
 * Received frames are handed to the engine (which copies them) and the NBLs returned at once: a
 * signalling VC that held the miniport's buffers would block its own deactivation.
 */
import { condisCallParameters, UNTAGGED_VID } from '../medium/params';
import type { NdisBindingHandle, NdisVcHandle } from '../ndis/actors';
import type { CoCallParameters } from '../ndis/call-parameters';
import { makeNbl, NDIS_RECEIVE_FLAGS_RESOURCES, type NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, type NdisStatus } from '../ndis/status';
import type { SignallingChannel } from './channel';

/** The VID the signalling VC asks for by default: 0, untagged queue pair 0. */
export const SIGNALLING_VID = UNTAGGED_VID;

/** Call parameters of the signalling VC: a VID, and room for the largest message. */
export function signallingCallParameters(vid: number): CoCallParameters {
  return condisCallParameters(vid, { maxSduSize: 128 });
}

export class SignallingVc implements SignallingChannel {
  /** The call manager's handle of the VC (undefined before open / after close). */
  handle: NdisVcHandle | undefined;
  onFrame: ((bytes: Uint8Array, offset: number, length: number) => void) | null = null;
  /** Frames handed to NDIS, completed, and completed with a failure status. */
  sent = 0;
  completed = 0;
  failed = 0;
  private active = false;
  private readonly free: NetBufferList[] = [];
  private idle: (() => void) | null = null;

  constructor(
    private readonly ndis: Ndis,
    private readonly binding: NdisBindingHandle,
    readonly vid: number,
  ) {}

  /** NdisCoCreateVc(AF=NULL) + NdisCmActivateVc. The final status; on failure the VC is deleted. */
  async open(): Promise<NdisStatus> {
    const r = this.ndis.coCreateVc(this.binding, null, this);
    if (r.status !== NDIS_STATUS_SUCCESS || !r.vcHandle) return r.status;
    this.handle = r.vcHandle;
    const st = await this.ndis.cmActivateVcAsync(r.vcHandle, signallingCallParameters(this.vid));
    if (st !== NDIS_STATUS_SUCCESS) {
      this.ndis.coDeleteVc(r.vcHandle);
      this.handle = undefined;
      return st;
    }
    this.active = true;
    return st;
  }

  /** NdisCoSendNetBufferLists of one frame (no copy: the engine encodes into a fresh buffer). */
  send(frame: Uint8Array): boolean {
    if (!this.active || this.handle === undefined) return false;
    const nbl = this.free.pop() ?? makeNbl(frame);
    const nb = nbl.firstNetBuffer!;
    nb.buffer = frame;
    nb.dataOffset = 0;
    nb.dataLength = frame.length;
    nbl.sourceHandle = this.handle;
    this.sent++;
    this.ndis.coSendNetBufferLists(this.handle, nbl, 0);
    return true;
  }

  /** ProtocolCoSendNetBufferListsComplete for the signalling VC. */
  sendComplete(nbls: NetBufferList): void {
    for (let p: NetBufferList | null = nbls; p; ) {
      const next: NetBufferList | null = p.next;
      p.next = null;
      this.completed++;
      if (p.status !== NDIS_STATUS_SUCCESS) this.failed++;
      this.free.push(p);
      p = next;
    }
    if (this.completed === this.sent && this.idle) {
      const w = this.idle;
      this.idle = null;
      w();
    }
  }

  /** ProtocolCoReceiveNetBufferLists for the signalling VC: hand each frame over, return at once. */
  receive(nbls: NetBufferList, flags: number): void {
    for (let p: NetBufferList | null = nbls; p; p = p.next)
      for (let nb = p.firstNetBuffer; nb; nb = nb.next)
        this.onFrame?.(nb.buffer, nb.dataOffset, nb.dataLength);
    if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0) this.ndis.returnNetBufferLists(this.binding, nbls, 0);
  }

  /** Waits for its sends, NdisCmDeactivateVc, NdisCoDeleteVc. Idempotent. */
  async close(): Promise<void> {
    const h = this.handle;
    if (h === undefined) return;
    this.active = false;
    if (this.completed !== this.sent) await new Promise<void>((r) => (this.idle = r));
    await this.ndis.cmDeactivateVcAsync(h);
    this.ndis.coDeleteVc(h);
    this.handle = undefined;
  }
}
