/**
 * The far end of `condis soak`, and the frames both ends exchange.
 *
 * Topology:
 * - wire: endpoint A (ours: the miniport's device) and the peer's device are the two ends of an
 *   in-process wire;
 * - tap: two TAPs joined through the kernel both ways (tc ingress + mirred redirect, as `condis
 *   run`), A's TAP and the peer's.
 * The peer drives its device with one FramePort per soak VC: pair i+1 bound to the VID of VC i
 * (the VID never changes: the soak's VCs each keep theirs across calls). It sends at full rate on
 * every pair (A's device drops the frames of a VID no VC carries at the time, counted), and
 * checks that every frame it receives is one of A's, on the right VID.
 *
 * Stopping the peer: it stops sending and takes every receive buffer off its rings (a queue
 * reset). On the wire the wire's flow control then holds A's sends on A's transmit ring until it
 * resumes, so a deactivation begun meanwhile waits for them; a TAP never stalls a writer (the
 * kernel queues, then drops). On a TAP the peer can also be restarted: its device is destroyed
 * (the TAP disappears with it), opened again under the same name and plumbed again.
 */

import { execFileSync } from 'node:child_process';
import type { Device } from '../device/device';
import { openTap, openWirePair, tapUnavailableReason } from '../device/open';
import { FramePort } from '../device/port';
import { mirred, quiet } from '../host/tc';

/** 'SOAK' at byte 14 of every soak frame (after the Ethernet header, ethertype 0x88B5). */
export const SOAK_MAGIC = 0x534f414b;
/** Byte 20: who sent the frame. */
export const DIR_TO_PEER = 1;
export const DIR_FROM_PEER = 2;
/** The VID of soak VC i. */
export const FIRST_VID = 100;
export const vidOfVc = (i: number): number => FIRST_VID + i;

const ETHERTYPE = 0x88b5;
const MAC_A = [0x02, 0, 0, 0, 0x50, 0x0a];
const MAC_PEER = [0x02, 0, 0, 0, 0x50, 0x0b];

/**
 * Writes the soak header into `f` at `off`: MACs, ethertype, magic, VID (bytes 18-19), direction
 * (byte 20). The sequence number (bytes 21-24) is the sender's to fill in.
 */
export function writeSoakHeader(f: Uint8Array, off: number, vid: number, dir: number): void {
  const [dst, src] = dir === DIR_TO_PEER ? [MAC_PEER, MAC_A] : [MAC_A, MAC_PEER];
  f.set(dst, off);
  f.set(src, off + 6);
  f[off + 12] = ETHERTYPE >> 8;
  f[off + 13] = ETHERTYPE & 0xff;
  f[off + 14] = SOAK_MAGIC >>> 24;
  f[off + 15] = (SOAK_MAGIC >>> 16) & 0xff;
  f[off + 16] = (SOAK_MAGIC >>> 8) & 0xff;
  f[off + 17] = SOAK_MAGIC & 0xff;
  f[off + 18] = vid >> 8;
  f[off + 19] = vid & 0xff;
  f[off + 20] = dir;
}

/** The VID a soak frame names, or -1 if the bytes are not a soak frame sent in direction `dir`. */
export function soakFrameVid(b: Uint8Array, off: number, len: number, dir: number): number {
  if (len < 25) return -1;
  const magic = ((b[off + 14]! << 24) | (b[off + 15]! << 16) | (b[off + 16]! << 8) | b[off + 17]!) >>> 0;
  if (magic !== SOAK_MAGIC || b[off + 20] !== dir) return -1;
  return (b[off + 18]! << 8) | b[off + 19]!;
}

export interface SoakBedOptions {
  backend: 'wire' | 'tap';
  vcs: number;
  queueSize: number;
  /** Peer frame sizes, one per VC (bytes). */
  frameSizes: number[];
  /** Called when a frame on the peer's pair for VC i is not A's frame for that VC's VID. */
  onMisrouted: (vc: number, what: string) => void;
}

/** Endpoint A's device and the peer behind it. */
export interface SoakBed {
  ours: Device;
  peer: SoakPeer;
  /** One line: what the topology is. */
  note: string;
  /** Interfaces created (TAP backend): all gone once close() returned. */
  interfaces: string[];
}

/** Opens A's device and the peer (TAPs need CAP_NET_ADMIN: the error says so). */
export function openSoakBed(o: SoakBedOptions): SoakBed {
  const pairs = o.vcs + 1;
  if (o.backend === 'wire') {
    const [a, b] = openWirePair({ queuePairs: pairs, queueSize: o.queueSize });
    return {
      ours: a,
      peer: new SoakPeer(o, b, null),
      note: 'wire: endpoint A and the peer are the two ends of the in-process wire',
      interfaces: [],
    };
  }
  const n = process.pid % 100000;
  const names = { ours: `csoakA${n}`, peer: `csoakB${n}` };
  const open = (name: string) => {
    try {
      return openTap({ name, queuePairs: pairs, queueSize: o.queueSize, up: false });
    } catch (e) {
      const why = tapUnavailableReason(e);
      if (why) throw new Error(`--backend tap: ${why}`);
      throw e;
    }
  };
  const a = open(names.ours);
  let b: Device;
  try {
    b = open(names.peer);
  } catch (e) {
    a.destroy();
    throw e;
  }
  try {
    // No IPv6 before the links come up: the kernel then sends nothing of its own into the loop.
    quiet(names.ours);
    quiet(names.peer);
    a.setLink(true);
    b.setLink(true);
    mirred(names.ours, names.peer);
    mirred(names.peer, names.ours);
  } catch (e) {
    a.destroy();
    b.destroy();
    throw e;
  }
  return {
    ours: a,
    peer: new SoakPeer(o, b, { ...names, reopen: () => open(names.peer) }),
    note: `tap: ${names.ours} (endpoint A) <-> ${names.peer} (the peer) through the kernel (tc mirred both ways)`,
    interfaces: [names.ours, names.peer],
  };
}

