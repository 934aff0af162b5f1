/**
 * The far side of a VC that `ping` crosses (used by `condis demo`):
 * - HostNamespace: the Linux host itself. A network namespace of its own receives the TAP, and the
 *   host's end of the VC is set up there — the VLAN subinterface `<tap>.<vid>` when the kernel has
 *   802.1Q, else the address on the TAP itself with the VID pushed and popped by two tcx eBPF
 *   programs (vlan-tagger.py, next to this file). The kernel's own `ping` (iputils) runs inside.
 *   Nothing outside the namespace is touched; deleting it (and closing the TAP) undoes everything.
 * - WirePinger: an in-process stand-in for the host on the wire backend — a CoNDIS client on the
 *   far endpoint's VC that sends ARP and ICMP echo requests and counts the replies, and can hold
 *   the replies it receives (so that the far miniport's receive ring empties and, the wire being
 *   lossless, the responder's next replies stay in flight on its transmit ring).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { internetChecksum, parseIpv4Address } from '../client/ipv4';
import { parseMac } from '../device/options';
import { condisCallParameters } from '../medium/params';
import type { NdisAfHandle, NdisBindingHandle, NdisMiniportHandle, NdisVcHandle } from '../ndis/actors';
import { chainNbls, makeNbl, NDIS_RECEIVE_FLAGS_RESOURCES, type NetBufferList } from '../ndis/nbl';
import type { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, type NdisStatus, statusName } from '../ndis/status';
import { pvcCallManagerFor } from '../vc/channel';
import { AF_CONDIS_PVC } from '../vc/pvc-call-manager';

// -------------------------------------------------------------------------------------------------
// The Linux host

/** A command's output; throws an Error carrying its stderr when it fails. */
export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

function shQuiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // cleanup of something that may already be gone
  }
}

/** The tagger script: next to this file (sources), or in lib/host of the tree dist/ was built from. */
export function vlanTaggerScript(): string {
  for (const p of [
    path.join(__dirname, 'vlan-tagger.py'),
    path.resolve(__dirname, '../../../lib/host/vlan-tagger.py'),
  ]) {
    if (fs.existsSync(p)) return p;
  }
  throw new Error('lib/host/vlan-tagger.py not found (needed on a kernel without 802.1Q)');
}

/** null if this kernel can create 802.1Q VLAN subinterfaces, else why not. */
export function vlanUnsupported(): string | null {
  if (fs.existsSync('/proc/net/vlan')) return null;
  shQuiet('modprobe', ['-q', '8021q']);
  if (fs.existsSync('/proc/net/vlan')) return null;
  return 'kernel without CONFIG_VLAN_8021Q';
}

/** Why the host cannot play its part (iproute2, iputils ping, python3 for the tagger), or null. */
export function hostToolsMissing(): string | null {
  try {
    sh('ip', ['-V']);
  } catch {
    return 'no `ip` (iproute2)';
  }
  try {
    if (!sh('ping', ['-V']).includes('iputils')) return '`ping` is not iputils';
  } catch {
    return 'no `ping` (iputils-ping)';
  }
  if (vlanUnsupported() !== null) {
    try {
      sh('python3', ['-c', 'import ctypes']);
    } catch {
      return 'no 802.1Q in the kernel and no python3 for the eBPF tagger';
    }
  }
  return null;
}

export interface PingResult {
  transmitted: number;
  received: number;
  output: string;
}

/** How the host's end of the VC was set up. */
export type HostVlan = 'vlan-subinterface' | 'tcx-tagger';

export interface InterfaceCounters {
  rxPackets: number;
  txPackets: number;
  rxDropped: number;
  txDropped: number;
}

/** A network namespace holding the host's side of the demo. destroy() removes it (idempotent). */
export class HostNamespace {
  private readonly children = new Set<ChildProcess>();
  private gone = false;
  hostIf = '';
  vlan: HostVlan = 'tcx-tagger';

  private constructor(readonly name: string) {}

  /** `ip netns add NAME`, with IPv6 off inside (no router solicitations or MLD on the VC). */
  static create(name: string): HostNamespace {
    sh('ip', ['netns', 'add', name]);
    const ns = new HostNamespace(name);
    try {
      // Written to /proc inside the namespace (its own net sysctls): no procps needed.
      ns.exec('sh', [
        '-c',
        'for k in all default; do echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; done',
      ]);
    } catch {
      // no IPv6 in this kernel: already quiet
    }
    return ns;
  }

