/**
 * The NDIS forwarding path of `condis bench tcp` (issue 13 point 4, path `condis-ndis`): two
 * existing TAPs opened by name, the NDIS runtime with the reference miniport on each, and the
 * reference bridge (lib/client/bridge.ts) between their untagged default traffic.
 *
 * Which VC: the device carries untagged frames on queue pair 0 (DESIGN.md, "Pair 0 carries
 * untagged frames"), and the miniport lends pair 0 to a VC activated on VID 0 (UNTAGGED_VID,
 * lib/medium/params.ts). So the bridge makes one PVC call on VID 0 on each device: NDIS-correct
 * (an ordinary NdisClMakeCall through the PVC call manager), no VLAN on the host side, and the
 * frames two network namespaces exchange through the TAPs are exactly what crosses.
 * The two devices share one region (openSharedTaps): each frame is sent on by the other device
 * from the buffer it arrived in, no copy (lib/miniport/send.ts heldPoolSlot).
 *
 * Namespaces: open the TAPs by name in the root namespace first, then move them (`ip link set dev
 * X netns Y`): the file descriptor stays bound to the device wherever it lives, while opening by
 * name only finds interfaces of this process's namespace.
 *
 * Layer: scenarios (lib/device, lib/ndis, lib/miniport, lib/vc, lib/client wired together).
 */
import { NdisBridge } from '../client/bridge';
import type { Device } from '../device/device';
import { openSharedTaps } from '../device/open';
import { UNTAGGED_VID } from '../medium/params';
import { MiniportAdapter } from '../miniport/adapter';
import { kMiniportOffloadFeatures } from '../miniport/offload';
import { Ndis } from '../ndis/ndis';
import { NDIS_STATUS_SUCCESS, statusName } from '../ndis/status';
import { PvcCallManager } from '../vc/pvc-call-manager';
import { kBigRxBufferBytes } from '../virtio/vnet-hdr';

export interface NdisBridgeForwarderOptions {
  /** Names of two existing TAP interfaces (in this process's network namespace when called). */
  tapA: string;
  tapB: string;
  /**
   * Task offloads on both sides: each TAP opened with the virtio-net header and the miniport's
   * features (kMiniportOffloadFeatures: checksum, TSO both ways), 64 KiB receive buffers, and
   * the miniports' `offloads` on, so a GSO packet crosses as one NBL (RSC in, LSO out).
   */
  offload: boolean;
  /** Forwards in flight per direction (default 256). */
  maxInFlight?: number;
}

export interface NdisBridgeForwarderStats {
  /** Frames tapA -> tapB and back, as the bridge counted them. */
  aToB: {
    received: number;
    forwarded: number;
    zeroCopy: number;
    copied: number;
    completed: number;
    dropped: number;
  };
  bToA: {
    received: number;
    forwarded: number;
    zeroCopy: number;
    copied: number;
    completed: number;
    dropped: number;
  };
  inFlight: number;
}

export interface NdisBridgeForwarder {
  /** Stops forwarding, closes the calls (drained), halts both miniports and closes the TAPs. Idempotent. */
  stop(): Promise<void>;
  stats(): NdisBridgeForwarderStats;
}

/** Opens `tapA` and `tapB` and bridges their untagged traffic through NDIS; see the top of this file. */
export async function startNdisBridgeForwarder(
  opts: NdisBridgeForwarderOptions,
): Promise<NdisBridgeForwarder> {
  const devices: Device[] = [];
  const adapters: MiniportAdapter[] = [];
  let bridge: NdisBridge | null = null;
  const teardown = async () => {
    if (bridge) await bridge.close().catch(() => {});
    for (const ad of adapters) await ad.halt().catch(() => {});
    for (const d of devices) d.destroy();
  };
  try {
    // Offloads: 64 KiB buffers, so 128 per queue (4 queues x 128 x 64 KiB = 32 MiB per device).
    const deviceOptions = opts.offload
      ? {
          queuePairs: 2,
          queueSize: 128,
          vnetHdr: true,
          features: [...kMiniportOffloadFeatures],
          bufferSize: Math.ceil(kBigRxBufferBytes / 64) * 64,
        }
      : { queuePairs: 2, queueSize: 256 };
    // One shared region: the bridge sends the buffer one device received on the other (no copy).
    devices.push(
      ...openSharedTaps([
        { name: opts.tapA, ...deviceOptions },
        { name: opts.tapB, ...deviceOptions },
      ]),
    );
    const ndis = new Ndis({ verifier: 'report' });
    const cms: PvcCallManager[] = [];
    for (const [i, d] of devices.entries()) {
      const ad = new MiniportAdapter(ndis, d, { name: `bridge-mp-${i}`, offloads: opts.offload });
      adapters.push(ad);
      cms.push(new PvcCallManager(ndis, ad.handle, `bridge-cm-${i}`));
    }
    bridge = NdisBridge.open(ndis, {
      a: { adapter: adapters[0]!, vid: UNTAGGED_VID, callManager: cms[0]! },
      b: { adapter: adapters[1]!, vid: UNTAGGED_VID, callManager: cms[1]! },
      ...(opts.maxInFlight ? { maxInFlight: opts.maxInFlight } : {}),
    });
    const st = await bridge.start();
    if (st !== NDIS_STATUS_SUCCESS) throw new Error(`startNdisBridgeForwarder: make call: ${statusName(st)}`);
  } catch (e) {
    await teardown();
    throw e;
  }
  const br = bridge;
  let stopping: Promise<void> | null = null;
  const view = (c: NdisBridge['aToB']) => ({
    received: c.received,
    forwarded: c.forwarded,
    zeroCopy: c.zeroCopy,
    copied: c.copied,
    completed: c.completed,
    dropped: c.dropped.total,
  });
  return {
    stop: () => {
      stopping ??= teardown();
      return stopping;
    },
    stats: () => ({ aToB: view(br.aToB), bToA: view(br.bToA), inFlight: br.inFlight }),
  };
}
