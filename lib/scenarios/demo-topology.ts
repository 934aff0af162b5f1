/**
 * The demo's topology (lib/scenarios/demo.ts): two condis nodes, A (the caller) and B (the
 * callee), each the stack of `condis node` — the NDIS runtime, the reference miniport, the
 * signalling call manager of lib/cm and the node's client (lib/node/node.ts, CondisNode.onDevice:
 * the same wiring, not a copy) — on the two ends of one in-process wire (openWirePair). Both
 * runtimes record their trace (the NDIS sequence of each side); A's data path goes to the pcap.
 * Each thing created is handed to the run's teardown stack (DemoRun.defer) the moment it exists,
 * so an error or an abort at any point removes exactly what was made.
 *
 * Layer: scenarios — wires lib/device and lib/node together; below the CLI, which only renders.
 */
import { openWirePair } from '../device/open';
import type { NdisVcHandle } from '../ndis/actors';
import type { NetBufferList } from '../ndis/nbl';
import type { NdisDataPathObserver } from '../ndis/ndis';
import type { Trace } from '../ndis/trace';
import { CondisNode } from '../node/node';
import { type ResolvedNodeOptions, resolveNodeOptions } from '../node/options';
import type { PcapWriter } from '../pcap/writer';
import type { DemoRun } from './demo-run';
import { STEP_NOTE } from './demo-sequence';

export type DemoBackend = 'wire';

/** The nodes' addresses: fixed, so the report and the README read the same on every run. */
export const CALLER = { mac: '02:cd:00:00:00:0a', ip: '10.42.0.1/24' } as const;
export const CALLEE = { mac: '02:cd:00:00:00:0b', ip: '10.42.0.2/24' } as const;
/** The SAP B listens on and A calls. */
export const DEMO_SAP = 1;

/**
 * Pair 0 carries the signalling VC (VID 0), pair 1 the call's VC. 16 descriptors per queue: the
 * burst that stalls B's replies is A's receive ring plus 8 (demo-traffic.ts), and B's client can
 * only answer as many requests at once as it has reply buffers (32, lib/node/client.ts); a request
 * beyond them would go unanswered.
 */
const QUEUE_PAIRS = 2;
const QUEUE_SIZE = 16;

/** One side of the demo. */
export interface DemoSide {
  node: CondisNode;
  trace: Trace;
  /** Writes a step note into this side's trace (the headers of its sequence). */
  mark(step: string): void;
}

export interface DemoNodes {
  a: DemoSide;
  b: DemoSide;
  note: string;
  topology: string;
}

/**
 * Opens the wire and the two nodes on it. `pcap`: every frame A's NDIS passes on its data path
 * (signalling untagged, the call's frames with its VID re-inserted). `poke` runs after each device
 * interrupt of either side (the run's waits re-check there).
 */
export async function openDemoNodes(
  run: DemoRun,
  pcap: PcapWriter | null,
  poke: () => void,
): Promise<DemoNodes> {
  const [devA, devB] = openWirePair({ queuePairs: QUEUE_PAIRS, queueSize: QUEUE_SIZE });
  run.defer('', () => {
    devA.destroy();
    devB.destroy();
  });
  const opts = (tap: string, o: { mac: string; ip: string }): ResolvedNodeOptions =>
    resolveNodeOptions({ tap, mac: o.mac, ip: o.ip, sap: DEMO_SAP, queuePairs: QUEUE_PAIRS });
  const quiet = () => {};
  let aNode: CondisNode | null = null;
  const observer = pcap ? pcapObserver(pcap, (vc) => aNode?.adapter.vcFor(vc)?.vid ?? 0) : undefined;
  aNode = await CondisNode.onDevice(devA, opts('demo-a', CALLER), quiet, {
    trace: true,
    ...(observer ? { observer } : {}),
  });
  const a = aNode;
  run.defer('', () => a.stop());
  const b = await CondisNode.onDevice(devB, opts('demo-b', CALLEE), quiet, { trace: true });
  run.defer('', () => b.stop());
  a.adapter.addInterruptHook(poke);
  b.adapter.addInterruptHook(poke);
  const side = (node: CondisNode): DemoSide => {
    const trace = node.ndis.trace!;
    return {
      node,
      trace,
      mark: (step) =>
        trace.record({ kind: 'note', from: 'Client', to: 'Client', name: `${STEP_NOTE}${step}` }),
    };
  };
  const stack = 'NDIS + miniport + signalling CM + node client';
  return {
    a: side(a),
    b: side(b),
    note: `wire backend: two nodes in this process, A ${CALLER.mac} calls B ${CALLEE.mac} over the in-process wire`,
    topology: `node A (wire + ${stack}, ${CALLER.ip}) <-> node B (wire + ${stack}, ${CALLEE.ip}, SAP ${DEMO_SAP}); signalling on VID 0 (pair 0), the call on its own VID (pair 1)`,
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
