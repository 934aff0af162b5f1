// Descriptors are untrusted input: each malformed case puts only that queue in NEEDS_RESET with a
// coded error; other queues keep running; a queue reset brings it back.
import { afterEach, describe, expect, it } from 'vitest';
import { type Device, FramePort, openWirePair } from '../../lib/device';
import type { CondisError } from '../../lib/errors';
import {
  QueueState,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from '../../lib/virtio/layout';
import { frame } from '../helpers/frames';
import { availIdx, pushAvail, setAvailIdx, writeDesc } from '../helpers/raw-ring';
import { waitUntil } from '../helpers/wait';

let open: Device[] = [];
afterEach(() => {
  for (const d of open) d.destroy();
  open = [];
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

  it('random bytes over every ring never crash the device', async () => {
    const [a, b] = openWirePair({ queuePairs: 2, queueSize: 16 });
    open.push(a, b);
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const ringsEnd = a.region.poolOffset;
    for (let round = 0; round < 300; round++) {
      for (const d of [a, b]) {
        for (let i = 0; i < 256; i++) d.region.u8[4096 + (rnd() % (ringsEnd - 4096))] = rnd() & 0xff;
        for (let q = 0; q < 4; q++) d.kick(q);
      }
      if (round % 50 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await new Promise((r) => setTimeout(r, 20));
    // Still alive and answering the control path.
    expect(a.stats().pairs.length).toBe(2);
    expect(b.stats().pairs.length).toBe(2);
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
