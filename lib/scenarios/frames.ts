/**
 * `condis run` as a library: two devices joined back to back — two real TAPs looped by the
 * kernel (tc mirred both ways) when this process may create TAPs, else the in-process wire — move
 * frames both ways on the untagged pair and on a VLAN-tagged pair; `runFrames()` returns what
 * every counter saw as a typed report, and lib/cli/run.ts renders it. Layer: a scenario over the
 * device layer alone (lib/device's FramePort drivers, no NDIS), plus lib/host/tc for the TAP loop.
 */
import type { Device } from '../device/device';
import { openTap, openWirePair, tapUnavailableReason } from '../device/open';
import type { Backend } from '../device/options';
import { FramePort } from '../device/port';
import type { CondisError } from '../errors';
import { ifStat, mirred, quiet } from '../host/tc';
import type { NativeStats } from '../native';
import type { PcapWriter } from '../pcap/writer';

/** The VID of queue pair 1 (pair 0 is untagged). */
export const FRAMES_VID = 42;

// Per port; a TAP's queue holds 1000 frames and two ports share each direction.
const WINDOW = 192;

export interface FramesOptions {
  /** auto: two TAPs if this process may create them (CAP_NET_ADMIN), else the wire. */
  backend: 'auto' | 'tap' | 'wire';
  /** Frames per direction on pair 0; pair 1 carries a tenth of them (at least 1). */
  frames: number;
  /** Frame size in bytes (60..1514). */
  size: number;
  /** Every frame delivered, both ways, once (pair 1's with VID 42), e.g. a PcapWriter. */
  capture?: Pick<PcapWriter, 'capture'>;
  /** Stops the run early; the report still comes, with `interrupted`. */
  signal?: AbortSignal;
  /** Called once the devices are open, before any frame moves: which backend, and why. */
  onStart?: (info: { backend: Backend; note: string }) => void;
  /**
   * A queue the device failed, or the driver stopped on an impossible used ring, moves nothing
   * more: this says which and why, as it happens (the run would otherwise only end quiet, with
   * frames lost).
   */
  onRingError?: (device: string, err: CondisError) => void;
}

export interface FramesDirection {
  sent: number;
  received: number;
  lost: number;
}

export interface FramesReport {
  backend: Backend;
  note: string;
  frameSize: number;
  /** From the first send to the last frame (or the stall that ended the run). */
  seconds: number;
  interrupted: boolean;
  devices: { name: string; stats: NativeStats; kernel: Record<string, number> | null }[];
  pairs: { pair: number; vid: number; aToB: FramesDirection; bToA: FramesDirection }[];
}

interface Side {
  name: string;
  dev: Device;
  ports: FramePort[];
}

