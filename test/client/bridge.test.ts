// The forwarding reference (NdisBridge, issue 13 point 3) on the wire backend, no privileges.
// The far ends of the wires play the two networks: a FramePort on the pair bound to the VID of
// each bridged VC sends frames in and sees what comes out.
// - one device: VC 1 and VC 2 on device A, one region: zero copy (the receive buffer itself goes
//   out of VC 2; the NDIS observer sees the very offset the indication had);
// - two devices: VC 1 on A, VC 2 on B: one copy, into B's transmit buffer (B's miniport then
//   sends that buffer without a copy of its own).
import { afterEach, describe, expect, it } from 'vitest';
import { NdisBridge } from '../../lib/client';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import { openSharedWirePairs } from '../../lib/device/open';
import { condisCallParameters, MiniportAdapter, type MiniportVc } from '../../lib/miniport';
import { NDIS_STATUS_SUCCESS, Ndis, type NdisVcHandle, type NetBufferList } from '../../lib/ndis';
import { PvcCallManager } from '../../lib/vc';
import { frame, seqOf } from '../helpers/frames';
import { waitUntil } from '../helpers/wait';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

const QUEUE = 64;

interface Rig {
  ndis: Ndis;
  bridge: NdisBridge;
  adapters: MiniportAdapter[];
  cms: PvcCallManager[];
  /** The far end of VC 1 (frames go in here) and of VC 2 (they come out here). */
  inPort: FramePort;
  outPort: FramePort;
  /** Frames out of VC 2 / out of VC 1 (reverse direction), copied. */
  out: Uint8Array[];
  back: Uint8Array[];
  /** Where the frames the bridge's VC 1 indicated sat, and where the sends on VC 2 pointed. */
  indicated: Array<{ buf: ArrayBufferLike; off: number }>;
  sent: Array<{ buf: ArrayBufferLike; off: number }>;
  regionA: ArrayBufferLike;
}

function setup(
  shape: 'one-device' | 'two-devices' | 'shared-region',
  opts: { maxInFlight?: number; postOut?: boolean } = {},
): Rig {
  const indicated: Rig['indicated'] = [];
  const sent: Rig['sent'] = [];
  const handles: { a: NdisVcHandle | null; b: NdisVcHandle | null } = { a: null, b: null };
  const record = (into: Rig['sent']) => (_vc: NdisVcHandle, nbls: NetBufferList) => {
    for (let p: NetBufferList | null = nbls; p; p = p.next)
      for (let nb = p.firstNetBuffer; nb; nb = nb.next)
        into.push({ buf: nb.buffer.buffer, off: nb.dataOffset });
  };
  const onIndicate = record(indicated);
  const onSend = record(sent);
  const ndis = new Ndis({
    verifier: 'throw',
    observer: {
      // Only what concerns direction a -> b: indications on VC 1, sends on VC 2 (the bridge's).
      onIndicate: (vc, nbls) => {
        if (handles.a !== null && ndis.vcInfo(vc)?.slot === ndis.vcInfo(handles.a)?.slot)
          onIndicate(vc, nbls);
      },
      onSend: (vc, nbls) => {
        if (vc === handles.b) onSend(vc, nbls);
      },
    },
  });
  // shared-region: two devices (two wires) whose regions share one SharedArrayBuffer and pool.
  const shared =
    shape === 'shared-region' ? openSharedWirePairs(2, { queuePairs: 3, queueSize: QUEUE }) : null;
  const [a, p] = shared ? shared[0]! : openWirePair({ queuePairs: 3, queueSize: QUEUE });
  open.push(a, p);
  const adA = new MiniportAdapter(ndis, a, { name: 'mp-a' });
  const cmA = new PvcCallManager(ndis, adA.handle, 'cm-a');
  const adapters = [adA];
  const cms = [cmA];
  let adB = adA;
  let farB = p;
  if (shape !== 'one-device') {
    const [b, q] = shared ? shared[1]! : openWirePair({ queuePairs: 3, queueSize: QUEUE });
    open.push(b, q);
    adB = new MiniportAdapter(ndis, b, { name: 'mp-b' });
    cms.push(new PvcCallManager(ndis, adB.handle, 'cm-b'));
    adapters.push(adB);
    farB = q;
  }
  const bridge = NdisBridge.open(ndis, {
    a: { adapter: adA, vid: 1, callManager: cmA },
    b: { adapter: adB, vid: 2, callManager: cms[cms.length - 1]! },
    ...(opts.maxInFlight ? { maxInFlight: opts.maxInFlight } : {}),
  });
  handles.a = bridge.a.vcHandle;
  handles.b = bridge.b.vcHandle;
  p.bindPair(1, 1);
  const inPort = new FramePort(p, 1);
  let outPort: FramePort;
  if (farB === p) {
    p.bindPair(2, 2);
    outPort = new FramePort(p, 2);
    p.onInterrupt = () => {
      inPort.poll();
      outPort.poll();
    };
  } else {
    farB.bindPair(1, 2);
    outPort = new FramePort(farB, 1);
    p.onInterrupt = () => inPort.poll();
    farB.onInterrupt = () => outPort.poll();
  }
  const out: Uint8Array[] = [];
  const back: Uint8Array[] = [];
  outPort.onFrame = (bytes, off, len) => out.push(bytes.slice(off, off + len));
  inPort.onFrame = (bytes, off, len) => back.push(bytes.slice(off, off + len));
  inPort.postRx();
  if (opts.postOut ?? true) outPort.postRx();
  return {
    ndis,
    bridge,
    adapters,
    cms,
    inPort,
    outPort,
    out,
    back,
    indicated,
    sent,
    regionA: a.region.u8.buffer,
  };
}

