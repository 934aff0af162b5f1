// The used ring is untrusted on the driver side too, against a real device (wire backend): each
// impossible used-ring state written from JS makes FramePort.poll return at once (it used to spin
// forever with the event loop blocked), the Device emits 'ringError' with the driver's code, only
// that queue stops, and a queue reset brings it back.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import type { CondisError } from '../../lib/errors';
import { QueueState, TxStatus, UsedRingError } from '../../lib/virtio';
import { RawRing } from '../helpers/device-ring';
import { frame } from '../helpers/frames';
import { guardSpin } from '../helpers/spin-guard';
import { waitUntil } from '../helpers/wait';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
});

const Q = 16;
const VID = 7;

/**
 * A wire pair with pair 1 on VID 7 at both ends, a FramePort on each with receive buffers posted.
 * a's port is polled by hand and from a's interrupts (an error thrown there is collected).
 */
function setup() {
  const [a, b] = openWirePair({ queuePairs: 2, queueSize: Q });
  open.push(a, b);
  a.bindPair(1, VID);
  b.bindPair(1, VID);
  const port = new FramePort(a, 1);
  const peer = new FramePort(b, 1);
  const errors: CondisError[] = [];
  const thrown: unknown[] = [];
  a.on('ringError', (e) => errors.push(e));
  const guard = guardSpin([port.rxq, port.txq]);
  a.onInterrupt = () => {
    try {
      port.poll();
    } catch (e) {
      thrown.push(e);
    }
  };
  b.onInterrupt = () => peer.poll();
  port.postRx();
  peer.postRx();
  return { a, b, port, peer, errors, thrown, guard, txInFlight: new Set<number>() };
}

type Rig = ReturnType<typeof setup>;

interface Case {
  name: string;
  code: string;
  queue: 'rx' | 'tx';
  /**
   * Writes the hostile state into a's ring for that queue (`u` = the next used index); returns
   * the value the error must name.
   */
  hostile: (raw: RawRing, u: number, r: Rig) => number;
}

/** A head the device returned earlier (among the last Q used entries) that is not in flight now. */
function returnedHead(raw: RawRing, u: number, inFlight: Set<number>): number {
  for (let k = 1; k <= Q; k++) {
    const id = raw.usedId(u - k);
    if (!inFlight.has(id)) return id;
  }
  throw new Error('no returned head found');
}

const cases: Case[] = [
  {
    name: 'receive used.idx past what was published',
    code: UsedRingError.IdxTooFar,
    queue: 'rx',
    hostile: (raw, u) => {
      raw.setUsedIdx((u + Q + 1) & 0xffff);
      return (u + Q + 1) & 0xffff;
    },
  },
  {
    name: 'receive id beyond the table',
    code: UsedRingError.IdUnknown,
    queue: 'rx',
    hostile: (raw, u) => {
      raw.used(u, Q + 3, 60);
      raw.setUsedIdx((u + 1) & 0xffff);
      return Q + 3;
    },
  },
  {
    name: 'receive id twice in one batch (harvestAndRepost)',
    code: UsedRingError.IdRepeated,
    queue: 'rx',
    hostile: (raw, u) => {
      // A buffer the device really filled before, harvested and posted again: the first entry is
      // indistinguishable from a real frame, the second cannot be.
      const id = raw.usedId(u - 1);
      raw.used(u, id, 60);
      raw.used(u + 1, id, 60);
      raw.setUsedIdx((u + 2) & 0xffff);
      return id;
    },
  },
  {
    name: 'receive len past the buffer',
    code: UsedRingError.LenTooLong,
    queue: 'rx',
    hostile: (raw, u, r) => {
      raw.used(u, raw.usedId(u - 1), r.port.rxPool.slotSize + 1);
      raw.setUsedIdx((u + 1) & 0xffff);
      return r.port.rxPool.slotSize + 1;
    },
  },
  {
    name: 'transmit used.idx past what was published',
    code: UsedRingError.IdxTooFar,
    queue: 'tx',
    hostile: (raw, u) => {
      raw.setUsedIdx((u + 4) & 0xffff); // 3 in flight
      return (u + 4) & 0xffff;
    },
  },
  {
    name: 'transmit id beyond the table',
    code: UsedRingError.IdUnknown,
    queue: 'tx',
    hostile: (raw, u) => {
      raw.used(u, 0xffffffff, TxStatus.Sent);
      raw.setUsedIdx((u + 1) & 0xffff);
      return 0xffffffff;
    },
  },
  {
    name: 'transmit id sent and harvested before (harvest)',
    code: UsedRingError.IdRepeated,
    queue: 'tx',
    hostile: (raw, u, r) => {
      const id = returnedHead(raw, u, r.txInFlight);
      raw.used(u, id, TxStatus.Sent);
      raw.setUsedIdx((u + 1) & 0xffff);
      return id;
    },
  },
];

