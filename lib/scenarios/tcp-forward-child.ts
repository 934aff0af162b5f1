/**
 * The forwarder process of `condis bench tcp`'s condis paths (lib/bench/tcp/forwarders.ts spawns
 * it): a process of its own, so the benchmark's event loop never competes with the forwarding one.
 *
 *   node tcp-forward-child.js port|ndis TAP_A TAP_B 0|1
 *
 *   port  two TAP devices in one shared region (openSharedTaps) and a FrameForwarder between
 *         them (lib/device/forwarder.ts): a frame received on one is sent on the other from the
 *         buffer it arrived in, no copy in user space (with offloads the virtio_net_hdr crosses
 *         too, so a 64 KiB GSO frame stays one frame). One publish per queue per interrupt, no
 *         allocation per frame.
 *   ndis  startNdisBridgeForwarder (./ndis-bridge-forwarder, loaded only here: a tree without it
 *         still runs every other path; the parent checks for it first and skips the path).
 *
 * stdout: "ready" once both TAPs are open (the parent then moves them into their namespaces), and
 * at the end one JSON line of counters. SIGTERM or SIGINT: close the devices, print, exit 0.
 */
import * as path from 'node:path';
import type { Device } from '../device/device';
import { FrameForwarder } from '../device/forwarder';
import { openSharedTaps } from '../device/open';
// The driver accepts every TCP offload both ways, so the kernel hands over (and takes) GSO frames:
// the same features the NDIS path's miniport opens its devices with, so both paths compare alike.
import { kMiniportOffloadFeatures } from '../miniport/offload';
import { kBigRxBufferBytes } from '../virtio/vnet-hdr';

/** The reference bridge's entry point (lib/scenarios/ndis-bridge-forwarder.ts), as this file uses it. */
interface NdisBridgeModule {
  startNdisBridgeForwarder(o: { tapA: string; tapB: string; offload: boolean }): Promise<{
    stop(): Promise<void>;
    stats(): unknown;
  }>;
}

/** The NDIS bridge forwarder, next to this file (sources or dist); a variable, so tsc does not need it. */
const NDIS_BRIDGE_MODULE = path.join(__dirname, 'ndis-bridge-forwarder');

interface Forwarder {
  stop(): Promise<void>;
  stats(): unknown;
}

function startPortForwarder(tapA: string, tapB: string, offload: boolean): Forwarder {
  // Big receive buffers with GUEST_TSO: a GSO frame arrives whole (virtio 1.2, 5.1.6.3.1).
  const opts = offload
    ? {
        queuePairs: 1,
        queueSize: 256,
        vnetHdr: true,
        features: kMiniportOffloadFeatures,
        bufferSize: Math.ceil(kBigRxBufferBytes / 64) * 64,
        up: false,
      }
    : { queuePairs: 1, queueSize: 1024, up: false };
  const [a, b] = openSharedTaps([
    { ...opts, name: tapA },
    { ...opts, name: tapB },
  ]) as [Device, Device];
  const fwd = new FrameForwarder(a, b);
  // Read now: info() needs an open device, and stats() is printed after stop().
  const features = offload ? a.info().features.negotiated : [];
  return {
    async stop() {
      await Promise.all([a.close(200), b.close(200)]);
    },
    stats: () => ({ ...fwd.stats(), features }),
  };
}

async function main(argv: string[]): Promise<void> {
  const [mode, tapA, tapB, off] = argv;
  if ((mode !== 'port' && mode !== 'ndis') || !tapA || !tapB) {
    throw new Error('usage: tcp-forward-child port|ndis TAP_A TAP_B 0|1');
  }
  const offload = off === '1';
  let fwd: Forwarder;
  if (mode === 'port') fwd = startPortForwarder(tapA, tapB, offload);
  else {
    const m = (await import(NDIS_BRIDGE_MODULE)) as NdisBridgeModule;
    fwd = await m.startNdisBridgeForwarder({ tapA, tapB, offload });
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void fwd.stop().then(
      () => {
        process.stdout.write(`${JSON.stringify(fwd.stats())}\n`);
        process.exit(0);
      },
      (e: unknown) => {
        process.stderr.write(`tcp-forward-child: stop: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent gone (its pipe closed): nothing will ever stop us otherwise.
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.stdout.write('ready\n');
}

main(process.argv.slice(2)).catch((e: unknown) => {
  const code = (e as { code?: unknown } | null)?.code;
  process.stderr.write(
    `tcp-forward-child: ${typeof code === 'string' ? `${code}: ` : ''}${e instanceof Error ? e.message : String(e)}\n`,
  );
  process.exit(1);
});