/** Sends `frames` through `port`, as many per batch as its ring takes, waiting for room. */
async function pump(port: FramePort, frames: Uint8Array[]): Promise<void> {
  let i = 0;
  while (i < frames.length) {
    let n = 0;
    while (i < frames.length && port.send(frames[i]!)) {
      i++;
      n++;
    }
    port.flush();
    if (n === 0) await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Sends `frames` through `port` in batches of `batch`, each once the one before has come out at
 * `out`: paced, so no frame meets a full cap or pool (those drops are tested apart).
 */
async function paced(port: FramePort, frames: Uint8Array[], out: Uint8Array[], batch = 32): Promise<void> {
  const base = out.length;
  for (let i = 0; i < frames.length; i += batch) {
    const part = frames.slice(i, i + batch);
    await pump(port, part);
    const want = base + i + part.length;
    await waitUntil(
      () => out.length >= want,
      () => `${out.length - base}/${i + part.length} frames out`,
    );
  }
}

/** Frames of mixed sizes (60..1514), seq first..first+n-1. */
function frames(first: number, n: number): Uint8Array[] {
  const sizes = [60, 61, 128, 577, 1000, 1514];
  return Array.from({ length: n }, (_, i) => frame(sizes[i % sizes.length]!, first + i, 0xb41d9e));
}

function mvc(rig: Rig, end: 'a' | 'b'): MiniportVc {
  const adapter = end === 'a' ? rig.adapters[0]! : rig.adapters[rig.adapters.length - 1]!;
  const vc = adapter.vcFor(rig.bridge[end].vcHandle);
  if (!vc) throw new Error('no miniport VC');
  return vc;
}

/** Nothing of the bridge outstanding anywhere (its own counters, NDIS's, both miniports'). */
function expectNothingOutstanding(rig: Rig): void {
  expect(rig.bridge.inFlight).toBe(0);
  expect(rig.bridge.heldRx).toBe(0);
  for (const end of ['a', 'b'] as const) {
    expect(rig.ndis.vcInfo(rig.bridge[end].vcHandle)?.rxHeld ?? 0).toBe(0);
    const vc = mvc(rig, end);
    expect(vc.txInFlight).toBe(0);
    expect(vc.rxHeld).toBe(0);
  }
}

async function closeAndCheck(rig: Rig): Promise<void> {
  await rig.bridge.close();
  for (const ad of rig.adapters) {
    const pc = ad.poolCounts();
    expect(pc.free).toBe(pc.capacity);
  }
  expect(rig.ndis.vcCount).toBe(0);
}

describe('NdisBridge on the wire backend', () => {
  it('one device (one region): frames into VC 1 come out of VC 2 byte-exact, in order, with no copy (the received buffer is what is sent)', async () => {
    const rig = setup('one-device');
    const { bridge } = rig;
    expect(await bridge.start()).toBe(NDIS_STATUS_SUCCESS);
    const want = frames(1, 300);
    await paced(rig.inPort, want, rig.out);
    expect(rig.out).toEqual(want);
    await waitUntil(() => bridge.aToB.completed === 300, 'the forwards to complete');
    expect(bridge.aToB).toMatchObject({
      received: 300,
      forwarded: 300,
      zeroCopy: 300,
      copied: 0,
      completed: 300,
    });
    expect(bridge.aToB.dropped.total).toBe(0);
    // The miniport of VC 2 copied nothing either: every frame went out of the receive buffer.
    expect(mvc(rig, 'b').counters).toMatchObject({ txZeroCopy: 300, txCopied: 0 });
    // The send on VC 2 pointed at the bytes the indication on VC 1 pointed at: same region, same offset.
    expect(rig.sent.length).toBe(300);
    expect(rig.sent).toEqual(rig.indicated);
    expect(rig.sent.every((s) => s.buf === rig.regionA)).toBe(true);

    // The other way too.
    const backWant = frames(1000, 20);
    await paced(rig.outPort, backWant, rig.back);
    expect(rig.back).toEqual(backWant);
    await waitUntil(() => bridge.bToA.completed === 20, 'the reverse forwards to complete');
    expect(bridge.bToA).toMatchObject({ forwarded: 20, zeroCopy: 20, copied: 0 });
    expectNothingOutstanding(rig);
    await closeAndCheck(rig);
  });

  it('two devices (two regions): one copy each, into the other device’s transmit buffer; the receive is returned right after it', async () => {
    const rig = setup('two-devices');
    const { bridge } = rig;
    expect(await bridge.start()).toBe(NDIS_STATUS_SUCCESS);
    const want = frames(1, 300);
    await paced(rig.inPort, want, rig.out);
    expect(rig.out).toEqual(want);
    await waitUntil(() => bridge.aToB.completed === 300, 'the forwards to complete');
    expect(bridge.aToB).toMatchObject({ received: 300, forwarded: 300, zeroCopy: 0, copied: 300 });
    // Exactly one copy: the bridge's, straight into B's transmit pool; B's miniport copied none.
    expect(mvc(rig, 'b').counters).toMatchObject({ txZeroCopy: 300, txCopied: 0 });
    expect(rig.sent.every((s) => s.buf !== rig.regionA)).toBe(true);

    const backWant = frames(1000, 20);
    await paced(rig.outPort, backWant, rig.back);
    expect(rig.back).toEqual(backWant);
    await waitUntil(() => bridge.bToA.completed === 20, 'the reverse forwards to complete');
    expect(bridge.bToA).toMatchObject({ forwarded: 20, zeroCopy: 0, copied: 20 });
    expectNothingOutstanding(rig);
    await closeAndCheck(rig);
  });

  it('two devices in one shared region (openSharedWirePairs): no copy at all, B sends from the buffer A received', async () => {
    const rig = setup('shared-region');
    const { bridge } = rig;
    expect(await bridge.start()).toBe(NDIS_STATUS_SUCCESS);
    const want = frames(1, 300);
    await paced(rig.inPort, want, rig.out);
    expect(rig.out).toEqual(want);
    await waitUntil(() => bridge.aToB.completed === 300, 'the forwards to complete');
    expect(bridge.aToB).toMatchObject({ received: 300, forwarded: 300, zeroCopy: 300, copied: 0 });
    expect(mvc(rig, 'b').counters).toMatchObject({ txZeroCopy: 300, txCopied: 0 });
    // B's sends pointed at the very bytes A indicated: A's view of the one buffer.
    expect(rig.sent).toEqual(rig.indicated);
    expect(rig.sent.every((s) => s.buf === rig.regionA)).toBe(true);
    // No transmit slot of B's VC pair was taken.
    const b = rig.adapters[1]!.device;
    expect(b.pools[3]!.available()).toBe(b.pools[3]!.capacity);

    const backWant = frames(1000, 20);
    await paced(rig.outPort, backWant, rig.back);
    expect(rig.back).toEqual(backWant);
    await waitUntil(() => bridge.bToA.completed === 20, 'the reverse forwards to complete');
    expect(bridge.bToA).toMatchObject({ forwarded: 20, zeroCopy: 20, copied: 0 });
    expectNothingOutstanding(rig);
    await closeAndCheck(rig);
  });

  for (const shape of ['one-device', 'two-devices', 'shared-region'] as const) {
    it(`${shape}: beyond maxInFlight forwards are dropped and counted, never queued; the held ones go out once the far end takes them`, async () => {
      // The far end of VC 2 posts no receive buffers: the wire holds B's sends, so nothing completes.
      const rig = setup(shape, { maxInFlight: 8, postOut: false });
      const { bridge } = rig;
      expect(await bridge.start()).toBe(NDIS_STATUS_SUCCESS);
      await pump(rig.inPort, frames(1, 40));
      await waitUntil(
        () => bridge.aToB.received === 40,
        () => `${bridge.aToB.received}/40 received`,
      );
      expect(bridge.aToB.forwarded).toBe(8);
      expect(bridge.aToB.dropped.cap).toBe(32);
      expect(bridge.inFlight).toBe(8);
      // Zero copy holds the receives until the sends complete; a copy returned them already.
      const held = shape === 'two-devices' ? 0 : 8;
      expect(bridge.heldRx).toBe(held);
      expect(rig.ndis.vcInfo(bridge.a.vcHandle)?.rxHeld).toBe(held);

      rig.outPort.postRx();
      await waitUntil(() => rig.out.length === 8, 'the 8 forwarded frames');
      expect(rig.out.map((f) => seqOf(f, 0))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      await waitUntil(() => bridge.inFlight === 0, 'the forwards to complete');
      expectNothingOutstanding(rig);
      await closeAndCheck(rig);
    });

    for (const which of ['a', 'b'] as const) {
      it(`${shape}: deactivating VC ${which === 'a' ? '1 (receiving)' : '2 (sending)'} under traffic completes; every forward completes, every receive comes back, nothing leaks; the bridge forwards again after re-activation`, async () => {
        const rig = setup(shape, { maxInFlight: 32 });
        const { bridge } = rig;
        const cm = which === 'a' ? rig.cms[0]! : rig.cms[rig.cms.length - 1]!;
        expect(await bridge.start()).toBe(NDIS_STATUS_SUCCESS);
        let seq = 1;
        let running = true;
        const traffic = (async () => {
          while (running) {
            for (let i = 0; i < 16 && rig.inPort.send(frame(256, seq)); i++) seq++;
            rig.inPort.flush();
            await new Promise((r) => setImmediate(r));
          }
        })();
        await waitUntil(() => bridge.aToB.forwarded > 100, 'traffic through the bridge');
        const handle = bridge[which].vcHandle;
        const { done } = cm.deactivate(handle);
        expect(await done).toBe(NDIS_STATUS_SUCCESS);
        const forwardedAtEnd = bridge.aToB.forwarded;
        // Traffic keeps coming while the VC is down: none of it is forwarded.
        await waitUntil(() => rig.inPort.sent > seq - 1 - 16 && bridge.aToB.received > 0, 'more traffic');
        running = false;
        await traffic;
        await waitUntil(
          () => rig.inPort.txDone + rig.inPort.txFailed === rig.inPort.sent,
          'the far end’s sends',
        );
        await waitUntil(
          () => bridge.inFlight === 0 && bridge.heldRx === 0,
          () => `in flight ${bridge.inFlight}, held ${bridge.heldRx}`,
        );
        expect(bridge.aToB.forwarded).toBe(forwardedAtEnd);
        const c = bridge.aToB;
        expect(c.completed).toBe(c.forwarded);
        expect(c.forwarded + c.dropped.cap + c.dropped.inactive + c.dropped.noBuffer + c.dropped.tooBig).toBe(
          c.received,
        );
        expectNothingOutstanding(rig);
        // Every frame that left VC 2 is one the far end sent, in order.
        const seqs = rig.out.map((f) => seqOf(f, 0));
        expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);

        // Re-activated by the call manager, the same call forwards again.
        expect(await cm.activate(handle, condisCallParameters(which === 'a' ? 1 : 2))).toBe(
          NDIS_STATUS_SUCCESS,
        );
        const before = rig.out.length;
        await pump(rig.inPort, frames(100_000, 10));
        await waitUntil(() => rig.out.length === before + 10, 'frames after re-activation');
        await waitUntil(() => bridge.inFlight === 0, 'the forwards to complete');
        expectNothingOutstanding(rig);
        await closeAndCheck(rig);
      });
    }
  }

  it('one device: a deactivation of the receiving VC waits for the forwards that hold its receives, and completes when they do', async () => {
    const rig = setup('one-device', { postOut: false });
    const { bridge } = rig;
    expect(await bridge.start()).toBe(NDIS_STATUS_SUCCESS);
    await pump(rig.inPort, frames(1, 10));
    await waitUntil(
      () => bridge.heldRx === 10,
      () => `${bridge.heldRx}/10 held`,
    );
    let settled = false;
    const { done } = rig.cms[0]!.deactivate(bridge.a.vcHandle);
    void done.then(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false); // VC 1's receives are still out, on VC 2's transmitq
    rig.outPort.postRx();
    expect(await done).toBe(NDIS_STATUS_SUCCESS);
    await waitUntil(() => rig.out.length === 10, 'the 10 frames');
    expect(rig.out).toEqual(frames(1, 10));
    expectNothingOutstanding(rig);
    await closeAndCheck(rig);
  });
});