describe('a real device whose used ring lies: the driver stops the queue with a code', () => {
  it.each(cases)('$name -> $code', async (c) => {
    const r = setup();
    const { a, b, port, peer, errors, thrown, guard } = r;
    // Real traffic both ways first, so the rings are mid-life (indices and ids not at their start).
    for (let i = 0; i < 5; i++) peer.send(frame(64, i));
    peer.flush();
    for (let i = 0; i < 5; i++) port.send(frame(64, 100 + i));
    port.flush();
    await waitUntil(() => port.received === 5 && port.txDone === 5 && peer.received === 5, 'traffic');
    if (c.queue === 'tx') {
      // The peer stops harvesting: its Q posted buffers fill, then a's next sends wait on a's ring
      // (wire flow control) and a's device leaves the transmit used ring alone.
      b.onInterrupt = null;
      for (let i = 0; i < Q; i++) port.send(frame(64, 200 + i));
      port.flush();
      await waitUntil(() => port.txDone === 5 + Q, 'the peer full');
      for (let i = 0; i < 3; i++) port.send(frame(64, 300 + i));
      port.flush();
      await new Promise((res) => setTimeout(res, 5));
      expect(port.txq.inFlight()).toBe(3);
      const txRaw = new RawRing(a.region.sab, port.txq.index);
      for (let k = 1; k <= 3; k++) r.txInFlight.add(txRaw.availEntry(port.txq.availIdx - k));
    }
    const dq = c.queue === 'rx' ? port.rxq : port.txq;
    const raw = new RawRing(a.region.sab, dq.index);
    const u = dq.lastUsedIdx;
    expect(raw.usedIdx()).toBe(u);
    const detail = c.hostile(raw, u, r);
    const received = port.received;
    const txDone = port.txDone;

    const t0 = performance.now();
    port.poll();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(guard.calls).toBeLessThan(100);
    expect(dq.broken?.code).toBe(c.code);
    // The event comes on a microtask, after the loop that found the fault has ended.
    expect(errors).toHaveLength(0);
    await Promise.resolve();
    expect(errors.map((e) => e.code)).toEqual([c.code]);
    expect(errors[0]!.details).toMatchObject({ queue: dq.index, detail });
    expect(errors[0]!.details.usedIdx).toBeTypeOf('number');
    // Polled again, by hand and from interrupts: nothing more, no spin, no second event.
    port.poll();
    a.kick(dq.index);
    await new Promise((res) => setTimeout(res, 5));
    expect(thrown).toEqual([]);
    expect(errors).toHaveLength(1);
    // The device failed nothing itself: only the driver stopped the queue.
    expect(dq.status().state).toBe(QueueState.Ready);

    // A queue reset brings the driver's queue back; traffic flows on it again.
    const back = new Uint32Array(Q);
    const n = a.resetQueue(dq.index, back);
    expect(dq.broken).toBeNull();
    if (c.queue === 'rx') {
      expect(n).toBe(Q);
      port.rxPool.freeMany(back, n);
      port.postRx();
      for (let i = 0; i < 4; i++) peer.send(frame(64, 400 + i));
      peer.flush();
      await waitUntil(() => port.received >= received + 4, 'frames after the receive queue reset');
    } else {
      expect(n).toBe(3);
      port.txPool.freeMany(back, n);
      b.onInterrupt = () => peer.poll();
      peer.poll();
      for (let i = 0; i < 4; i++) port.send(frame(64, 400 + i));
      port.flush();
      await waitUntil(() => port.txDone === txDone + 4, 'sends after the transmit queue reset');
    }
    expect(thrown).toEqual([]);
    guard.restore();
  });
});
