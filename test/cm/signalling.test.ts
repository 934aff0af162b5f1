// The signalling wire format (lib/cm/signalling.ts): round trips, the byte layout, refusals.
import { describe, expect, it } from 'vitest';
import {
  BROADCAST_MAC,
  Cause,
  calleeParameters,
  decodeMessage,
  ETHERTYPE_CONDIS_SIGNALLING,
  encodeMessage,
  MessageType,
  paramsBlockOf,
  type SignallingMessage,
} from '../../lib/cm';
import { condisCallParameters, vidOf } from '../../lib/miniport';
import { CALL_PARAMETERS_CHANGED, NDIS_STATUS_NOT_SUPPORTED, ROUND_DOWN_FLOW } from '../../lib/ndis';
import { MAC_1, MAC_2 } from './harness';

const setup: SignallingMessage = {
  type: MessageType.SETUP,
  dst: BROADCAST_MAC,
  src: MAC_1,
  callRef: 0x1234,
  toOriginator: false,
  vcId: 4000,
  sap: 7,
  params: {
    flags: CALL_PARAMETERS_CHANGED,
    mediaFlags: ROUND_DOWN_FLOW,
    transmit: { tokenRate: 1_000_000, peakBandwidth: 2_000_000, maxSduSize: 1500 },
    receive: { tokenRate: 10, peakBandwidth: 20, maxSduSize: 600 },
  },
};

describe('signalling wire format', () => {
  it('SETUP: layout and round trip', () => {
    const f = encodeMessage(setup);
    expect(f.length).toBe(64); // 22 header + 42 body
    const dv = new DataView(f.buffer);
    expect(dv.getUint16(12)).toBe(ETHERTYPE_CONDIS_SIGNALLING);
    expect([f[14], f[15], f[16]]).toEqual([0xc7, 1, 0x05]);
    expect(dv.getUint16(18)).toBe(0x1234);
    expect(dv.getUint16(20)).toBe(42);
    expect(dv.getUint16(22)).toBe(4000);
    expect(decodeMessage(f, 0, f.length)).toEqual(setup);
  });

  it('RELEASE COMPLETE towards the originator: flag bit, cause, status; padded to 60 bytes', () => {
    const m: SignallingMessage = {
      type: MessageType.RELEASE_COMPLETE,
      dst: MAC_1,
      src: MAC_2,
      callRef: 5,
      toOriginator: true,
      cause: Cause.CALL_REJECTED,
      status: NDIS_STATUS_NOT_SUPPORTED,
    };
    const f = encodeMessage(m);
    expect(f.length).toBe(60);
    expect(new DataView(f.buffer).getUint16(18)).toBe(0x8005);
    // Decoding inside a larger buffer (as from ring memory) at an offset.
    const big = new Uint8Array(200);
    big.set(f, 33);
    expect(decodeMessage(big, 33, 60)).toEqual(m);
  });

  it('refuses what is not a message of this protocol', () => {
    const f = encodeMessage(setup);
    expect(decodeMessage(f, 0, 21)).toBeUndefined(); // short
    const g = f.slice();
    g[12] = 0x08; // another ethertype
    expect(decodeMessage(g, 0, g.length)).toBeUndefined();
    const h = f.slice();
    h[16] = 0x99; // unknown type
    expect(decodeMessage(h, 0, h.length)).toBeUndefined();
    expect(decodeMessage(f, 0, 40)).toBeUndefined(); // body cut
    const z = f.slice();
    z[18] = 0;
    z[19] = 0; // call reference 0
    expect(decodeMessage(z, 0, z.length)).toBeUndefined();
  });

  it("the callee's parameters: a fresh set on the VC id, transmit and receive swapped", () => {
    const caller = condisCallParameters(42, { maxSduSize: 1000 });
    caller.callMgrParameters!.receive.maxSduSize = 700;
    const callee = calleeParameters(42, paramsBlockOf(caller));
    expect(callee).not.toBe(caller);
    expect(vidOf(callee)).toBe(42);
    expect(callee.callMgrParameters!.transmit.maxSduSize).toBe(700);
    expect(callee.callMgrParameters!.receive.maxSduSize).toBe(1000);
    expect(callee.mediaParameters!.flags).toBe(caller.mediaParameters!.flags);
  });

  it('STATUS ENQUIRY (0x75, empty) and STATUS (0x7D: cause 30, call state): layout and round trip', () => {
    const enq: SignallingMessage = {
      type: MessageType.STATUS_ENQUIRY,
      dst: MAC_2,
      src: MAC_1,
      callRef: 9,
      toOriginator: false,
    };
    const f = encodeMessage(enq);
    expect([f.length, f[16], new DataView(f.buffer).getUint16(20)]).toEqual([60, 0x75, 0]);
    expect(decodeMessage(f, 0, f.length)).toEqual(enq);
    const st: SignallingMessage = {
      type: MessageType.STATUS,
      dst: MAC_1,
      src: MAC_2,
      callRef: 9,
      toOriginator: true,
      cause: Cause.RESPONSE_TO_STATUS_ENQUIRY,
      callState: 10,
    };
    const g = encodeMessage(st);
    expect([g[16], new DataView(g.buffer).getUint16(20), g[22], g[23]]).toEqual([0x7d, 2, 30, 10]);
    expect(decodeMessage(g, 0, g.length)).toEqual(st);
    // A STATUS without its body is malformed.
    new DataView(g.buffer).setUint16(20, 1);
    expect(decodeMessage(g, 0, g.length)).toBeUndefined();
  });
});
