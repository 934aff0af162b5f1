/**
 * WirePinger: a CoNDIS client (protocol driver) that pings — a stand-in for the Linux host on the
 * in-process wire, over a permanent VC (the demo's node client pings over switched calls). It binds to its miniport on
 * AF_CONDIS_PVC like PingResponder, makes the call on VC `vid`, sends one ARP request and then
 * ICMP echo requests, and counts what comes back; it can hold the replies it receives (so that the
 * far miniport's receive ring empties and, the wire being lossless, the responder's next replies
 * stay in flight on its transmit ring).
 *
 * Layer: a client straight on lib/ndis (NdisCoSendNetBufferLists, ProtocolCoReceiveNetBufferLists),
 * beside PingResponder (responder.ts); the byte formats are ipv4.ts's. No host commands here: the
 * host's own ping is lib/host/namespace.ts.
 */
import { parseMac } from '../device/options';
import { condisCallParameters } from '../medium/params';
import type { NdisAfHandle, NdisBindingHandle, NdisMiniportHandle, NdisVcHandle } from '../ndis/actors';
import { chainNbls, makeNbl, NDIS_RECEIVE_FLAGS_RESOURCES, type NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import { pvcCallManagerFor } from '../vc/channel';
import { AF_CONDIS_PVC } from '../vc/pvc-call-manager';
import { parseIpv4Address } from './ipv4';
import { arpRequestFrame, arpSender, echoReplySeq, echoRequestFrame } from './requests';

export interface WirePingerOptions {
  vid: number;
  /** Our address and MAC, and the address we ping. */
  ip: string;
  mac: string;
  target: string;
}

const ECHO_ID = 0xc0d5;

let pingers = 0;

/**
 * A CoNDIS client (AF_CONDIS_PVC, the PvcCallManager of its miniport) on VC `vid` that pings
 * `target`: one ARP request, then ICMP echo requests of 56 data bytes (ping's default), counted
 * in and out. Allocation per frame is fine here: this is the demo's traffic generator.
 */
export class WirePinger {
  readonly vcHandle: NdisVcHandle;
  private readonly ip: Uint8Array;
  private readonly mac: Uint8Array;
  private readonly target: Uint8Array;
  private targetMac: Uint8Array | null = null;
  private seq = 0;
  /** Echo requests handed to NDIS / replies received; ARP replies; every frame indicated. */
  requestsSent = 0;
  repliesReceived = 0;
  arpReplies = 0;
  framesIn = 0;
  /** Sends handed to NDIS and completed (by outcome). */
  given = 0;
  completed = 0;
  failed = 0;
  /** Hold received NBLs instead of returning them. */
  hold = false;
  readonly held: NetBufferList[] = [];
  /**
   * Called after each receive indication and each send completion this client handled, once its
   * counters above are up to date: a waiter re-checks what it waits for here instead of polling.
   */
  onChange: (() => void) | null = null;

  private constructor(
    private readonly ndis: Ndis,
    private readonly binding: NdisBindingHandle,
    private readonly af: NdisAfHandle,
    vc: NdisVcHandle,
    readonly opts: WirePingerOptions,
  ) {
    this.vcHandle = vc;
    this.ip = parseIpv4Address(opts.ip);
    this.mac = parseMac(opts.mac);
    this.target = parseIpv4Address(opts.target);
  }

  static open(ndis: Ndis, miniport: NdisMiniportHandle, opts: WirePingerOptions): WirePinger {
    pvcCallManagerFor(ndis, miniport);
    const box: { p: WirePinger | null } = { p: null };
    const proto = ndis.registerProtocol(`wire-pinger-${++pingers}`, {
      coSendNetBufferListsComplete: (_ctx, nbls) => box.p?.onSendComplete(nbls),
      coReceiveNetBufferLists: (_b, _ctx, nbls, _n, flags) => box.p?.onReceive(nbls, flags),
    });
    const binding = ndis.openAdapter(proto, miniport, box);
    const af = ndis.clOpenAddressFamily(binding, AF_CONDIS_PVC, {}, box);
    if (!af.afHandle) throw new Error(`WirePinger: open AF: ${statusName(af.status)}`);
    const vc = ndis.coCreateVc(binding, af.afHandle, box);
    if (!vc.vcHandle) throw new Error(`WirePinger: create VC: ${statusName(vc.status)}`);
    const p = new WirePinger(ndis, binding, af.afHandle, vc.vcHandle, opts);
    box.p = p;
    return p;
  }

  /** NdisClMakeCall on VC `vid`. */
  start(): Promise<NdisStatus> {
    return this.ndis.clMakeCallAsync(this.vcHandle, condisCallParameters(this.opts.vid));
  }

  get resolved(): boolean {
    return this.targetMac !== null;
  }

  /** Sends a broadcast ARP request for the target. */
  arp(): void {
    this.send([arpRequestFrame(this.mac, this.ip, this.target)]);
  }

  /** Sends `count` echo requests as one NBL list (the target must be resolved). */
  echo(count: number): void {
    if (!this.targetMac) throw new Error('WirePinger: target not resolved (ARP first)');
    const frames: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const seq = ++this.seq & 0xffff;
      frames.push(echoRequestFrame(this.targetMac, this.mac, this.ip, this.target, ECHO_ID, seq));
    }
    this.requestsSent += count;
    this.send(frames);
  }

  /** Gives every held receive back (one NdisReturnNetBufferLists); returns how many. */
  returnHeld(): number {
    const n = this.held.length;
    if (n === 0) return 0;
    const head = chainNbls(this.held)!;
    this.held.length = 0;
    this.ndis.returnNetBufferLists(this.binding, head, 0);
    return n;
  }

  /** NdisClCloseCall (every send must be back), NdisCoDeleteVc, close the AF and the binding. */
  async close(): Promise<void> {
    this.hold = false;
    this.returnHeld();
    const st = await this.ndis.clCloseCallAsync(this.vcHandle);
    if (st !== NDIS_STATUS_SUCCESS) throw new Error(`WirePinger: close call: ${statusName(st)}`);
    this.ndis.coDeleteVc(this.vcHandle);
    await this.ndis.clCloseAddressFamilyAsync(this.af);
    this.ndis.closeAdapter(this.binding);
  }

  private send(frames: Uint8Array[]): void {
    const nbls = frames.map((f) => {
      const n = makeNbl(f);
      n.sourceHandle = this.vcHandle;
      return n;
    });
    const head = chainNbls(nbls);
    this.given += nbls.length;
    if (head) this.ndis.coSendNetBufferLists(this.vcHandle, head, 0);
  }

  private onSendComplete(nbls: NetBufferList): void {
    for (let p: NetBufferList | null = nbls; p; p = p.next) {
      this.completed++;
      if (p.status !== NDIS_STATUS_SUCCESS) this.failed++;
    }
    this.onChange?.();
  }

  private onReceive(nbls: NetBufferList, flags: number): void {
    for (let p: NetBufferList | null = nbls; p; p = p.next)
      for (let nb = p.firstNetBuffer; nb; nb = nb.next)
        this.classify(nb.buffer, nb.dataOffset, nb.dataLength);
    if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0) {
      if (this.hold) for (let p: NetBufferList | null = nbls; p; p = p.next) this.held.push(p);
      else this.ndis.returnNetBufferLists(this.binding, nbls, 0);
    }
    this.onChange?.();
  }

  private classify(b: Uint8Array, off: number, len: number): void {
    this.framesIn++;
    const arp = arpSender(b, off, len, true);
    if (arp) {
      // An ARP reply from the target: learn its MAC.
      if (this.same(arp.ip, 0, this.target)) {
        this.targetMac = arp.mac;
        this.arpReplies++;
      }
    } else if (echoReplySeq(b, off, len, ECHO_ID) >= 0) {
      this.repliesReceived++;
    }
  }

  private same(b: Uint8Array, off: number, v: Uint8Array): boolean {
    for (let i = 0; i < v.length; i++) if (b[off + i] !== v[i]) return false;
    return true;
  }
}
