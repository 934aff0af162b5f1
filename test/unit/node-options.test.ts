/**
 * `condis node`'s options (lib/node/options.ts) and its VID choice (lib/node/vid.ts): the defaults
 * the contract promises, and the refusals, without a TAP.
 */
import { describe, expect, it } from 'vitest';
import { defaultMac, resolveNodeOptions } from '../../lib/node/options';
import { FIRST_CALL_VID, LAST_CALL_VID, nextVid, vidStart } from '../../lib/node/vid';

describe('condis node options', () => {
  it('defaults: a stable locally administered MAC from the TAP name, an IP from the MAC, SAP 1, /run/condis/<tap>.sock, 16 pairs', () => {
    const o = resolveNodeOptions({ tap: 'cn0' });
    expect(o.mac).toEqual(defaultMac('cn0'));
    expect(o.macText).toMatch(/^02:cd:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
    expect(resolveNodeOptions({ tap: 'cn0' }).macText).toBe(o.macText);
    expect(resolveNodeOptions({ tap: 'cn1' }).macText).not.toBe(o.macText);
    expect(o.ipText).toBe(`10.${o.mac[3]}.${o.mac[4]}.${1 + (o.mac[5]! % 254)}/24`);
    expect(o.sap).toBe(1);
    expect(o.control).toBe('/run/condis/cn0.sock');
    expect(o.queuePairs).toBe(16);
    expect([o.keepaliveMs, o.keepaliveMisses]).toEqual([1000, 3]);
  });

  it('takes what it is given', () => {
    const o = resolveNodeOptions({
      tap: 'cn0',
      mac: '02:00:00:00:00:0a',
      sap: 7,
      ip: '192.168.5.9/24',
      control: '/tmp/x.sock',
      queuePairs: 4,
      keepaliveMs: 0,
      keepaliveMisses: 5,
    });
    expect(o).toMatchObject({
      keepaliveMs: 0,
      keepaliveMisses: 5,
      macText: '02:00:00:00:00:0a',
      sap: 7,
      ipText: '192.168.5.9/24',
      control: '/tmp/x.sock',
      queuePairs: 4,
    });
  });

  it.each([
    [{ tap: '' }, /--tap/],
    [{ tap: 'a-name-far-too-long' }, /--tap/],
    [{ tap: 'cn0', mac: '01:00:00:00:00:01' }, /--mac/],
    [{ tap: 'cn0', ip: '10.0.0.1/16' }, /--ip/],
    [{ tap: 'cn0', ip: '10.0.0.300' }, /--ip/],
    [{ tap: 'cn0', sap: 0 }, /--sap/],
    [{ tap: 'cn0', queuePairs: 1 }, /--queue-pairs/],
    [{ tap: 'cn0', keepaliveMs: -1 }, /--keepalive-ms/],
    [{ tap: 'cn0', keepaliveMisses: 0 }, /--keepalive-misses/],
  ])('refuses %j with ERR_CONDIS_INVALID_ARG', (o, msg) => {
    expect(() => resolveNodeOptions(o)).toThrow(
      expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG', message: expect.stringMatching(msg) }),
    );
  });
});

describe('VIDs of outgoing calls', () => {
  const a = Uint8Array.from([2, 0, 0, 0, 0, 1]);
  const b = Uint8Array.from([2, 0, 0, 0, 0, 2]);

  it('the search starts at a hash of the pair, in 2..4094, the same every time, different per direction', () => {
    const s = vidStart(a, b);
    expect(s).toBeGreaterThanOrEqual(FIRST_CALL_VID);
    expect(s).toBeLessThanOrEqual(LAST_CALL_VID);
    expect(vidStart(a, b)).toBe(s);
    expect(vidStart(b, a)).not.toBe(s);
  });

  it('nextVid skips taken VIDs and wraps from 4094 to 2 (never 0, 1 or 4095)', () => {
    expect(nextVid(4093, (v) => v !== 4093 && v !== 4094)).toBe(2);
    expect(nextVid(4095, () => true)).toBe(2);
    expect(nextVid(10, (v) => v > 11)).toBe(12);
    expect(nextVid(10, () => false)).toBeUndefined();
  });
});
