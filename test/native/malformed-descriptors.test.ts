// Descriptors are untrusted input: each malformed case puts only that queue in NEEDS_RESET with a
// coded error; other queues keep running; a queue reset brings it back.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import type { CondisError } from '../../lib/errors';
import {
  QueueState,
  queueBaseOffset,
  queueLayout,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from '../../lib/virtio/layout';
import { frame } from '../helpers/frames';
import { assertAsyncProperty, PROPERTY_TIMEOUT_MS } from '../helpers/property';
import { availIdx, pushAvail, setAvailIdx, writeDesc } from '../helpers/raw-ring';
import { guardSpin, type SpinGuard } from '../helpers/spin-guard';
import { waitUntil } from '../helpers/wait';

let open: Device[] = [];
const guards: SpinGuard[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
  for (const g of guards.splice(0)) g.restore();
});

type Case = {
  name: string;
  code: string;
  /** Which side's ring is corrupted: 'tx' = a's transmitq 0, 'rx' = b's receiveq 0. */
  ring: 'tx' | 'rx';
  corrupt: (d: Device, q: number) => void;
};

const Q = 64;
const cases: Case[] = [
  {
    name: 'descriptor before the pool (points at the ring header)',
    code: 'ERR_CONDIS_RING_DESC_OUT_OF_POOL',
    ring: 'tx',
    corrupt: (d, q) => {
      writeDesc(d.region, q, 0, 0, 64, 0, 0);
      pushAvail(d.region, q, 0);
    },
  },
  {
    name: 'descriptor running past the end of the pool',
    code: 'ERR_CONDIS_RING_DESC_OUT_OF_POOL',
    ring: 'tx',
    corrupt: (d, q) => {
      writeDesc(d.region, q, 0, d.region.poolOffset + d.region.poolSize - 10, 64, 0, 0);
      pushAvail(d.region, q, 0);
    },
  },
  {
    name: 'descriptor far beyond the region (2^40)',
    code: 'ERR_CONDIS_RING_DESC_OUT_OF_POOL',
    ring: 'tx',
    corrupt: (d, q) => {
      writeDesc(d.region, q, 0, 2 ** 40, 64, 0, 0);
      pushAvail(d.region, q, 0);
    },
  },
  {
    name: 'a chain that loops',
    code: 'ERR_CONDIS_RING_CHAIN_LOOP',
    ring: 'tx',
    corrupt: (d, q) => {
      const a = d.region.poolOffset;
      writeDesc(d.region, q, 0, a, 32, VIRTQ_DESC_F_NEXT, 1);
      writeDesc(d.region, q, 1, a + 64, 32, VIRTQ_DESC_F_NEXT, 0);
      pushAvail(d.region, q, 0);
    },
  },
  {
    name: 'next beyond the table',
    code: 'ERR_CONDIS_RING_NEXT_OUT_OF_RANGE',
    ring: 'tx',
    corrupt: (d, q) => {
      writeDesc(d.region, q, 0, d.region.poolOffset, 32, VIRTQ_DESC_F_NEXT, Q + 5);
      pushAvail(d.region, q, 0);
    },
  },
  {
    name: 'avail ring names a head beyond the table',
    code: 'ERR_CONDIS_RING_HEAD_OUT_OF_RANGE',
    ring: 'tx',
    corrupt: (d, q) => pushAvail(d.region, q, Q + 1),
  },
  {
    name: 'avail index more than the queue size ahead',
    code: 'ERR_CONDIS_RING_AVAIL_IDX_TOO_FAR',
    ring: 'tx',
    corrupt: (d, q) => setAvailIdx(d.region, q, (availIdx(d.region, q) + Q + 1) & 0xffff),
  },
  {
    name: 'device-writable descriptor in a transmit chain',
    code: 'ERR_CONDIS_RING_WRITE_ONLY_IN_TX',
    ring: 'tx',
    corrupt: (d, q) => {
      writeDesc(d.region, q, 0, d.region.poolOffset, 64, VIRTQ_DESC_F_WRITE, 0);
      pushAvail(d.region, q, 0);
    },
  },
  {
    name: 'indirect descriptor (not negotiated)',
    code: 'ERR_CONDIS_RING_INDIRECT_UNSUPPORTED',
    ring: 'tx',
    corrupt: (d, q) => {
      writeDesc(d.region, q, 0, d.region.poolOffset, 64, VIRTQ_DESC_F_INDIRECT, 0);
      pushAvail(d.region, q, 0);
    },
  },
  {
    name: 'zero-length descriptor',
    code: 'ERR_CONDIS_RING_ZERO_LENGTH',
    ring: 'tx',
    corrupt: (d, q) => {
      writeDesc(d.region, q, 0, d.region.poolOffset, 0, 0, 0);
      pushAvail(d.region, q, 0);
    },
  },
  {
    name: 'device-readable descriptor in a receive chain',
    code: 'ERR_CONDIS_RING_READ_ONLY_IN_RX',
    ring: 'rx',
    corrupt: (d, q) => {
      writeDesc(d.region, q, 0, d.region.poolOffset, 2048, 0, 0);
      pushAvail(d.region, q, 0);
    },
  },
];

