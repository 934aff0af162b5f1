/**
 * The demo's topology (lib/scenarios/demo.ts): endpoint A's NIC with the peer behind it, and
 * endpoint A's drivers on it. Each thing created is handed to the run's teardown stack
 * (DemoRun.defer) the moment it exists, so an error or an abort at any point removes exactly what
 * was made.
 *
 * - tap: the peer is the Linux host itself. The TAP is moved into a network namespace of the
 *   demo's own, where the host has 10.42.0.1 on VLAN 42 (lib/host/namespace.ts: the subinterface
 *   <tap>.42, or on a kernel without 802.1Q the TAP itself with the VID pushed/popped by tcx eBPF).
 * - wire (no CAP_NET_ADMIN, no ping on the host, or asked for): a pair of in-process devices;
 *   endpoint B on the far one is set up by demo-peers.ts.
 * Endpoint A: NDIS (tracing, verifier 'report', and a data-path observer writing the pcap), the
 * reference miniport, the PVC call manager and PingResponder (10.42.0.2 on VC 42).
 *
 * Layer: scenarios — wires lib/device, lib/ndis, lib/miniport, lib/vc, lib/client and
 * lib/host together; below the CLI, which only renders.
 */
import { PingResponder } from '../client/responder';
import type { Device } from '../device/device';
import { openTap, openWirePair, tapUnavailableReason } from '../device/open';
import { FramePort } from '../device/port';
import { HostNamespace, type HostVlan, hostToolsMissing } from '../host/namespace';
import { quiet } from '../host/tc';
import { MiniportAdapter } from '../miniport/adapter';
import type { MiniportVc } from '../miniport/vc';
import type { NdisVcHandle } from '../ndis/actors';
import type { NetBufferList } from '../ndis/nbl';
import { Ndis, type NdisDataPathObserver } from '../ndis/ndis';
import type { Trace } from '../ndis/trace';
import type { PcapWriter } from '../pcap/writer';
import { PvcCallManager } from '../vc/pvc-call-manager';
import type { DemoRun } from './demo-run';
import { STEP_NOTE } from './demo-sequence';

/** The VC (and its VID on the wire), and the two ends of the ping. */
export const VID = 42;
export const CLIENT_IP = '10.42.0.2';
export const CLIENT_MAC = '02:00:00:00:42:02';
export const HOST_IP = '10.42.0.1';
export const HOST_MAC = '02:00:00:00:42:01';

export type DemoBackend = 'tap' | 'wire';

/** Endpoint A's NIC and what is behind it. */
export interface DemoNic {
  backend: DemoBackend;
  /** Endpoint A's device. */
  dev: Device;
  /** tap: the host's namespace, the TAP's name in it and how its VLAN end was set up. */
  ns: HostNamespace | null;
  tapName: string;
  nsName: string;
  vlan: HostVlan | null;
  /** wire: the far device (endpoint B's). */
  farDev: Device | null;
  /** One line: the backend, and why (the CLI's first line). */
  note: string;
}

/**
 * Endpoint A's NIC: a TAP with the host in a namespace behind it when `backend` allows and this
 * process may (CAP_NET_ADMIN, iproute2, iputils ping), else the wire. Names carry the process id.
 */
export function openDemoNic(run: DemoRun, backend: 'auto' | DemoBackend): DemoNic {
  let dev: Device | null = null;
  let wireWhy = '';
  const n = process.pid;
  const tapName = `condisD${n % 100000}`;
  const nsName = `condis-demo-${n}`;
  if (backend !== 'wire') {
    try {
      // Down until it is up in the namespace, and no IPv6 on it: no MLD or router
      // solicitations of the host's own into the demo.
      dev = openTap({ name: tapName, queuePairs: 2, queueSize: 256, up: false });
      quiet(tapName);
    } catch (e) {
      const why = tapUnavailableReason(e);
      if (why === null) throw e;
      if (backend === 'tap') throw new Error(`--backend tap: ${why}`);
      wireWhy = why;
    }
    const tools = dev ? hostToolsMissing() : null;
    if (dev && tools !== null) {
      dev.destroy();
      dev = null;
      if (backend === 'tap') throw new Error(`--backend tap: ${tools}`);
      wireWhy = `TAPs are available but the host cannot ping: ${tools}`;
    }
  } else {
    wireWhy = 'asked for (--backend wire)';
  }

  if (dev) {
    const d = dev;
    run.defer(`TAP ${tapName}`, () => d.destroy());
    const ns = HostNamespace.create(nsName);
    run.defer(`namespace ${nsName} (and the pings in it)`, () => ns.destroy());
    const vlan = ns.attachTap(tapName, VID, `${HOST_IP}/24`);
    const note =
      vlan === 'vlan-subinterface'
        ? `tap backend: TAP ${tapName} in namespace ${nsName}; the host pings ${CLIENT_IP} through ${tapName}.${VID}`
        : `tap backend: TAP ${tapName} in namespace ${nsName}; the host pings ${CLIENT_IP} on VLAN ${VID} (kernel without 802.1Q: VID pushed/popped by tcx eBPF on the TAP)`;
    return { backend: 'tap', dev, ns, tapName, nsName, vlan, farDev: null, note };
  }
  const [a, b] = openWirePair({ queuePairs: 2, queueSize: 32 });
  run.defer('', () => {
    a.destroy();
    b.destroy();
  });
  const note = `wire backend: ${wireWhy}; endpoint B pings ${CLIENT_IP} over the in-process wire`;
  return { backend: 'wire', dev: a, ns: null, tapName, nsName, vlan: null, farDev: b, note };
}

