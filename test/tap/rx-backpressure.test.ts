// When the device reads the TAP: while a receiver will post buffers (a pair bound to a VID, or
// pair 0 used since its reset) and none are posted, frames wait in the kernel and arrive once
// buffers come (backpressure, nothing lost). With no receiver at all, the device reads on and
// drops, counted: a frame for a VC that is not active never waits in the kernel to be indicated
// after the VC's next activation.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort } from '../../lib/device';
import { frame, taggedHex } from '../helpers/frames';
import { ifName, ifStat, openQuietTap, packetSend, shQuiet } from '../helpers/host';
import { tapTestsEnabled } from '../helpers/privilege';
import { waitUntil } from '../helpers/wait';

const enabled = tapTestsEnabled('rx-backpressure');

let d: Device | undefined;
let tap = '';
afterEach(async () => {
  await d?.close();
  d = undefined;
  if (tap) shQuiet('ip', ['link', 'del', tap]);
  tap = '';
});

function open(): { dev: Device; p0: FramePort; p1: FramePort } {
  tap = ifName('ctb');
  // Quiet before it goes up: the kernel puts no frame of its own (MLD, router solicitation) on
  // it, which would land on pair 0 and be counted with the test's own.
  const dev = openQuietTap({ name: tap, queuePairs: 2, queueSize: 64 });
  d = dev;
  const p0 = new FramePort(dev, 0);
  const p1 = new FramePort(dev, 1);
  dev.onInterrupt = () => {
    p0.poll();
    p1.poll();
  };
  return { dev, p0, p1 };
}

const settle = () => new Promise((r) => setTimeout(r, 150));

describe.runIf(enabled)('TAP receive: backpressure for a receiver, drops without one', () => {
  it('a bound pair out of buffers: frames wait in the kernel and all arrive once buffers are posted', async () => {
    const { dev, p1 } = open();
    dev.bindPair(1, 42);
    packetSend(tap, taggedHex(70, 1, 42), 20);
    await settle();
    const s = dev.stats();
    expect(s.pairs[1]!.rxFrames).toBe(0);
    expect(s.pairs[1]!.rxNoBuffer).toBe(0);
    expect(s.rxUnboundVid).toBe(0);
    p1.postRx();
    await waitUntil(() => p1.received === 20, '20 frames after the buffers came');
    expect(dev.stats().pairs[1]!.rxNoBuffer).toBe(0);
  });

  it('no receiver at all: frames are dropped on arrival, counted, and never reach a later activation', async () => {
    const { dev, p1 } = open();
    packetSend(tap, taggedHex(70, 2, 42), 15);
    await waitUntil(() => dev.stats().rxUnboundVid === 15, '15 unbound-VID drops');
    // Untagged frames for pair 0, which nobody has used since the reset: dropped, no buffer.
    packetSend(tap, Buffer.from(frame(64, 3)).toString('hex'), 4);
    // Only the test's frames count: a frame of the host's own (none from the kernel, the TAP is
    // quiet; a daemon on a desktop might still send one) would be untagged and dropped on pair 0
    // too, so what the device read beyond the test's 19 (the TAP's tx_packets) is taken off.
    const foreign = () => ifStat(tap, 'tx_packets') - 15 - 4;
    await waitUntil(() => dev.stats().pairs[0]!.rxNoBuffer - foreign() === 4, '4 no-buffer drops on pair 0');
    // The VC's next activation sees none of them, only what the host sends from now on.
    dev.bindPair(1, 42);
    p1.postRx();
    await settle();
    expect(p1.received).toBe(0);
    packetSend(tap, taggedHex(70, 4, 42), 3);
    await waitUntil(() => p1.received === 3, '3 frames sent after the activation');
  });

  it('frames waiting for an out-of-buffers pair are dropped when it is unbound (a deactivation), not kept for the next binding', async () => {
    const { dev, p1 } = open();
    dev.bindPair(1, 42);
    packetSend(tap, taggedHex(70, 5, 42), 10);
    await settle();
    expect(dev.stats().rxUnboundVid).toBe(0); // waiting in the kernel
    dev.unbindPair(1); // the paused thread is told to look again: it reads and drops them
    await waitUntil(() => dev.stats().rxUnboundVid === 10, '10 drops after the unbind');
    dev.bindPair(1, 42);
    p1.postRx();
    await settle();
    expect(p1.received).toBe(0);
  });
});
