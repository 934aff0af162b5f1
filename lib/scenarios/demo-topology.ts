/**
 * The demo's two nodes (lib/scenarios/demo.ts): A (the caller) and B (the callee), each the stack
 * of `condis node` — the NDIS runtime recording its trace, the reference miniport, the signalling
 * call manager of lib/cm and the node's client — and how the demo talks to them: the node's own
 * control requests (lib/node/control.ts: call, ping, hold, close, calls, status, trace, mark),
 * whatever the backend, so every step the demo takes is one a user can type at a running node.
 *
 *   hosts  two `condis node` processes, each in a network namespace of its own with its TAP on a
 *          bridge with a VXLAN port over a veth underlay (`condis cluster up 2`, lib/cluster);
 *          the requests go over each node's control socket. Root only. (demo-hosts.ts)
 *   wire   the same stack twice in this process (CondisNode.onDevice) on the two ends of one
 *          in-process wire; the requests go to the same handler the socket uses (handleRequest).
 *          No privilege.
 *
 * Each thing created is handed to the run's teardown stack (DemoRun.defer) the moment it exists,
 * so an error or an abort at any point removes exactly what was made.
 *
 * Layer: scenarios — wires lib/device, lib/node and lib/cluster together; below the CLI.
 */
import { openWirePair } from '../device/open';
import type { NdisVcHandle } from '../ndis/actors';
import type { NetBufferList } from '../ndis/nbl';
import type { NdisDataPathObserver } from '../ndis/ndis';
import { handleRequest } from '../node/control';
import { CondisNode, NODE_QUEUE_SIZE } from '../node/node';
import { type ResolvedNodeOptions, resolveNodeOptions } from '../node/options';
import type { PcapWriter } from '../pcap/writer';
import type { DemoRun } from './demo-run';

export const DEMO_BACKENDS = ['hosts', 'wire'] as const;
export type DemoBackend = (typeof DEMO_BACKENDS)[number];

/** The SAP B listens on and A calls. */
export const DEMO_SAP = 1;

/** One control request to a node: its reply's fields, or a CondisError with the node's code. */
export type NodeRequest = (req: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** One node of the demo, as the demo sees it. */
export interface DemoEnd {
  /** 'A' (the caller) or 'B' (the callee). */
  readonly name: 'A' | 'B';
  readonly mac: string;
  readonly ip: string;
  readonly request: NodeRequest;
}

export interface DemoNodes {
  readonly backend: DemoBackend;
  readonly a: DemoEnd;
  readonly b: DemoEnd;
  /** One line: where the nodes run (runDemo puts the backend and why before it). */
  readonly note: string;
  /** The layers of both ends, for the report. */
  readonly topology: string;
}

/** The wire's nodes' addresses: fixed, so the report and the README read the same on every run. */
export const WIRE_CALLER = { mac: '02:cd:00:00:00:0a', ip: '10.42.0.1/24' } as const;
export const WIRE_CALLEE = { mac: '02:cd:00:00:00:0b', ip: '10.42.0.2/24' } as const;

/** What both backends run in a node (the report's topology line). */
export const NODE_STACK = 'NDIS + reference miniport + signalling CM + node client';

/**
 * Opens the wire and the two nodes on it, tracing. `pcap`: every frame A's NDIS passes on its
 * data path (signalling untagged, the call's frames with its VID re-inserted).
 */
export async function openWireNodes(run: DemoRun, pcap: PcapWriter | null): Promise<DemoNodes> {
  const queuePairs = 2;
  const [devA, devB] = openWirePair({ queuePairs, queueSize: NODE_QUEUE_SIZE });
  // Until a node owns its device (onDevice destroys it when that fails).
  let ownedA = false;
  let ownedB = false;
  run.defer('', () => {
    if (!ownedA) devA.destroy();
    if (!ownedB) devB.destroy();
  });
  const opts = (tap: string, o: { mac: string; ip: string }): ResolvedNodeOptions =>
    resolveNodeOptions({ tap, mac: o.mac, ip: o.ip, sap: DEMO_SAP, queuePairs, control: '-' });
  const quiet = () => {};
  let aNode: CondisNode | null = null;
  const observer = pcap ? pcapObserver(pcap, (vc) => aNode?.adapter.vcFor(vc)?.vid ?? 0) : undefined;
  ownedA = true;
  aNode = await CondisNode.onDevice(devA, opts('wire-a', WIRE_CALLER), quiet, {
    trace: true,
    ...(observer ? { observer } : {}),
  });
  const a = aNode;
  run.defer('', () => a.stop());
  ownedB = true;
  const b = await CondisNode.onDevice(devB, opts('wire-b', WIRE_CALLEE), quiet, { trace: true });
  run.defer('', () => b.stop());
  const end = (name: 'A' | 'B', node: CondisNode): DemoEnd => ({
    name,
    mac: node.opts.macText,
    ip: node.opts.ipText,
    request: (req) => handleRequest(node, req),
  });
  return {
    backend: 'wire',
    a: end('A', a),
    b: end('B', b),
    note: `two nodes in this process, A ${WIRE_CALLER.mac} calls B ${WIRE_CALLEE.mac} over the in-process wire`,
    topology: `node A (wire + ${NODE_STACK}, ${WIRE_CALLER.ip}) <-> node B (wire + ${NODE_STACK}, ${WIRE_CALLEE.ip}, SAP ${DEMO_SAP}); signalling on VID 0 (pair 0), the call on its own VID (pair 1)`,
  };
}

/** Copies every frame A's NDIS passes on the data path (both ways) into `pcap`. */
function pcapObserver(pcap: PcapWriter, vidOf: (vc: NdisVcHandle) => number): NdisDataPathObserver {
  const put = (vc: NdisVcHandle, nbls: NetBufferList) => {
    const vid = vidOf(vc);
    for (let p: NetBufferList | null = nbls; p; p = p.next)
      for (let nb = p.firstNetBuffer; nb; nb = nb.next)
        pcap.capture(nb.buffer, nb.dataOffset, nb.dataLength, vid);
  };
  return { onSend: put, onIndicate: put };
}