/** Endpoint A's drivers on its NIC. */
export interface EndpointA {
  ndis: Ndis;
  trace: Trace;
  adapter: MiniportAdapter;
  cm: PvcCallManager;
  responder: PingResponder;
  vcHandle: NdisVcHandle;
  /** The VC's NDIS slot (its trace events carry it). */
  slot: number;
  /** The miniport's context of the VC (its counters). */
  mvc: MiniportVc;
  /** Untagged frames of the host, counted apart (TAP only; 0 on the wire). */
  untaggedCount(): number;
  /** Called after each device interrupt, once the miniport handled it (the TAP's trigger). */
  afterInterrupt: (() => void) | null;
  /** Writes a step note into the trace (the headers of the sequence). */
  mark(step: string): void;
}

/**
 * Endpoint A: NDIS, the miniport, the call manager and the client on `nic`, the client's VC
 * created (no call yet). With `pcap`, every frame of the data path both ways goes to it through
 * NDIS's observer hook. Each device interrupt pokes the run's waiters.
 */
export function openEndpointA(run: DemoRun, nic: DemoNic, pcap: PcapWriter | null): EndpointA {
  const dev = nic.dev;
  const ndis = new Ndis({ verifier: 'report', ...(pcap ? { observer: pcapObserver(pcap) } : {}) });
  const trace = ndis.trace!;
  const mark = (step: string) =>
    trace.record({ kind: 'note', from: 'Client', to: 'Client', name: `${STEP_NOTE}${step}` });
  const adapter = new MiniportAdapter(ndis, dev, { name: 'condis-miniport' });
  const cm = new PvcCallManager(ndis, adapter.handle, 'pvc-call-manager');
  mark('the client creates its VC');
  const responder = PingResponder.open(ndis, adapter.handle, {
    vid: VID,
    ip: CLIENT_IP,
    mac: CLIENT_MAC,
    callManager: cm,
  });
  const vcHandle = responder.vcHandle;

  // Pair 0 (untagged; the miniport uses pairs 1..N-1) gets a port with receive buffers on a
  // TAP: the device reads the TAP only while some queue has a buffer, so without it the host's
  // frames would wait in the kernel while the VC is inactive instead of reaching the device and
  // being dropped there for their VID (counted). Untagged frames end up here, counted apart.
  const untagged = nic.backend === 'tap' ? new FramePort(dev, 0) : null;
  untagged?.postRx();
  const a: EndpointA = {
    ndis,
    trace,
    adapter,
    cm,
    responder,
    vcHandle,
    slot: ndis.vcInfo(vcHandle)!.slot,
    mvc: adapter.vcFor(vcHandle)!,
    untaggedCount: () => (untagged ? untagged.received + (dev.stats().pairs[0]?.rxNoBuffer ?? 0) : 0),
    afterInterrupt: null,
    mark,
  };
  // The device interrupt, after the miniport serviced its pairs: where the TAP's deactivation is
  // triggered, and where the counters the run waits on move.
  adapter.addInterruptHook(() => {
    untagged?.poll();
    a.afterInterrupt?.();
    run.pokeSoon();
  });
  return a;
}

/** Copies every frame endpoint A's NDIS passes on the data path (both ways) into `pcap`. */
function pcapObserver(pcap: PcapWriter): NdisDataPathObserver {
  const put = (_vc: NdisVcHandle, nbls: NetBufferList) => {
    for (let p: NetBufferList | null = nbls; p; p = p.next)
      for (let nb = p.firstNetBuffer; nb; nb = nb.next)
        pcap.capture(nb.buffer, nb.dataOffset, nb.dataLength, VID);
  };
  return { onSend: put, onIndicate: put };
}
