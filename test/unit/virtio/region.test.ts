import { describe, expect, it } from 'vitest';
import { CondisError } from '../../../lib/errors';
import {
  attachRegion,
  createRegion,
  kAbiVersion,
  kFeatureEventIdx,
  kHeaderBytes,
  kRegionMagic,
  poolOffsetFor,
  QueueState,
  queueLayout,
  RegionHeaderOff,
  readQueueStatus,
  validateRegionHeader,
} from '../../../lib/virtio';
import { DeviceRing } from '../../helpers/device-ring';

const u32At = (u8: Uint8Array, off: number) => new DataView(u8.buffer).getUint32(off, true);

describe('createRegion', () => {
  it('writes the RegionHeader', () => {
    const r = createRegion({ queuePairs: 3, queueSize: 256, bufferSize: 2048, buffersPerQueue: 10 });
    const h = (k: keyof typeof RegionHeaderOff) => u32At(r.u8, RegionHeaderOff[k]);
    expect(h('magic')).toBe(kRegionMagic);
    expect(h('abiVersion')).toBe(kAbiVersion);
    expect(h('numQueues')).toBe(6);
    expect(h('queueSize')).toBe(256);
    expect(h('queuesOffset')).toBe(kHeaderBytes);
    expect(h('queueStride')).toBe(6784);
    expect(h('poolOffset')).toBe(poolOffsetFor(6, 256));
    expect(h('poolOffset') % 4096).toBe(0);
    expect(h('poolOffset')).toBeGreaterThanOrEqual(4096 + 6 * 6784);
    expect(h('poolSize')).toBe(6 * 10 * 2048);
    expect(h('features')).toBe(kFeatureEventIdx);
    expect(h('features') >>> 29).toBe(1);
    expect(h('irqPending')).toBe(0);
    expect(h('configGeneration')).toBe(0);
    expect(r.sab.byteLength).toBe(h('poolOffset') + h('poolSize'));
    expect(validateRegionHeader(r.u8)).toBeNull();
  });

  it('exposes the geometry', () => {
    const r = createRegion({ queuePairs: 1, queueSize: 64, bufferSize: 128, vnetHdr: true });
    expect(r).toMatchObject({
      queuePairs: 1,
      numQueues: 2,
      queueSize: 64,
      queuesOffset: 4096,
      queueStride: queueLayout(64).stride,
      bufferSize: 128,
      buffersPerQueue: 64,
      bufferCount: 128,
      poolSize: 128 * 128,
      vnetHdr: true,
      payloadOffset: 12,
      eventIdx: true,
    });
    expect(r.u8.buffer).toBe(r.sab);
    expect(r.dv.byteLength).toBe(r.sab.byteLength);
  });

  it.each([
    [{ queuePairs: 0, queueSize: 8, bufferSize: 64 }, 'range', /queuePairs/],
    [{ queuePairs: 65, queueSize: 8, bufferSize: 64 }, 'range', /queuePairs/],
    [{ queuePairs: 1.5, queueSize: 8, bufferSize: 64 }, 'type', /queuePairs must be an integer/],
    [{ queuePairs: '1', queueSize: 8, bufferSize: 64 }, 'type', /queuePairs/],
    [{ queuePairs: 1, queueSize: 1, bufferSize: 64 }, 'range', /queueSize/],
    [{ queuePairs: 1, queueSize: 65536, bufferSize: 64 }, 'range', /queueSize/],
    [{ queuePairs: 1, queueSize: 48, bufferSize: 64 }, 'range', /power of two/],
    [{ queuePairs: 1, queueSize: 8, bufferSize: 32 }, 'range', /bufferSize/],
    [{ queuePairs: 1, queueSize: 8, bufferSize: 100 }, 'range', /multiple of 64/],
    [{ queuePairs: 1, queueSize: 8, bufferSize: 64, buffersPerQueue: 0 }, 'range', /buffersPerQueue/],
    [{ queuePairs: 1, queueSize: 8, bufferSize: 64, vnetHdr: 1 }, 'type', /vnetHdr/],
    [{ queuePairs: 64, queueSize: 8, bufferSize: 1 << 20, buffersPerQueue: 4096 }, 'range', /too large/],
  ])('rejects %o', (opts, kind, msg) => {
    let err: unknown;
    try {
      createRegion(opts as never);
    } catch (e) {
      err = e;
    }
    // A CondisError since issue 11 (was a TypeError/RangeError): details.kind keeps which.
    expect(err).toBeInstanceOf(CondisError);
    expect((err as { code?: string }).code).toBe('ERR_CONDIS_INVALID_ARG');
    expect((err as CondisError).details.kind).toBe(kind);
    expect((err as Error).message).toMatch(msg);
  });

  it('rejects a non-object', () => {
    expect(() => createRegion(null as never)).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG', details: { kind: 'type' } }),
    );
  });
});

describe('validateRegionHeader / attachRegion', () => {
  const corrupt = (field: keyof typeof RegionHeaderOff, v: number) => {
    const r = createRegion({ queuePairs: 2, queueSize: 16, bufferSize: 64 });
    r.dv.setUint32(RegionHeaderOff[field], v, true);
    return r;
  };

  it.each([
    ['magic', 0, /magic/],
    ['abiVersion', kAbiVersion + 1, /abi_version/],
    ['numQueues', 3, /num_queues/],
    ['numQueues', 0, /num_queues/],
    ['numQueues', 130, /num_queues/],
    ['queueSize', 24, /queue_size/],
    ['queuesOffset', 0, /queues_offset/],
    ['queueStride', 64, /queue_stride/],
    ['poolOffset', 4096, /pool_offset/],
    ['poolOffset', poolOffsetFor(4, 16) + 64, /pool_offset/],
    ['poolSize', 0, /pool/],
    ['poolSize', 1 << 30, /pool/],
  ] as const)('rejects %s = %d', (field, v, msg) => {
    const r = corrupt(field, v);
    expect(validateRegionHeader(r.u8)).toMatch(msg);
    expect(() => attachRegion(r.sab, { bufferSize: 64 })).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
    );
  });

  it('rejects a buffer smaller than the header', () => {
    expect(validateRegionHeader(new Uint8Array(100))).toMatch(/4096/);
  });

  it('attaches to an existing region with the same geometry', () => {
    const r = createRegion({ queuePairs: 2, queueSize: 32, bufferSize: 256, buffersPerQueue: 8 });
    const a = attachRegion(r.sab, { bufferSize: 256 });
    expect(a.sab).toBe(r.sab);
    for (const k of [
      'numQueues',
      'queueSize',
      'queueStride',
      'poolOffset',
      'poolSize',
      'bufferCount',
    ] as const) {
      expect(a[k]).toBe(r[k]);
    }
  });

  it('reads QueueStatus as the device writes it', () => {
    const r = createRegion({ queuePairs: 1, queueSize: 8, bufferSize: 64 });
    expect(readQueueStatus(r, 1)).toEqual({ state: QueueState.Disabled, error: 0, detail: 0, vid: 0 });
    const dev = new DeviceRing(r.sab, 1, true);
    dev.setVid(42);
    expect(readQueueStatus(r, 1)).toEqual({ state: QueueState.Ready, error: 0, detail: 0, vid: 42 });
    dev.fail(3, 7);
    expect(readQueueStatus(r, 1)).toEqual({ state: QueueState.NeedsReset, error: 3, detail: 7, vid: 42 });
    expect(readQueueStatus(r, 0).state).toBe(QueueState.Disabled);
  });
});
