#!/usr/bin/env python3
"""AF_PACKET peer for tests: send raw frames out of an interface, or capture frames of one
ethertype on it. Standard library only (Linux AF_PACKET sockets)."""
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40


def send(ifname, frame_hex, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    frame = bytes.fromhex(frame_hex)
    for _ in range(count):
        s.send(frame)


PACKET_VNET_HDR = 15


def send_vnet(ifname, hdr_hex, frame_hex):
    """One frame with a struct virtio_net_hdr (10 bytes, the legacy layout packet sockets use)
    in front: the kernel builds a GSO / CHECKSUM_PARTIAL skb from it, as a virtio guest's would be."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.bind((ifname, 0))
    s.send(bytes.fromhex(hdr_hex) + bytes.fromhex(frame_hex))


def recv(ifname, ethertype, count, timeout_ms):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    # The kernel moves a received 802.1Q tag into skb metadata before packet sockets see the
    # frame; PACKET_AUXDATA hands it back and we re-insert it, as libpcap does.
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    sys.stderr.write("READY\n")
    sys.stderr.flush()
    got = 0
    deadline = time.time() + timeout_ms / 1000.0
    while got < count:
        left = deadline - time.time()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        data, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(32))
        for level, typ, cdata in anc:
            if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
                status, _l, _s, _m, _n, tci, tpid = struct.unpack("IIIHHHH", cdata[:20])
                if status & TP_STATUS_VLAN_VALID:
                    if not status & TP_STATUS_VLAN_TPID_VALID:
                        tpid = 0x8100
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
        if len(data) >= 14 and int.from_bytes(data[12:14], "big") == ethertype:
            sys.stdout.write(data.hex() + "\n")
            got += 1
    sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "send-vnet":
        send_vnet(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        recv(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