/** Moves the frames (see the header) and returns what every counter saw. */
export async function runFrames(o: FramesOptions): Promise<FramesReport> {
  const { backend, frames, size } = o;
  let note = '';
  const tapNames = [`condisA${process.pid % 100000}`, `condisB${process.pid % 100000}`] as const;
  const side = (name: string, dev: Device): Side => {
    const ports = [new FramePort(dev, 0), new FramePort(dev, 1)];
    dev.onInterrupt = () => {
      for (const p of ports) p.poll();
    };
    const onRingError = o.onRingError;
    if (onRingError) dev.on('ringError', (e) => onRingError(name, e));
    return { name, dev, ports };
  };
  const openSides = (): [Side, Side] => {
    if (backend !== 'wire') {
      try {
        const a = openTap({ name: tapNames[0], queuePairs: 2, queueSize: 1024, up: false });
        let b: Device;
        try {
          b = openTap({ name: tapNames[1], queuePairs: 2, queueSize: 1024, up: false });
        } catch (e) {
          a.destroy();
          throw e;
        }
        // Quiet (no IPv6) before the link comes up, so the kernel sends nothing of its own.
        for (const n of tapNames) quiet(n);
        a.setLink(true);
        b.setLink(true);
        mirred(tapNames[0], tapNames[1]);
        mirred(tapNames[1], tapNames[0]);
        note = `tap: ${tapNames[0]} <-> ${tapNames[1]} through the kernel (tc mirred both ways)`;
        return [side(tapNames[0], a), side(tapNames[1], b)];
      } catch (e) {
        const why = tapUnavailableReason(e);
        if (backend === 'tap' || why === null) throw e;
        note = `wire: in-process, because TAPs are unavailable here: ${why}`;
      }
    } else {
      note = 'wire: in-process (asked for)';
    }
    const [a, b] = openWirePair({ queuePairs: 2, queueSize: 1024 });
    return [side('wire/a', a), side('wire/b', b)];
  };
  const sides = openSides();
  const [A, B] = sides;
  let interrupted = o.signal?.aborted ?? false;
  const onAbort = () => {
    interrupted = true;
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    o.onStart?.({ backend: A.dev.backend, note });
    // Each frame is captured once, where it was delivered: A -> B at B's ports, B -> A at A's.
    const w = o.capture;
    if (w) {
      for (const s of sides) {
        s.ports.forEach((p, k) => {
          const vid = k === 0 ? 0 : FRAMES_VID;
          p.onFrame = (bytes, off, len) => w.capture(bytes, off, len, vid);
        });
      }
    }
    for (const s of sides) {
      s.dev.bindPair(1, FRAMES_VID);
      for (const p of s.ports) p.postRx();
    }
    const template = new Uint8Array(size);
    template.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    const goals = [frames, Math.max(1, Math.floor(frames / 10))];
    const t0 = process.hrtime.bigint();
    let lastProgress = Date.now();
    let lastTotal = 0;
    // The pump is the work loop, not a wait: each macrotask sends what the window allows and
    // harvests both queues (the interrupts harvest too). It ends when every frame is through, on
    // the abort, or after 2 s without any progress.
    await new Promise<void>((resolve) => {
      const pump = () => {
        let total = 0;
        for (const s of sides) {
          const peer = s === A ? B : A;
          s.ports.forEach((p, k) => {
            // Pace like any sane sender: at most WINDOW frames ahead of what the peer has received,
            // so the kernel's TAP queue (txqueuelen 1000) is never overrun.
            const window = WINDOW - (p.sent - peer.ports[k]!.received);
            const left = Math.min(goals[k]! - p.sent, window);
            if (left > 0 && p.sendRepeated(template, left) > 0) p.flush();
            p.poll();
            total += p.received + p.txDone + p.txFailed;
          });
        }
        const done = sides.every((s) => s.ports.every((p, k) => p.txDone + p.txFailed === goals[k]));
        const received =
          B.ports.every((p, k) => p.received >= goals[k]!) &&
          A.ports.every((p, k) => p.received >= goals[k]!);
        if (total !== lastTotal) {
          lastTotal = total;
          lastProgress = Date.now();
        }
        if ((done && received) || interrupted || Date.now() - lastProgress > 2000) resolve();
        else setImmediate(pump);
      };
      pump();
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    return {
      backend: A.dev.backend,
      note,
      frameSize: size,
      seconds: secs,
      interrupted,
      devices: sides.map((s) => ({ name: s.name, stats: s.dev.stats(), kernel: kernelStats(s) })),
      pairs: [0, 1].map((k) => ({
        pair: k,
        vid: k === 0 ? 0 : FRAMES_VID,
        aToB: {
          sent: A.ports[k]!.txDone,
          received: B.ports[k]!.received,
          lost: A.ports[k]!.txDone - B.ports[k]!.received,
        },
        bToA: {
          sent: B.ports[k]!.txDone,
          received: A.ports[k]!.received,
          lost: B.ports[k]!.txDone - A.ports[k]!.received,
        },
      })),
    };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await A.dev.close();
    await B.dev.close();
  }
}

function kernelStats(s: Side): Record<string, number> | null {
  if (s.dev.backend !== 'tap') return null;
  const out: Record<string, number> = {};
  for (const k of ['rx_packets', 'tx_packets', 'rx_dropped', 'tx_dropped']) out[k] = ifStat(s.name, k);
  return out;
}
