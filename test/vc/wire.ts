// The rig of the VcChannel tests (test/vc): a real wire pair (two devices joined in-process, no
// privileges, no mocks), the package's miniport on device `a`, and the far end of the wire on
// device `b` played by a FramePort on a queue pair bound to the channel's VID. Tests import the
// package root (lib/index.ts), as a user does.
import { afterEach } from 'vitest';
import { type Device, FramePort, MiniportAdapter, Ndis, type NdisOptions, openWirePair } from '../../lib';
import { seqOf } from '../helpers/frames';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

export interface Rig {
  ndis: Ndis;
  a: Device;
  b: Device;
  /** The miniport on `a` (channels are opened on it). */
  adapter: MiniportAdapter;
  /** Device b's queue pair 1, bound to `vid`: the network end of the channel's VC. */
  peer: FramePort;
  /** Sequence numbers (test/helpers/frames) of the frames the peer received, in order. */
  seen: number[];
}

/**
 * A wire pair with `queuePairs` pairs each (pair 0 is untagged: a miniport lends pairs 1..n-1 to
 * VCs), the miniport on `a`, and b's pair 1 bound to `vid`. Devices are destroyed after the test.
 */
export function wireRig(vid: number, opts: { queuePairs?: number; ndis?: NdisOptions } = {}): Rig {
  const [a, b] = openWirePair({ queuePairs: opts.queuePairs ?? 2, queueSize: 64 });
  open.push(a, b);
  const ndis = new Ndis({ verifier: 'throw', ...opts.ndis });
  const adapter = new MiniportAdapter(ndis, a);
  b.bindPair(1, vid);
  const peer = new FramePort(b, 1);
  const seen: number[] = [];
  peer.onFrame = (bytes, off) => seen.push(seqOf(bytes, off));
  b.onInterrupt = () => peer.poll();
  peer.postRx();
  return { ndis, a, b, adapter, peer, seen };
}

/** `p`, or a failure naming `what` after `ms` (a hang shows as what hung, not a test timeout). */
export function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Whether `p` is still pending after the turns already queued (and a few ms of I/O) ran. */
export async function pending(p: Promise<unknown>, ms = 20): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return !settled;
}

/** Two miniports under one Ndis, one on each device of a wire pair: channels at both ends. */
export function twoMiniports(opts: { queuePairs?: number } = {}): {
  ndis: Ndis;
  left: MiniportAdapter;
  right: MiniportAdapter;
} {
  const [a, b] = openWirePair({ queuePairs: opts.queuePairs ?? 2, queueSize: 64 });
  open.push(a, b);
  const ndis = new Ndis({ verifier: 'throw' });
  return { ndis, left: new MiniportAdapter(ndis, a), right: new MiniportAdapter(ndis, b) };
}
