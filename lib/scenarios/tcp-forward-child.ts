/**
 * The forwarder process of `condis bench tcp`'s condis paths (lib/bench/tcp/forwarders.ts spawns
 * it): a process of its own, so the benchmark's event loop never competes with the forwarding one.
 *
 *   node tcp-forward-child.js port|ndis TAP_A TAP_B 0|1
 *
 *   port  two TAP devices (lib/device/open.ts), a FramePort on each; every frame received on one is
 *         copied to the other with sendWithHeader (with offloads the virtio_net_hdr crosses too,
 *         so a 64 KiB GSO frame stays one frame). Sends are published every FLUSH_EVERY frames and
 *         at the end of each interrupt: one publish per batch, no allocation per frame.
 *   ndis  startNdisBridgeForwarder (./ndis-bridge-forwarder, loaded only here: a tree without it
 *         still runs every other path; the parent checks for it first and skips the path).
 *
 * stdout: "ready" once both TAPs are open (the parent then moves them into their namespaces), and
 * at the end one JSON line of counters. SIGTERM or SIGINT: close the devices, print, exit 0.
 */
import * as path from 'node:path';
import type { Device } from '../device/device';
import { openTap } from '../device/open';
import { FramePort } from '../device/port';
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

/** Sends published every this many frames: the device starts on them while the rest are copied. */
const FLUSH_EVERY = 32;

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
  const a = openTap({ ...opts, name: tapA });
  let b: Device;
  try {
    b = openTap({ ...opts, name: tapB });
  } catch (e) {
    a.destroy();
    throw e;
  }
  const pa = new FramePort(a, 0);
  const pb = new FramePort(b, 0);
  const dropped = new Float64Array(2);
  const pending = new Uint32Array(2);
  // One sink per direction, made once. A full transmit queue drops the frame, as a switch does.
  const sink = (to: FramePort, k: number) => (bytes: Uint8Array, offset: number, length: number) => {
    if (!to.sendWithHeader(bytes, offset, length)) dropped[k]!++;
    else if (++pending[k]! >= FLUSH_EVERY) {
      pending[k] = 0;
      to.flush();
    }
  };
  pa.onFrame = sink(pb, 0);
  pb.onFrame = sink(pa, 1);
  a.onInterrupt = () => {
    pa.poll();
    pending[0] = 0;
    pb.flush();
  };
  b.onInterrupt = () => {
    pb.poll();
    pending[1] = 0;
    pa.flush();
  };
  pa.postRx();
  pb.postRx();
  // Read now: info() needs an open device, and stats() is printed after stop().
  const features = offload ? a.info().features.negotiated : [];
  return {
    async stop() {
      await Promise.all([a.close(200), b.close(200)]);
    },
    stats: () => ({
      aToB: pa.received,
      bToA: pb.received,
      droppedAToB: dropped[0],
      droppedBToA: dropped[1],
      txFailed: pa.txFailed + pb.txFailed,
      features,
    }),
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
