#!/usr/bin/env bash
# tap-loop.sh — a one-way kernel loop between two persistent TAPs, for the pps benchmark.
#
#   tap-loop.sh up   A B    create TAPs A and B (persistent, mode tap, no vnet_hdr, no PI),
#                           bring them up, turn IPv6 off on them, and redirect everything that
#                           arrives on A's ingress to B's egress:
#                             frame written into A's fd  ->  A ingress  ->  tc mirred  ->  B  ->  B's fd
#   tap-loop.sh down A B    remove the filter/qdisc and delete both TAPs (missing ones are fine).
#   tap-loop.sh status A B  show what is there.
#
# Programs then attach to the TAPs by name with TUNSETIFF (IFF_TAP|IFF_NO_PI, optionally
# IFF_VNET_HDR: the tun driver takes the feature flags of whoever attaches). Only one fd may be
# attached to each TAP at a time (no multi_queue), so run the programs one after the other.
#
# Needs root (CAP_NET_ADMIN), iproute2 (ip, tc) and the kernel's tun, sch_ingress, cls_u32 and
# act_mirred. `up` is idempotent: an existing TAP is reused and the ingress qdisc is re-created.
# Env: TXQLEN (default 1000) — tx_queue_len of both TAPs, which is also the size of the ring
# that holds frames waiting for B's reader (a full ring drops).
set -euo pipefail

die() { echo "tap-loop.sh: $*" >&2; exit 1; }

usage() {
  echo "usage: $0 up|down|status TAP_A TAP_B   (frames written into A's fd come out of B's fd)" >&2
  exit 2
}

[[ $# -eq 3 ]] || usage
cmd=$1 a=$2 b=$3
[[ $a != "$b" ]] || die "TAP_A and TAP_B must differ"
for n in "$a" "$b"; do
  # IFNAMSIZ is 16 including the NUL; keep names shell- and sysfs-safe.
  [[ $n =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "bad interface name '$n' (1-15 chars of [A-Za-z0-9_.-])"
done

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found (apt-get install -y $2)"; }
need ip iproute2
need tc iproute2

exists() { [[ -e /sys/class/net/$1 ]]; }

is_tap() {
  # /sys/class/net/X/tun_flags exists for tun/tap devices; IFF_TAP is 0x0002.
  local f=/sys/class/net/$1/tun_flags
  [[ -r $f ]] && (($(cat "$f") & 0x0002))
}

make_tap() {
  local n=$1
  if exists "$n"; then
    is_tap "$n" || die "interface '$n' exists and is not a TAP; pick another name"
    echo "tap-loop.sh: reusing existing TAP $n" >&2
  else
    ip tuntap add dev "$n" mode tap || die "ip tuntap add dev $n failed (root/CAP_NET_ADMIN and /dev/net/tun needed)"
  fi
  # IPv6 off before the link goes up, so no router solicitation / MLD report is ever sent.
  # (Written to /proc directly: no procps needed, and a name with a dot stays one name.)
  { echo 1 >"/proc/sys/net/ipv6/conf/$n/disable_ipv6"; } 2>/dev/null ||
    echo "tap-loop.sh: warning: could not disable IPv6 on $n (no IPv6 in this kernel?)" >&2
  ip link set dev "$n" txqueuelen "${TXQLEN:-1000}"
  ip link set dev "$n" up
}

case $cmd in
  up)
    [[ $(id -u) -eq 0 ]] || die "must run as root (needs CAP_NET_ADMIN)"
    make_tap "$a"
    make_tap "$b"
    # Fresh ingress qdisc on A (deleting it drops any filter a previous run left behind).
    tc qdisc del dev "$a" ingress >/dev/null 2>&1 || true
    tc qdisc add dev "$a" ingress ||
      die "tc qdisc add dev $a ingress failed (kernel needs sch_ingress / CONFIG_NET_SCH_INGRESS)"
    tc filter add dev "$a" parent ffff: protocol all prio 1 u32 match u32 0 0 \
      action mirred egress redirect dev "$b" ||
      die "tc filter on $a failed (kernel needs cls_u32 and act_mirred)"
    echo "tap-loop.sh: loop up: write into $a's fd -> read from $b's fd" >&2
    ;;
  down)
    rc=0
    if exists "$a"; then
      tc qdisc del dev "$a" ingress >/dev/null 2>&1 || true
    fi
    for n in "$a" "$b"; do
      if exists "$n"; then
        is_tap "$n" || { echo "tap-loop.sh: '$n' is not a TAP, leaving it alone" >&2; rc=1; continue; }
        ip tuntap del dev "$n" mode tap || { echo "tap-loop.sh: could not delete $n" >&2; rc=1; }
      fi
    done
    [[ $rc -eq 0 ]] && echo "tap-loop.sh: loop down ($a, $b removed)" >&2
    exit $rc
    ;;
  status)
    for n in "$a" "$b"; do
      if exists "$n"; then ip -d link show dev "$n"; else echo "$n: absent"; fi
    done
    if exists "$a"; then tc filter show dev "$a" ingress; fi
    ;;
  *) usage ;;
esac
