/**
 * NET_BUFFER_LIST and NET_BUFFER (spec §1.2-I).
 *
 * Both are plain reusable objects: a miniport allocates them once (say one per ring descriptor)
 * and pools them; nothing in the runtime allocates per packet. Lists are chained through `next`,
 * as NBL lists are in NDIS, so a send or an indication is one head pointer, never an array.
 * A NET_BUFFER's data are a view: `buffer` is a Uint8Array (typically a view over ring memory in
 * the device's SharedArrayBuffer) and `[dataOffset, dataOffset + dataLength)` is the packet.
 */
import type { NdisStatus } from './status';

/** NDIS_RECEIVE_FLAGS_RESOURCES: the miniport owns the NBLs again when the indication returns. */
export const NDIS_RECEIVE_FLAGS_RESOURCES = 0x00000002;
/** NDIS_RETURN_FLAGS_DISPATCH_LEVEL (carried through, meaningless in userland). */
export const NDIS_RETURN_FLAGS_DISPATCH_LEVEL = 0x00000001;
/** NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL (carried through). */
export const NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL = 0x00000001;

/** Who holds an NBL, as far as NDIS knows (for the verifier; not a driver-visible field). */
export const NblOwner = {
  /** Its allocator (sender before a send, miniport before an indication). */
  Owner: 0,
  /** Handed to MiniportCoSendNetBufferLists, not yet completed. */
  InMiniport: 1,
  /** Indicated to a protocol without RESOURCES, not yet returned. */
  HeldByProtocol: 2,
} as const;
export type NblOwner = (typeof NblOwner)[keyof typeof NblOwner];

/** NET_BUFFER: one packet's bytes, `buffer[dataOffset, dataOffset + dataLength)`, chained through `next`. */
export class NetBuffer {
  next: NetBuffer | null = null;
  /** The memory (MDL chain stand-in): usually a view over ring memory. */
  buffer: Uint8Array;
  dataOffset: number;
  dataLength: number;

  constructor(buffer: Uint8Array, dataOffset = 0, dataLength = buffer.length - dataOffset) {
    this.buffer = buffer;
    this.dataOffset = dataOffset;
    this.dataLength = dataLength;
  }

  /** The packet bytes as a view (no copy; allocates the small view object on each call). */
  data(): Uint8Array {
    return this.buffer.subarray(this.dataOffset, this.dataOffset + this.dataLength);
  }
}

/**
 * NET_BUFFER_LIST: the unit a send, a completion, an indication and a return move. Chained through
 * `next`; `sourceHandle` names the VC (set it to your VC handle before NdisCoSendNetBufferLists),
 * `status` carries the completion status. Reusable: allocate once, pool, resend.
 */
export class NetBufferList {
  /** Next NBL of the list (NET_BUFFER_LIST.Next). */
  next: NetBufferList | null = null;
  firstNetBuffer: NetBuffer | null;
  /** NdisVcHandle of the VC the NBL travels on (NET_BUFFER_LIST.SourceHandle). */
  sourceHandle = 0;
  /** Completion status, set by the miniport (or NDIS for refused sends). */
  status: NdisStatus = 0;
  /** NBL flags, free for the drivers. */
  flags = 0;
  /** ProtocolReserved / MiniportReserved stand-ins: one slot per side. */
  protocolReserved: unknown = undefined;
  miniportReserved: unknown = undefined;
  /** @internal ownership as tracked by the runtime. */
  ndisOwner: NblOwner = NblOwner.Owner;

  // Offload info (NET_BUFFER_LIST_INFO slots, lib/ndis/offload.ts), plain numbers so nothing is
  // allocated per packet; clearNblOffloadInfo resets them when a pooled NBL is reused.
  /** TcpLargeSendNetBufferListInfo.Transmit.Type (NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE for LSOv2). */
  lsoType = 0;
  /** TcpLargeSendNetBufferListInfo.Transmit.MSS: non-zero asks for a large send. */
  lsoMss = 0;
  /** TcpLargeSendNetBufferListInfo.Transmit.TcpHeaderOffset (from the frame's first byte). */
  lsoTcpHeaderOffset = 0;
  /** LsoV2Transmit.IPVersion (NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4 / IPv6). */
  lsoIpVersion = 0;
  /** LsoV2TransmitComplete.Reserved stand-in: the TCP payload bytes sent, set on completion. */
  lsoTransmitCompleteBytes = 0;
  /** TcpIpChecksumNetBufferListInfo.Transmit bits (NdisCsumTx). */
  csumTx = 0;
  /** TcpIpChecksumNetBufferListInfo.Transmit.TcpHeaderOffset. */
  csumTcpHeaderOffset = 0;
  /** TcpIpChecksumNetBufferListInfo.Receive bits (NdisCsumRx). */
  csumRx = 0;
  /** TcpRecvSegCoalesceInfo.CoalescedSegCount (receive). */
  rscCoalescedSegCount = 0;
  /** TcpRecvSegCoalesceInfo.DupAckCount (receive). */
  rscDupAckCount = 0;
  /** The MSS of the coalesced segments (receive; virtio's gso_size). */
  rscMss = 0;

  constructor(firstNetBuffer: NetBuffer | null = null) {
    this.firstNetBuffer = firstNetBuffer;
  }
}

/** Number of NBLs in a list. */
export function nblCount(head: NetBufferList | null): number {
  let n = 0;
  for (let p = head; p; p = p.next) n++;
  return n;
}

/** Chain NBLs through `next` in the given order and return the head (convenience for tests). */
export function chainNbls(nbls: readonly NetBufferList[]): NetBufferList | null {
  for (let i = 0; i < nbls.length; i++) nbls[i]!.next = nbls[i + 1] ?? null;
  return nbls[0] ?? null;
}

/** The NBLs of a list as an array (convenience for tests and traces, allocates). */
export function nblArray(head: NetBufferList | null): NetBufferList[] {
  const out: NetBufferList[] = [];
  for (let p = head; p; p = p.next) out.push(p);
  return out;
}

/** An NBL with one NET_BUFFER over `bytes` (convenience; a miniport pools its own). */
export function makeNbl(bytes: Uint8Array, offset = 0, length = bytes.length - offset): NetBufferList {
  return new NetBufferList(new NetBuffer(bytes, offset, length));
}