interface TapNames {
  ours: string;
  peer: string;
  reopen: () => Device;
}

export class SoakPeer {
  device: Device;
  ports: FramePort[] = [];
  running = true;
  /** Frames sent, received, and received on the wrong pair or not from A. */
  sent = 0;
  received = 0;
  misrouted = 0;
  restarts = 0;
  private readonly templates: Uint8Array[];
  private readonly tokens: Uint32Array;
  /** Counters of devices destroyed by restarts (their ports are gone). */
  private sentBefore = 0;
  private receivedBefore = 0;

  constructor(
    private readonly o: SoakBedOptions,
    device: Device,
    private readonly tap: TapNames | null,
  ) {
    this.device = device;
    this.templates = o.frameSizes.map((size, i) => {
      const f = new Uint8Array(size);
      writeSoakHeader(f, 0, vidOfVc(i), DIR_FROM_PEER);
      return f;
    });
    this.tokens = new Uint32Array(o.queueSize);
    this.attach();
  }

  /** Binds every pair to its VC's VID and starts receiving on it. */
  private attach(): void {
    const d = this.device;
    this.ports = [];
    for (let i = 0; i < this.o.vcs; i++) {
      const vid = vidOfVc(i);
      d.bindPair(i + 1, vid);
      const port = new FramePort(d, i + 1);
      port.onFrame = (bytes, off, len) => {
        if (soakFrameVid(bytes, off, len, DIR_TO_PEER) !== vid) {
          this.misrouted++;
          this.o.onMisrouted(
            i,
            `peer pair ${i + 1} (VID ${vid}) received a frame that is not A's for VID ${vid}`,
          );
        }
      };
      this.ports.push(port);
    }
    d.onInterrupt = () => {
      for (const p of this.ports) p.poll();
    };
    if (this.running) for (const p of this.ports) p.postRx();
  }

  /** One round of full-rate sending: each pair's transmit ring filled (at most 64 a round). */
  pump(): void {
    if (!this.running || this.device.closed) return;
    for (let i = 0; i < this.ports.length; i++) {
      const p = this.ports[i]!;
      const room = Math.min(p.txRoom(), 64);
      if (room > 0 && p.sendRepeated(this.templates[i]!, room) > 0) p.flush();
    }
  }

  /** Stops sending and receiving: every receive buffer taken off the rings. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.device.closed) return;
    for (const p of this.ports) {
      const n = this.device.resetQueue(2 * p.pair, this.tokens);
      p.rxPool.freeMany(this.tokens, n);
    }
  }

  /** Receives (buffers posted again) and sends again. */
  resume(): void {
    if (this.running) return;
    this.running = true;
    if (!this.device.closed) for (const p of this.ports) p.postRx();
  }

  /** TAP only: destroys the peer's device (its TAP goes), waits `pauseMs`, opens and plumbs it again. */
  async restart(pauseMs: number): Promise<void> {
    const tap = this.tap;
    if (!tap) throw new Error('SoakPeer.restart: only a TAP peer restarts');
    this.collect();
    this.device.destroy();
    this.restarts++;
    await new Promise((r) => setTimeout(r, pauseMs));
    // The kernel may take a moment to release the name of the TAP it just deleted.
    let dev: Device | null = null;
    for (let tries = 0; dev === null; tries++) {
      try {
        dev = tap.reopen();
      } catch (e) {
        if (tries >= 100) throw e;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    this.device = dev;
    quiet(tap.peer);
    dev.setLink(true);
    mirred(tap.peer, tap.ours);
    // A's redirect named the old TAP (by ifindex): replace it.
    execFileSync('tc', ['qdisc', 'del', 'dev', tap.ours, 'ingress'], { stdio: 'ignore' });
    mirred(tap.ours, tap.peer);
    this.attach();
  }

  /** Frames sent and received by the peer over the run (restarts included). */
  totals(): { sent: number; received: number } {
    let sent = this.sentBefore;
    let received = this.receivedBefore;
    for (const p of this.ports) {
      sent += p.sent;
      received += p.received;
    }
    return { sent, received };
  }

  private collect(): void {
    const t = this.totals();
    this.sentBefore = t.sent;
    this.receivedBefore = t.received;
    this.ports = [];
  }

  close(): void {
    this.collect();
    this.device.destroy();
  }
}
