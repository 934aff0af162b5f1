/**
 * DriverQueue.addReceiveBuffers: the one loop that supplies receive buffers (virtio 1.2, 2.7.13),
 * behind FramePort.postRx() and the miniport's QueuePair.fillRx(). The device side of the ring
 * (test/helpers/device-ring.ts) checks what it sees once the driver publishes.
 */
import { describe, expect, it } from 'vitest';
import { BufferPool, createRegion, DriverQueue } from '../../../lib/virtio';
import { DeviceChain, DeviceRing } from '../../helpers/device-ring';

/** The receiveq of a fresh one-pair region, a pool of `slots` slots for it, and its device. */
function rig(queueSize: number, slots: number) {
  const region = createRegion({ queuePairs: 1, queueSize, bufferSize: 256, buffersPerQueue: 64 });
  return {
    region,
    drv: new DriverQueue(region, 0),
    pool: new BufferPool(region, 0, slots),
    dev: new DeviceRing(region.sab, 0, false),
  };
}

describe('DriverQueue.addReceiveBuffers', () => {
  it('stops when the descriptors run out; the rest of the pool stays free', () => {
    const { drv, pool } = rig(8, 20);
    expect(drv.addReceiveBuffers(pool)).toBe(8);
    expect(drv.freeDescriptors()).toBe(0);
    expect(drv.inFlight()).toBe(8);
    expect(pool.available()).toBe(12);
    expect(drv.addReceiveBuffers(pool)).toBe(0);
    expect(pool.available()).toBe(12);
  });

  it('stops when the pool runs out; the rest of the descriptors stay free', () => {
    const { drv, pool } = rig(8, 3);
    expect(drv.addReceiveBuffers(pool)).toBe(3);
    expect(drv.freeDescriptors()).toBe(5);
    expect(pool.available()).toBe(0);
  });

  it('publishes nothing; once published, the device sees one whole writable slot per chain, token = slot', () => {
    const { region, drv, pool, dev } = rig(8, 5);
    expect(drv.addReceiveBuffers(pool)).toBe(5);
    expect(dev.pending()).toBe(0);
    drv.publish();
    const chain = new DeviceChain();
    const seen: number[] = [];
    while (dev.pop(chain) === 'chain') {
      expect(chain.nseg).toBe(1);
      expect(chain.len[0]).toBe(region.bufferSize);
      seen.push(chain.addr[0]!);
      dev.pushUsed(chain.head, 60);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4].map((s) => pool.offsetOf(s)));
    dev.publishUsed();
    const toks = new Uint32Array(8);
    const lens = new Uint32Array(8);
    expect(drv.harvest(toks, lens, 8)).toBe(5);
    expect([...toks.subarray(0, 5)]).toEqual([0, 1, 2, 3, 4]);
    // The slots go back to the pool and are supplied again.
    pool.freeMany(toks, 5);
    expect(drv.addReceiveBuffers(pool)).toBe(5);
  });
});
