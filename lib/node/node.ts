/**
 * CondisNode: one condis-tap host as a long-running process (issue 14, `condis node`): a TAP
 * (created by name, IPv6 off, brought up), the NDIS runtime, the reference miniport on it, the
 * signalling call manager of lib/cm, and the node's client (client.ts) with one SAP. The control
 * socket (control.ts) and the CLI (lib/cli/node.ts) drive it through the methods below.
 *
 * Why the stand-alone call manager (CondisCallManager), not the MCM: the node's point is to run
 * the reference miniport unchanged under a call manager a person can read and replace, with
 * every step NDIS-visible (NdisCmActivateVc -> MiniportCoActivateVc with its drain, the
 * signalling VC an ordinary VC on VID 0) — the layering a prototyped Windows call manager has.
 * The MCM folds the call manager into the miniport and drives pair 0 itself; same wire protocol,
 * so an MCM node could call a CM node, but it is not what this process demonstrates.
 *
 * Wiring (onDevice, shared with `condis demo` and `condis bench calls`, which run nodes on the
 * in-process wire): openQuietTap (shared with the tests); `new Ndis`, `new MiniportAdapter`, the
 * call manager, the client. Trace off in a node process: a long-running process would keep every
 * event; the verifier reports (counted in status()).
 *
 * Stop (SIGINT, SIGTERM, `shutdown`): every call closed with RELEASE and drained, every VC
 * deleted (NodeClient.shutdown), the signalling VC closed, the miniport halted (it checks that no
 * VC is left), the device closed (the TAP goes with it).
 */
import { parseIpv4Address } from '../client/ipv4';
import { CondisCallManager } from '../cm/call-manager';
import type { Device } from '../device/device';
import { parseMac } from '../device/options';
import { CondisError } from '../errors';
import { openQuietTap } from '../host/quiet-tap';
import { MiniportAdapter } from '../miniport/adapter';
import { Ndis, type NdisOptions } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, statusName } from '../ndis/status';
import { type PingResult, pingOverCall } from './call-pinger';
import { NodeClient } from './client';
import type { NodeEvent } from './events';
import type { ResolvedNodeOptions } from './options';

/** A row of `calls`. */
export interface CallRow {
  call: number;
  vid: number;
  peer: string;
  state: string;
  dir: 'out' | 'in';
  peerIp: string | null;
  /** Frames on the call's VID that were not from its peer to us (another pair's), dropped. */
  foreignFrames: number;
}