describe('malformed descriptors written into the ring on purpose', () => {
  it.each(cases)('$name -> $code', async (c) => {
    const [a, b] = openWirePair({ queuePairs: 2, queueSize: Q });
    open.push(a, b);
    a.bindPair(1, 7);
    b.bindPair(1, 7);
    const errors: CondisError[] = [];
    a.on('ringError', (e) => errors.push(e));
    b.on('ringError', (e) => errors.push(e));
    const a0 = new FramePort(a, 0);
    const a1 = new FramePort(a, 1);
    const b1 = new FramePort(b, 1);
    a.onInterrupt = () => {
      a0.poll();
      a1.poll();
    };
    b.onInterrupt = () => b1.poll();
    b1.postRx();

    const victim = c.ring === 'tx' ? a : b;
    const q = c.ring === 'tx' ? 1 : 0; // a's transmitq 0, or b's receiveq 0
    c.corrupt(victim, q);
    victim.kick(q);
    if (c.ring === 'rx') {
      // The device only looks at a receive ring when a frame arrives for it.
      a0.send(frame(64, 1));
      a0.flush();
    }
    await waitUntil(() => errors.length > 0, `ringError ${c.code}`);
    expect(errors[0]!.code).toBe(c.code);
    expect(errors[0]!.details.queue).toBe(q);
    const qs = q % 2 === 0 ? victim.rx[0]!.status() : victim.tx[0]!.status();
    expect(qs.state).toBe(QueueState.NeedsReset);
    expect(victim.stats().ringErrors).toBeGreaterThan(0);

    // The other pair is untouched: traffic on VID 7 still flows a -> b.
    for (let i = 0; i < 20; i++) a1.send(frame(64, i));
    a1.flush();
    await waitUntil(() => b1.received === 20, 'pair 1 traffic after the fault');

    // A queue reset returns the queue to service.
    victim.resetQueue(q, new Uint32Array(Q));
    expect((q % 2 === 0 ? victim.rx[0]! : victim.tx[0]!).status().state).toBe(QueueState.Ready);
    expect(errors.length).toBe(1);
  });

  it('random bytes over every ring never crash the device; the driver side stops, never spins', {
    timeout: PROPERTY_TIMEOUT_MS,
  }, async () => {
    // Both devices run and move frames on both pairs while random bytes land anywhere in every
    // ring part (descriptor table, avail ring, used ring) of every queue: the device and the
    // driver side each stop the queue they find impossible, the test resets it and goes on.
    const RQ = 16;
    const [a, b] = openWirePair({ queuePairs: 2, queueSize: RQ });
    open.push(a, b);
    a.bindPair(1, 7);
    b.bindPair(1, 7);
    const devs = [a, b] as const;
    const ports = devs.map((d) => [new FramePort(d, 0), new FramePort(d, 1)]);
    const thrown: unknown[] = [];
    const ringErrors = new Set<string>();
    devs.forEach((d, i) => {
      const guard = guardSpin([...d.rx, ...d.tx]);
      guards.push(guard);
      d.on('ringError', (e) => ringErrors.add(e.code));
      d.onInterrupt = () => {
        for (const p of ports[i]!) {
          try {
            p.poll();
          } catch (e) {
            thrown.push(e);
          }
        }
      };
      for (const p of ports[i]!) {
        // Whatever the rings say, a receive is read inside one buffer of the port's receive pool.
        const first = p.rxPool.offsetOf(p.rxPool.firstSlot);
        const size = p.rxPool.slotSize;
        p.onFrame = (_bytes, off, len) => {
          const k = Math.floor((off - first) / size);
          if (!(k >= 0 && k < p.rxPool.capacity && off + len <= first + (k + 1) * size)) {
            thrown.push(new Error(`a receive read [${off}, ${off + len}) outside its buffer`));
          }
        };
        p.postRx();
      }
    });
    // Every byte of every ring part of every queue of both devices, as one flat index.
    const l = queueLayout(RQ);
    const parts = [
      [l.descOff, 16 * RQ],
      [l.availOff, 6 + 2 * RQ],
      [l.usedOff, 6 + 8 * RQ],
    ] as const;
    const spots: Array<[dev: number, at: number]> = [];
    for (let dv = 0; dv < 2; dv++) {
      for (let q = 0; q < 4; q++) {
        const base = queueBaseOffset(q, RQ);
        for (const [off, len] of parts) for (let i = 0; i < len; i++) spots.push([dv, base + off + i]);
      }
    }
    const hit = new Uint8Array(spots.length);
    const scratch = new Uint32Array(RQ);
    /** Resets every queue the device failed or the driver stopped (every queue if `all`). */
    const heal = (all = false) => {
      devs.forEach((d, i) => {
        for (let q = 0; q < 4; q++) {
          const dq = q % 2 === 0 ? d.rx[q >>> 1]! : d.tx[q >>> 1]!;
          if (!all && dq.broken === null && dq.state() === QueueState.Ready) continue;
          const port = ports[i]![q >>> 1]!;
          const n = d.resetQueue(q, scratch);
          (q % 2 === 0 ? port.rxPool : port.txPool).freeMany(scratch, n);
          if (q % 2 === 0) port.postRx();
        }
      });
    };
    // Bursts of up to 32 bytes: measured over 6 fresh seeds, 106-166 of the 400 runs of one seed
    // wrote every spot (with up to 16, 208-265: too close to 400 for a fresh seed every run).
    const RUNS = 400;
    let runs = 0; // over every seed of the plan
    const burst = fc.record({
      at: fc.nat(), // reduced to a spot with integer arithmetic
      bytes: fc.uint8Array({ minLength: 1, maxLength: 32, size: 'max' }),
    });
    await assertAsyncProperty(
      fc.asyncProperty(fc.array(burst, { minLength: 1, maxLength: 24, size: 'max' }), async (bursts) => {
        runs++;
        for (const { at, bytes } of bursts) {
          const first = (Math.imul(at, 0x9e3779b1) >>> 0) % spots.length;
          for (let k = 0; k < bytes.length; k++) {
            const s = (first + k) % spots.length;
            hit[s] = 1;
            devs[spots[s]![0]]!.region.u8[spots[s]![1]] = bytes[k]!;
          }
        }
        for (const d of devs) for (let q = 0; q < 4; q++) d.kick(q);
        for (const row of ports) {
          for (const p of row) {
            for (let i = 0; i < 4 && p.txRoom() > 0; i++) p.send(frame(64, i));
            p.flush();
          }
        }
        await new Promise((r) => setTimeout(r, 0));
        heal();
        if (thrown.length > 0) throw thrown[0];
      }),
      { numRuns: RUNS },
    );
    // Every offset of every descriptor table, avail ring and used ring was written, and more than
    // one kind of ring error seen: checks of the generator, so not when one counterexample is
    // replayed or the run was shortened.
    if (!process.env.CONDIS_PROPERTY_PATH && runs >= RUNS) {
      const missed = spots.filter((_, i) => hit[i] === 0);
      expect(missed.length, `ring bytes never written (of ${spots.length})`).toBe(0);
      expect(ringErrors.size).toBeGreaterThan(1);
    }
    // Both devices alive: every queue reset, then frames flow on pair 1 both ways, exactly.
    await new Promise((r) => setTimeout(r, 5));
    heal(true);
    const [a1, b1] = [ports[0]![1]!, ports[1]![1]!];
    const [ra, rb] = [a1.received, b1.received];
    for (let i = 0; i < 10; i++) a1.send(frame(64, i));
    for (let i = 0; i < 10; i++) b1.send(frame(64, i));
    a1.flush();
    b1.flush();
    await waitUntil(() => a1.received === ra + 10 && b1.received === rb + 10, 'traffic after the storm');
    expect(thrown).toEqual([]);
    expect(a.stats().pairs.length).toBe(2);
  });
});

describe('a loop is named a loop at any queue size', () => {
  it('two descriptors pointing at each other in a 1024-entry queue -> ERR_CONDIS_RING_CHAIN_LOOP', async () => {
    const [a, b] = openWirePair({ queuePairs: 1, queueSize: 1024 });
    open.push(a, b);
    const errors: CondisError[] = [];
    a.on('ringError', (e) => errors.push(e));
    const p = a.region.poolOffset;
    writeDesc(a.region, 1, 5, p, 32, VIRTQ_DESC_F_NEXT, 6);
    writeDesc(a.region, 1, 6, p + 64, 32, VIRTQ_DESC_F_NEXT, 5);
    pushAvail(a.region, 1, 5);
    a.kick(1);
    await waitUntil(() => errors.length > 0, 'ringError');
    expect(errors[0]!.code).toBe('ERR_CONDIS_RING_CHAIN_LOOP');
    expect(errors[0]!.details.detail).toBe(5);
  });
});
