#!/usr/bin/env python3
"""AF_PACKET peer for tests: send raw frames out of an interface, or capture frames of one
ethertype on it. Standard library only (Linux AF_PACKET sockets)."""
import select
import socket
import sys
import time

ETH_P_ALL = 0x0003


def send(ifname, frame_hex, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    frame = bytes.fromhex(frame_hex)
    for _ in range(count):
        s.send(frame)


def recv(ifname, ethertype, count, timeout_ms):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
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
        data, addr = s.recvfrom(65536)
        # addr[2] is the packet type: skip frames this host sent (PACKET_OUTGOING = 4) twice-seen
        if len(data) >= 14 and int.from_bytes(data[12:14], "big") == ethertype:
            sys.stdout.write(data.hex() + "\n")
            got += 1
    sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        recv(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
