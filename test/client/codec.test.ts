// The byte-level pieces of the reference client (lib/client: ipv4.ts, arp.ts, icmp.ts) against
// the independent builders and checksum of test/client/packets.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ArpVerdict,
  checkArp,
  checkIcmp,
  checkIpv4,
  IcmpVerdict,
  Ipv4Verdict,
  internetChecksum,
  parseIpv4Address,
  writeEchoReply,
  writeIpv4ReplyHeader,
} from '../../lib/client';
import { assertProperty, PROPERTY_TIMEOUT_MS } from '../helpers/property';
import { arpRequest, CLIENT_IP, checksum, echoRequest, ip4, parseEcho } from './packets';

const me = Uint8Array.from(ip4(CLIENT_IP));

describe('lib/client codec', { timeout: PROPERTY_TIMEOUT_MS }, () => {
  it('internetChecksum equals the textbook RFC 1071 sum at any offset and length', () => {
    assertProperty(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const off = bytes.length === 0 ? 0 : a % bytes.length;
        const len = bytes.length - off === 0 ? 0 : b % (bytes.length - off + 1);
        expect(internetChecksum(bytes, off, len)).toBe(checksum(bytes.subarray(off, off + len)));
      }),
      { numRuns: 100 },
    );
  });

  it('parseIpv4Address takes dotted quads only', () => {
    expect(Array.from(parseIpv4Address('10.42.0.2'))).toEqual([10, 42, 0, 2]);
    for (const bad of ['10.42.0', '10.42.0.256', '10.42.0.2 ', 'a.b.c.d', '']) {
      expect(() => parseIpv4Address(bad)).toThrow(
        expect.objectContaining({ code: 'ERR_CONDIS_INVALID_ARG' }),
      );
    }
  });

  it('classifies ARP and IPv4/ICMP the way a host must', () => {
    expect(checkArp(arpRequest(CLIENT_IP), 14, 46, me)).toBe(ArpVerdict.Request);
    expect(checkArp(arpRequest('10.42.0.7'), 14, 46, me)).toBe(ArpVerdict.NotForUs);
    expect(checkArp(arpRequest(CLIENT_IP, { op: 2 }), 14, 46, me)).toBe(ArpVerdict.Unsupported);
    expect(checkArp(arpRequest(CLIENT_IP), 14, 27, me)).toBe(ArpVerdict.Malformed);
    const ok = echoRequest();
    expect(checkIpv4(ok, 14, ok.length - 14, me)).toBe(Ipv4Verdict.Ok);
    expect(checkIpv4(ok, 14, 83, me)).toBe(Ipv4Verdict.Malformed); // Total Length 84 > what is there
    const bad = echoRequest({ badIpChecksum: true });
    expect(checkIpv4(bad, 14, bad.length - 14, me)).toBe(Ipv4Verdict.Malformed);
    const other = echoRequest({ dst: '10.42.0.3' });
    expect(checkIpv4(other, 14, other.length - 14, me)).toBe(Ipv4Verdict.NotForUs);
    const frag = echoRequest({ fragment: true });
    expect(checkIpv4(frag, 14, frag.length - 14, me)).toBe(Ipv4Verdict.Unsupported);
    expect(checkIcmp(ok, 34, 64)).toBe(IcmpVerdict.EchoRequest);
    expect(checkIcmp(echoRequest({ badIcmpChecksum: true }), 34, 64)).toBe(IcmpVerdict.Malformed);
    expect(checkIcmp(echoRequest({ icmpType: 13 }), 34, 64)).toBe(IcmpVerdict.Unsupported);
  });

  it('an echo reply keeps id, sequence and any payload, with both checksums right', () => {
    assertProperty(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 1472 }),
        fc.integer({ min: 0, max: 255 }),
        (id, seq, payload, tos) => {
          const req = echoRequest({ id, seq, payload, tos });
          const icmpLen = 8 + payload.length;
          const out = new Uint8Array(4 + 14 + 20 + icmpLen).fill(0xee); // dirty, offset by 4
          out.set(req.subarray(0, 14), 4); // Ethernet header: not under test here
          writeIpv4ReplyHeader(out, 18, req, 14, me, 20 + icmpLen, 0x77, 64, 1);
          writeEchoReply(out, 38, req, 34, icmpLen);
          const r = parseEcho(out.subarray(4))!;
          expect(r).toMatchObject({ id, seq, payload, tos, type: 0, code: 0, ttl: 64, src: CLIENT_IP });
          expect(r.ipChecksumOk && r.icmpChecksumOk).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