  exec(cmd: string, args: string[]): string {
    return sh('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }

  /**
   * Moves `tap` in and gives the host `cidr` on VLAN `vid` of it: `<tap>.<vid>` with 802.1Q, else
   * on the TAP itself with the tcx tagger. Returns how.
   */
  attachTap(tap: string, vid: number, cidr: string): HostVlan {
    sh('ip', ['link', 'set', tap, 'netns', this.name]);
    this.exec('ip', ['link', 'set', tap, 'up']);
    if (vlanUnsupported() === null) {
      this.hostIf = `${tap}.${vid}`;
      this.vlan = 'vlan-subinterface';
      this.exec('ip', ['link', 'add', 'link', tap, 'name', this.hostIf, 'type', 'vlan', 'id', String(vid)]);
      this.exec('ip', ['link', 'set', this.hostIf, 'up']);
    } else {
      this.hostIf = tap;
      this.vlan = 'tcx-tagger';
      this.exec('python3', [vlanTaggerScript(), tap, String(vid)]);
    }
    this.exec('ip', ['addr', 'add', cidr, 'dev', this.hostIf]);
    return this.vlan;
  }

  /**
   * The kernel's ping inside the namespace, asynchronously (the responder runs on this process's
   * event loop). ping exits 1 when replies are missing; the counts come from its summary.
   */
  ping(target: string, args: string[]): Promise<PingResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', this.name, 'ping', ...args, target], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.children.add(child);
      let output = '';
      child.stdout.on('data', (d) => {
        output += d;
      });
      child.stderr.on('data', (d) => {
        output += d;
      });
      child.on('error', (e) => {
        this.children.delete(child);
        reject(e);
      });
      child.on('close', () => {
        this.children.delete(child);
        const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
        if (!m) reject(new Error(`ping gave no summary:\n${output.trim()}`));
        else resolve({ transmitted: Number(m[1]), received: Number(m[2]), output });
      });
    });
  }

  /** The kernel's counters of an interface inside the namespace, or null if it is gone. */
  counters(ifname: string): InterfaceCounters | null {
    try {
      const j = JSON.parse(this.exec('ip', ['-j', '-s', 'link', 'show', 'dev', ifname])) as Array<{
        stats64?: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } };
      }>;
      const s = j[0]?.stats64;
      if (!s) return null;
      return {
        rxPackets: s.rx.packets,
        txPackets: s.tx.packets,
        rxDropped: s.rx.dropped,
        txDropped: s.tx.dropped,
      };
    } catch {
      return null;
    }
  }

  /** Kills the pings still running (SIGKILL, by pid) and deletes the namespace. Idempotent. */
  destroy(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    this.children.clear();
    if (this.gone) return;
    this.gone = true;
    shQuiet('ip', ['netns', 'del', this.name]);
  }
}

// -------------------------------------------------------------------------------------------------
// The in-process pinger (wire backend)

export interface WirePingerOptions {
  vid: number;
  /** Our address and MAC, and the address we ping. */
  ip: string;
  mac: string;
  target: string;
}

const ETH_HLEN = 14;
const ECHO_ID = 0xc0d5;
const ECHO_DATA = 56;

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
    const f = new Uint8Array(60);
    f.fill(0xff, 0, 6);
    f.set(this.mac, 6);
    f.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1], 12);
    f.set(this.mac, 22);
    f.set(this.ip, 28);
    f.set(this.target, 38);
    this.send([f]);
  }

  /** Sends `count` echo requests as one NBL list (the target must be resolved). */
  echo(count: number): void {
    if (!this.targetMac) throw new Error('WirePinger: target not resolved (ARP first)');
    const frames: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const icmpLen = 8 + ECHO_DATA;
      const f = new Uint8Array(ETH_HLEN + 20 + icmpLen);
      f.set(this.targetMac, 0);
      f.set(this.mac, 6);
      f.set([0x08, 0x00], 12);
      const ip = ETH_HLEN;
      f.set([0x45, 0, (20 + icmpLen) >> 8, (20 + icmpLen) & 0xff, 0, 0, 0x40, 0, 64, 1, 0, 0], ip);
      f.set(this.ip, ip + 12);
      f.set(this.target, ip + 16);
      const ck = internetChecksum(f, ip, 20);
      f[ip + 10] = ck >> 8;
      f[ip + 11] = ck & 0xff;
      const o = ip + 20;
      const seq = ++this.seq & 0xffff;
      f.set([8, 0, 0, 0, ECHO_ID >> 8, ECHO_ID & 0xff, seq >> 8, seq & 0xff], o);
      for (let k = 0; k < ECHO_DATA; k++) f[o + 8 + k] = k;
      const ic = internetChecksum(f, o, icmpLen);
      f[o + 2] = ic >> 8;
      f[o + 3] = ic & 0xff;
      frames.push(f);
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
  }

  private onReceive(nbls: NetBufferList, flags: number): void {
    for (let p: NetBufferList | null = nbls; p; p = p.next)
      for (let nb = p.firstNetBuffer; nb; nb = nb.next)
        this.classify(nb.buffer, nb.dataOffset, nb.dataLength);
    if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0) return;
    if (this.hold) {
      for (let p: NetBufferList | null = nbls; p; p = p.next) this.held.push(p);
      return;
    }
    this.ndis.returnNetBufferLists(this.binding, nbls, 0);
  }

  private classify(b: Uint8Array, off: number, len: number): void {
    this.framesIn++;
    if (len < ETH_HLEN + 28) return;
    const type = (b[off + 12]! << 8) | b[off + 13]!;
    if (type === 0x0806) {
      // An ARP reply from the target: learn its MAC.
      const a = off + ETH_HLEN;
      if (b[a + 7] === 2 && this.same(b, a + 14, this.target)) {
        this.targetMac = b.slice(a + 8, a + 14);
        this.arpReplies++;
      }
    } else if (type === 0x0800) {
      const ip = off + ETH_HLEN;
      const icmp = ip + (b[ip]! & 0x0f) * 4;
      if (
        b[ip + 9] === 1 &&
        icmp + 8 <= off + len &&
        b[icmp] === 0 &&
        ((b[icmp + 4]! << 8) | b[icmp + 5]!) === ECHO_ID
      )
        this.repliesReceived++;
    }
  }

  private same(b: Uint8Array, off: number, v: Uint8Array): boolean {
    for (let i = 0; i < v.length; i++) if (b[off + i] !== v[i]) return false;
    return true;
  }
}
