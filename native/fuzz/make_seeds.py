#!/usr/bin/env python3
"""Writes the hand-made seeds of the native fuzz targets into native/fuzz/corpus/<target>/.

Each seed is one case a reader can name, written in the input format its harness's header
comment documents (native/fuzz/device_queue.cc, native/fuzz/rx_parser.cc): a starting point
from which the fuzzer reaches the deep states quickly (long chains, the 16 MiB limit, tags,
split vnet headers). The fuzzer's own finds are merged next to them by `scripts/fuzz.sh --merge`.

    python3 native/fuzz/make_seeds.py        # rewrites the seed-* files, leaves the rest alone
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

NEXT, WRITE, INDIRECT = 1, 2, 4
# device_queue op codes
POP, PUSH, PUBLISH, KICK, RESET, UNPOP, AVAIL_ADD, AVAIL_SET, DESC_SET, PENDING, FLAGS = range(11)


def u8(v):
    return struct.pack('<B', v & 0xff)


def u16(v):
    return struct.pack('<H', v & 0xffff)


def u32(v):
    return struct.pack('<I', v & 0xffffffff)


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(data)


# ---- device_queue -------------------------------------------------------------------------------
# geometry: q = 2 << (b & 7); 0x08 transmit; 0x10 event index; 0x20 near mode (addr raw 16 = the
# pool's first byte; len and next taken modulo pool size + 17 and q + 1).
def q_log(q):
    return {2: 0, 4: 1, 8: 2, 16: 3, 32: 4, 64: 5, 128: 6, 256: 7}[q]


def dq(q, tx=False, event_idx=True, near=True, pool=0x0f, descs=(), avail_flags=0, avail_idx=0,
       used_event=0, ring=(), ops=b''):
    geo = q_log(q) | (0x08 if tx else 0) | (0x10 if event_idx else 0) | (0x20 if near else 0)
    b = u8(geo) + u8(pool) + u8(len(descs))
    for addr, ln, flags, nxt in descs:
        b += struct.pack('<QIHH', addr, ln, flags, nxt)
    b += u16(avail_flags) + u16(avail_idx) + u16(used_event) + u8(len(ring))
    for h in ring:
        b += u16(h)
    return b + ops


def op(code, *args):
    return bytes([code]) + b''.join(args)


def device_queue_seeds():
    w = WRITE
    write('device_queue', 'rx-one-buffer', dq(
        8, descs=[(16, 64, w, 0)], avail_idx=1, ring=[0],
        ops=op(POP) + op(PUSH, u8(0), u32(40)) + op(PUBLISH) + op(KICK) + op(PENDING)))
    write('device_queue', 'tx-three-segments-unpop', dq(
        16, tx=True, descs=[(16, 10, NEXT, 1), (26, 20, NEXT, 2), (50, 30, 0, 0)], avail_idx=2, ring=[0, 0],
        ops=op(POP) + op(UNPOP) + op(POP) + op(PUSH, u8(0), u32(0)) + op(PUBLISH) + op(POP) +
        op(PUSH, u8(0), u32(1)) + op(PUBLISH) + op(KICK) + op(RESET, u8(1)) + op(PENDING)))
    write('device_queue', 'tx-65-segments', dq(
        128, tx=True, descs=[(16, 1, NEXT if i < 64 else 0, i + 1) for i in range(65)], avail_idx=1, ring=[0],
        ops=op(POP)))
    mib = 1 << 20  # pool 0xff: (0x7f + 1) * 16 * 512 = 1 MiB
    chain_a = [(16, mib, NEXT if i < 15 else 0, i + 1) for i in range(16)]          # exactly 16 MiB
    chain_b = [(16, mib, NEXT if i < 32 else 0, i + 1) for i in range(16, 33)]      # 17 MiB
    write('device_queue', 'tx-16-mib-then-17', dq(
        64, tx=True, pool=0xff, descs=chain_a + chain_b, avail_idx=2, ring=[0, 16],
        ops=op(POP) + op(PUSH, u8(0), u32(0)) + op(PUBLISH) + op(POP)))
    write('device_queue', 'avail-idx-too-far', dq(8, descs=[(16, 8, w, 0)], avail_idx=9, ring=[0], ops=op(POP)))
    write('device_queue', 'head-out-of-range', dq(8, descs=[(16, 8, w, 0)], avail_idx=1, ring=[8], ops=op(POP)))
    write('device_queue', 'chain-loop', dq(
        8, descs=[(16, 8, w | NEXT, 1), (24, 8, w | NEXT, 0)], avail_idx=1, ring=[0], ops=op(POP) + op(RESET, u8(1))))
    write('device_queue', 'out-of-pool-edge', dq(
        8, descs=[(16 + 255, 2, w, 0)], avail_idx=1, ring=[0], ops=op(POP)))
    write('device_queue', 'no-event-idx-no-interrupt', dq(
        8, event_idx=False, descs=[(16, 8, w, 0)], avail_flags=1, avail_idx=1, ring=[0],
        ops=op(POP) + op(PUSH, u8(0), u32(8)) + op(PUBLISH) + op(FLAGS, u16(0), u16(0)) + op(AVAIL_ADD, u8(1)) +
        op(POP) + op(PUSH, u8(0), u32(8)) + op(PUBLISH) + op(KICK)))
    write('device_queue', 'driver-rewrites-ring', dq(
        4, tx=True, descs=[(16, 8, 0, 0)], avail_idx=1, ring=[0],
        ops=op(KICK) + op(DESC_SET, u8(1), struct.pack('<QIHH', 40, 8, 0, 0)) + op(AVAIL_SET, u8(1), u16(1)) +
        op(AVAIL_ADD, u8(1)) + op(POP) + op(POP) + op(PUSH, u8(1), u32(0)) + op(PUSH, u8(0), u32(0)) +
        op(PUBLISH) + op(KICK)))
    # Header mode (geometry bit 7): mode 2 = near, magic right; zero deltas give region.ts's layout.
    hdr = struct.pack('<16I', 0, 0, 0, 0, 0, 0, 0, 4096, 1 << 29, 0, 0, 0, 0, 0, 0, 0)
    write('device_queue', 'header-near-valid', u8(0x80) + u8(2) + hdr + u32(0))
    hdr_q = struct.pack('<16I', 0, 0, 3 << 8, 6 << 8, 0, 0, 0, 4096, 1 << 29, 0, 0, 0, 0, 0, 0, 0)
    write('device_queue', 'header-near-8-queues-of-128', u8(0x80) + u8(2) + hdr_q + u32(0))
    write('device_queue', 'header-raw', u8(0x80) + u8(1) + struct.pack('<16I', *range(16)) + u32(8192))


# ---- rx_parser ----------------------------------------------------------------------------------
def rx(vnet, q, pairs, vids, rxbits, chains, frames):
    """chains[p] = list of chains, each a list of segment lengths; frames = list of (bytes, cuts)."""
    cfg = (1 if vnet else 0) | ({4: 0, 8: 1, 16: 2, 32: 3}[q] << 1) | ((pairs - 1) << 3)
    b = u8(cfg)
    for v in vids:
        b += u16(v)
    b += u8(rxbits)
    for p in range(pairs):
        b += u8(len(chains[p]))
        for c in chains[p]:
            b += u8(len(c) - 1)
            for ln in c:
                b += u16(ln - 1)
    b += u8(len(frames) - 1)
    for data, cuts in frames:
        b += u16(len(data)) + u8(len(cuts))
        for c in cuts:
            b += u16(c)
        b += bytes(data)
    return b


DST = bytes([0x02, 0, 0, 0, 0, 0x02])
SRC = bytes([0x02, 0, 0, 0, 0, 0x01])


def eth(payload_len, vid=None, ethertype=0x0800, fill=0x42):
    tag = b'' if vid is None else bytes([0x81, 0x00, (vid >> 8) & 0x0f, vid & 0xff])
    return DST + SRC + tag + bytes([ethertype >> 8, ethertype & 0xff]) + bytes([fill]) * payload_len


def vnet_hdr(needs_csum=False, csum_start=0, csum_offset=0):
    return bytes([1 if needs_csum else 0, 0]) + u16(0) + u16(0) + u16(csum_start) + u16(csum_offset) + u16(0)


def rx_parser_seeds():
    write('rx_parser', 'untagged-tagged-unbound', rx(
        False, 8, 2, [7], 0x01, [[[1514]], [[100, 1400], [1514]]],
        [(eth(46), []), (eth(46, vid=7), [5, 14]), (eth(46, vid=9), [])]))
    write('rx_parser', 'vnet-csum-split-header', rx(
        True, 8, 2, [7], 0x01, [[[64]], [[2, 6, 300]]],
        [(vnet_hdr(True, 38, 16) + eth(60, vid=7), [3, 20])]))
    write('rx_parser', 'vnet-priority-tag', rx(
        True, 8, 1, [], 0x01, [[[4, 4, 4, 200]]],
        [(vnet_hdr(True, 38, 16) + eth(60, vid=0), [])]))
    write('rx_parser', 'too-big-then-fits', rx(
        False, 8, 1, [], 0x01, [[[40], [2000]]],
        [(eth(86), []), (eth(86), [1, 2, 3])]))
    write('rx_parser', 'malformed-ring', rx(
        False, 8, 2, [7], 0x05, [[[64]], [[64], [64]]],
        [(eth(46, vid=7), []), (eth(46, vid=7), []), (eth(46), [])]))
    write('rx_parser', 'short-frames', rx(
        False, 8, 2, [7], 0x01, [[[64], [64]], [[64]]],
        [(eth(0)[:13], []), (eth(0), []), (eth(0, vid=7)[:17], []), (eth(0, vid=7), [12, 14])]))
    write('rx_parser', 'no-buffer-disabled-pair0', rx(
        False, 4, 4, [7, 7, 4094], 0x00, [[[64]], [], [[64]], [[64]]],
        [(eth(46), []), (eth(46, vid=7), []), (eth(46, vid=4094), []), (eth(46, vid=4094), [])]))


if __name__ == '__main__':
    device_queue_seeds()
    rx_parser_seeds()
