/**
 * PingAnswerer: the part of a responding client that is about frames, not about NDIS: given a
 * received frame, it writes the answer (an ARP reply for its address, an ICMP echo reply to an
 * echo request, and optionally the frame itself sent back: an echo service on one ethertype)
 * into a reply NBL of its own preallocated pool, and takes the NBL back when the send completes.
 * One answerer serves one VC (its NBLs carry that VC's handle). PingResponder (responder.ts) uses
 * one on its PVC; the node's client (lib/node/client.ts) one per switched call.
 *
 * Buffers: `replyBuffers` NBLs (default 64) over one preallocated ArrayBuffer, reused after their
 * send completes: no allocation per packet. A request that finds every reply buffer in flight
 * is dropped and counted (`droppedNoBuffer`): ping retransmits nothing, so the peer sees a loss,
 * never a stall.
 */
import { CondisError } from '../errors';
import type { NdisVcHandle } from '../ndis/actors';
import { NetBuffer, NetBufferList } from '../ndis/nbl';
import { NDIS_STATUS_SUCCESS, type NdisStatus } from '../ndis/status';
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
  writeIpv4ReplyHeader,
} from './ipv4';

export interface PingAnswererOptions {
  /** The IPv4 address and the MAC answered for (4 and 6 bytes). */
  ip: Uint8Array;
  mac: Uint8Array;
  /** TTL of the echo replies (default 64, Linux's). */
  ttl?: number;
  /** Reply buffers (default 64) and their size in bytes (default 1518: a full Ethernet frame). */
  replyBuffers?: number;
  replyBufferSize?: number;
  /**
   * An ethertype whose frames to our MAC are sent back as they came, source and destination
   * swapped (an echo service below IP; 0 or absent: none).
   */
  echoEthertype?: number;
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
  /** Frames of the echo ethertype sent back (PingAnswererOptions.echoEthertype). */
  echoed = 0;
  /** Reply NBLs sent, and completed by outcome. */
  repliesSent = 0;
  repliesCompleted = 0;
  repliesFailed = 0;

  get answered(): number {
    return this.arpReplies + this.echoReplies + this.echoed;
  }

  get ignored(): number {
    return this.ignoredNotForUs + this.ignoredMalformed + this.ignoredUnsupported;
  }
}

export class PingAnswerer {
  readonly counters = new ResponderCounters();
  readonly ip: Uint8Array;
  readonly mac: Uint8Array;
  readonly ttl: number;
  /** Status the last completed send reported that was not SUCCESS (diagnostics). */
  lastSendFailure: NdisStatus = NDIS_STATUS_SUCCESS;
  private readonly echoEthertype: number;
  private readonly replyPool: NetBufferList[];
  private readonly freeReplies: NetBufferList[];
  private readonly replyBufferSize: number;
  /** Largest frame a send may carry on the current call (its transmit maxSduSize, or a buffer). */
  private maxFrame: number;
  private ipId = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(vcHandle: NdisVcHandle, opts: PingAnswererOptions) {
    this.ip = Uint8Array.from(opts.ip);
    this.mac = Uint8Array.from(opts.mac);
    this.ttl = opts.ttl ?? 64;
    this.echoEthertype = opts.echoEthertype ?? 0;
    const n = opts.replyBuffers ?? 64;
    const size = opts.replyBufferSize ?? 1518;
    if (!(Number.isInteger(n) && n > 0) || !(Number.isInteger(size) && size >= ETH_ZLEN)) {
      throw new CondisError(
        'ERR_CONDIS_INVALID_ARG',
        `PingAnswerer: replyBuffers must be > 0 and replyBufferSize >= ${ETH_ZLEN}`,
      );
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

  /** A call's transmit maxSduSize (0: no limit but the reply buffer's size). */
  setMaxSdu(sdu: number): void {
    this.maxFrame = sdu > 0 ? Math.min(sdu, this.replyBufferSize) : this.replyBufferSize;
  }

  /** Resolves once no reply is in flight (at once if none is). */
  whenIdle(): Promise<void> {
    if (this.repliesInFlight === 0) return Promise.resolve();
    return new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /**
   * The replies to every frame of `nbls`, as one NBL list (null if none), counted as sent: the
   * caller hands the list to NdisCoSendNetBufferLists. `answering` false counts what would have
   * been answered as droppedStopping. `accept`, when given, sees each frame first: false skips it
   * (counted by the caller, not here).
   */
  answerAll(
    nbls: NetBufferList,
    answering: boolean,
    accept?: (b: Uint8Array, off: number, len: number) => boolean,
  ): NetBufferList | null {
    let head: NetBufferList | null = null;
    let tail: NetBufferList | null = null;
    let n = 0;
    for (let p: NetBufferList | null = nbls; p; p = p.next) {
      for (let nb = p.firstNetBuffer; nb; nb = nb.next) {
        if (accept && !accept(nb.buffer, nb.dataOffset, nb.dataLength)) continue;
        this.counters.framesIn++;
        const reply = this.answer(nb.buffer, nb.dataOffset, nb.dataLength, answering);
        if (reply === null) continue;
        if (tail) tail.next = reply;
        else head = reply;
        tail = reply;
        n++;
      }
    }
    this.counters.repliesSent += n;
    return head;
  }

  /**
   * The reply to the frame at `b[off..off+len)`, written into a free reply NBL, or null (each
   * outcome counted once).
   */
  answer(b: Uint8Array, off: number, len: number, answering: boolean): NetBufferList | null {
    const c = this.counters;
    if (len < ETH_HLEN) {
      c.ignoredMalformed++;
      return null;
    }
    const type = u16(b, off + 12);
    if (type === this.echoEthertype && type !== 0) return this.echo(b, off, len, answering);
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

  /** The echo service: the frame back to its sender, unchanged but for the MACs. */
  private echo(b: Uint8Array, off: number, len: number, answering: boolean): NetBufferList | null {
    const c = this.counters;
    if (!bytesEqual(b, off, this.mac)) {
      c.ignoredNotForUs++;
      return null;
    }
    const nbl = this.takeReply(len, answering);
    if (nbl === null) return null;
    const nb = nbl.firstNetBuffer!;
    const out = nb.buffer;
    const o = nb.dataOffset;
    out.set(b.subarray(off, off + len), o);
    writeEthernetHeader(out, o, b, off + 6, this.mac, this.echoEthertype);
    nb.dataLength = padFrame(out, o, len);
    c.echoed++;
    return nbl;
  }

  /** The client's ProtocolCoSendNetBufferListsComplete for replies: the buffers are ours again. */
  complete(nbls: NetBufferList): void {
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
    if (this.repliesInFlight === 0 && this.idleWaiters.length > 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }
}
