#!/usr/bin/env python3
# The kernel's side of `condis bench drain`: the helper process of lib/bench/kernel-quiesce.ts,
# which starts it as `python3 kernel-quiesce.py IFNAME TXQUEUELEN` and speaks a line protocol on
# its stdin/stdout (described there). It owns a TAP nobody reads, a control socket and an
# AF_PACKET socket, and times ioctl(SIOCSIFFLAGS, down) itself with CLOCK_MONOTONIC, so that
# neither the pipe nor Node's event loop is in the measured span. Needs root (it creates a TAP).
import fcntl, os, socket, struct, sys, time
name = sys.argv[1]
bname = name.encode()
TUNSETIFF = 0x400454ca; IFF_TAP = 0x2; IFF_NO_PI = 0x1000
SIOCSIFFLAGS = 0x8914; SIOCSIFTXQLEN = 0x8943; IFF_UP = 0x1
try:
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH22x', bname, IFF_TAP | IFF_NO_PI))
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with open('/proc/sys/net/ipv6/conf/%s/disable_ipv6' % name, 'w') as f:
            f.write('1')  # no router solicitations or DAD frames in the queue we measure
    except OSError:
        pass
    fcntl.ioctl(ctl, SIOCSIFTXQLEN, struct.pack('16si12x', bname, int(sys.argv[2])))
    up = struct.pack('16sH14x', bname, IFF_UP)
    down = struct.pack('16sH14x', bname, 0)
    fcntl.ioctl(ctl, SIOCSIFFLAGS, up)
    ps = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    ps.bind((name, 0))
except Exception as e:
    sys.stdout.write('err %s\n' % e); sys.stdout.flush(); sys.exit(1)
frame = b'\xff' * 6 + b'\x02\x00\x00\x00\x00\x01' + b'\x88\xb5' + bytes(50)
clock = time.clock_gettime_ns; MONO = time.CLOCK_MONOTONIC; ioctl = fcntl.ioctl
sys.stdout.write('ready\n'); sys.stdout.flush()
for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == 'x':
        break
    try:
        depth = int(cmd[1])
        ioctl(ctl, SIOCSIFFLAGS, up)
        sent = 0
        for _ in range(depth):
            sent += 1 if ps.send(frame) == len(frame) else 0
        t0 = clock(MONO)
        ioctl(ctl, SIOCSIFFLAGS, down)
        t1 = clock(MONO)
        readable = 0
        while True:
            try:
                os.read(fd, 65536)
                readable += 1
            except BlockingIOError:
                break
        sys.stdout.write('ok %d %d %d\n' % (t1 - t0, sent, readable))
    except Exception as e:
        sys.stdout.write('err %s\n' % e)
    sys.stdout.flush()
