#!/usr/bin/env python3
"""TEST STAND-IN for `condis node` (issue 14 point 1, built on another branch), used only by the
tests of `condis cluster` until the real node is merged. Not a product feature.

It does what the cluster needs of a node, per the contract: called as
  <this> node --tap NAME [--mac MAC] [--sap N] [--ip A.B.C.D/24] --control PATH
in the host's namespace, it creates the TAP by name and holds it open (a TAP nobody holds has no
carrier, and a bridge does not forward to a port without one: `ip tuntap add` alone would not do),
sets its MAC, brings it up, prints exactly one ready line
  {"event":"ready","tap":NAME,"mac":MAC,"sap":N,"ip":IP,"control":PATH,"pid":PID}
and waits for SIGTERM, on which it exits 0. It neither reads nor writes frames.

Faults for the tests, by environment: CC_STANDIN_FAIL=<host> exits 3 before the ready line on the
host whose control socket is <host>.sock; CC_STANDIN_HANG=<host> never prints it there; '*' is
every host.
"""
import fcntl
import json
import os
import signal
import struct
import subprocess
import sys

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def arg(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def matches(var, control):
    v = os.environ.get(var)
    return v is not None and (v == "*" or os.path.basename(control) == v + ".sock")


def main():
    args = sys.argv[1:]
    if not args or args[0] != "node":
        sys.stderr.write("stand-in: expected `node --tap NAME ...`\n")
        return 2
    tap = arg(args, "--tap")
    control = arg(args, "--control")
    mac = arg(args, "--mac")
    sap = arg(args, "--sap")
    ip = arg(args, "--ip")
    # Blocked, then taken by sigwait(): a SIGTERM during setup stays pending instead of racing.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    if matches("CC_STANDIN_FAIL", control):
        sys.stderr.write("stand-in: failing on purpose (CC_STANDIN_FAIL)\n")
        return 3
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
    if mac:
        subprocess.run(["ip", "link", "set", tap, "address", mac], check=True)
    subprocess.run(["ip", "link", "set", tap, "up"], check=True)
    mac = open(f"/sys/class/net/{tap}/address").read().strip()
    if not matches("CC_STANDIN_HANG", control):
        ready = {
            "event": "ready",
            "tap": tap,
            "mac": mac,
            "sap": int(sap) if sap else 1,
            "ip": ip,
            "control": control,
            "pid": os.getpid(),
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