export class CondisNode {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly opts: ResolvedNodeOptions,
    readonly device: Device,
    readonly ndis: Ndis,
    readonly adapter: MiniportAdapter,
    readonly cm: CondisCallManager,
    readonly client: NodeClient,
  ) {}

  /** Opens the TAP and brings up the stack; on failure, removes what it made and rethrows. */
  static open(opts: ResolvedNodeOptions, onEvent: (e: NodeEvent) => void): Promise<CondisNode> {
    // IPv6 off before it goes up: the kernel's own frames (MLD, router solicitations) would
    // reach the signalling VC on pair 0 as noise.
    const device = openQuietTap({ name: opts.tap, queuePairs: opts.queuePairs, queueSize: NODE_QUEUE_SIZE });
    return CondisNode.onDevice(device, opts, onEvent);
  }

  /**
   * Brings up the node's stack on a device opened by the caller (it must have opts.queuePairs
   * pairs), which the node then owns: closed by stop(), destroyed if this fails. open() passes its
   * TAP; `condis bench calls` passes the ends of an in-process wire (openWirePair), so its wire
   * path runs exactly this wiring with nothing of the host in between. opts.tap is then only a
   * label (status()). `ndisOptions`: `condis demo` records each node's trace (the NDIS sequence of
   * both sides) and observes one's data path (its pcap); a node process does neither.
   */
  static async onDevice(
    device: Device,
    opts: ResolvedNodeOptions,
    onEvent: (e: NodeEvent) => void,
    ndisOptions: Pick<NdisOptions, 'trace' | 'observer'> = { trace: false },
  ): Promise<CondisNode> {
    let adapter: MiniportAdapter | null = null;
    let cm: CondisCallManager | null = null;
    try {
      const ndis = new Ndis({ verifier: 'report', ...ndisOptions });
      adapter = new MiniportAdapter(ndis, device, { name: 'condis-miniport' });
      cm = new CondisCallManager(ndis, adapter.handle, {
        mac: opts.mac,
        keepaliveMs: opts.keepaliveMs,
        keepaliveMisses: opts.keepaliveMisses,
      });
      await cm.start();
      const client = new NodeClient(ndis, adapter.handle, {
        mac: opts.mac,
        ip: opts.ip,
        sap: opts.sap,
        onEvent,
      });
      return new CondisNode(opts, device, ndis, adapter, cm, client);
    } catch (e) {
      await cm?.stop().catch(() => {});
      await adapter?.halt().catch(() => {});
      device.destroy();
      throw e;
    }
  }

  /** `call`: a call to `peer` (MAC text) on its SAP `sap`. */
  async call(
    peer: unknown,
    sap: unknown,
    vid?: unknown,
  ): Promise<{ call: number; vid: number; setupMs: number }> {
    if (typeof peer !== 'string')
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'call: "peer" must be a MAC');
    const mac = parseMac(peer);
    const s = sap === undefined ? this.opts.sap : sap;
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s > 0xffffffff)
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'call: "sap" must be a whole number');
    if (vid !== undefined && (typeof vid !== 'number' || !Number.isInteger(vid) || vid < 1 || vid > 4094))
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'call: "vid" must be from 1 to 4094');
    const c = await this.client.makeCall(mac, s, vid as number | undefined);
    return { call: c.id, vid: c.vid, setupMs: round(c.setupMs) };
  }

  /** `ping`: `count` echo requests to the peer of call `call` (or to `ip`). */
  ping(call: unknown, count: unknown, ip?: unknown): Promise<PingResult> {
    const c = this.client.call(call);
    const n = count === undefined ? 3 : count;
    if (typeof n !== 'number')
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'ping: "count" must be a number');
    if (ip !== undefined && typeof ip !== 'string')
      throw new CondisError('ERR_CONDIS_INVALID_ARG', 'ping: "ip" must be a dotted quad');
    return pingOverCall(
      this.client,
      c,
      this.opts.mac,
      this.opts.ip,
      n,
      ip === undefined ? undefined : parseIpv4Address(ip),
    );
  }

  /** `close`: RELEASE and drain; drainMs is the close, NdisClCloseCall to its completion. */
  async close(call: unknown): Promise<{ drainMs: number }> {
    const c = this.client.call(call);
    const t0 = performance.now();
    const st = await this.client.close(c);
    if (st !== NDIS_STATUS_SUCCESS)
      throw new CondisError('ERR_CONDIS_CALL_FAILED', `close of call ${c.id}: ${statusName(st)}`, {
        status: statusName(st),
      });
    return { drainMs: round(performance.now() - t0) };
  }

  calls(): CallRow[] {
    return [...this.client.calls.values()].map((c) => ({
      call: c.id,
      vid: c.vid,
      peer: c.peerText,
      state: c.phase,
      dir: c.dir,
      peerIp: c.peerIp ? c.peerIp.join('.') : null,
      foreignFrames: c.foreignFrames,
    }));
  }

  /** `status`: the node's counters. */
  status(): Record<string, unknown> {
    const st = this.cm.stats;
    const dev = this.device.stats();
    return {
      tap: this.opts.tap,
      mac: this.opts.macText,
      sap: this.opts.sap,
      ip: this.opts.ipText,
      pid: process.pid,
      calls: this.client.calls.size,
      maxCalls: this.opts.queuePairs - 1,
      client: { ...this.client.counters },
      signalling: {
        sent: { ...st.sent },
        received: { ...st.received },
        retransmits: st.retransmits,
        timeouts: st.timeouts,
        livenessClears: st.livenessClears,
        staleClears: st.staleClears,
        unknownRefs: st.unknownRefs,
        malformed: st.malformed,
        notForUs: st.notForUs,
      },
      device: { rxUnboundVid: dev.rxUnboundVid },
      vcs: this.ndis.vcCount,
      verifierViolations: this.ndis.verifier.violations.length,
    };
  }

  /** Closes every call, drains and deletes every VC, closes the device. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.client.shutdown();
      await this.cm.stop();
      await this.adapter.halt();
    })();
    return this.stopping;
  }
}

/** Descriptors per queue of a node's device (a call's VC carries pings and echoes, not bulk). */
export const NODE_QUEUE_SIZE = 256;

const round = (ms: number) => Math.round(ms * 1000) / 1000;
