#!/usr/bin/env python3
"""802.1Q tagging for a kernel built without CONFIG_VLAN_8021Q: attaches two tiny eBPF programs
to an interface with tcx (BPF_PROG_ATTACH, BPF_TCX_EGRESS / BPF_TCX_INGRESS; kernel >= 6.6,
CONFIG_NET_XGRESS): every frame the interface transmits gets the tag VID pushed, every frame it
receives tagged with VID has the tag popped. The interface then behaves like the VLAN
subinterface `IF.VID` would: the kernel's own ARP, IPv4 and ICMP stack talk on the VLAN.

No clang, no libbpf, no bpffs: the programs are eight and five instructions assembled here and
loaded through bpf(2) with ctypes (standard library only). The kernel's verifier checks them.
The attachment lives as long as the interface (it goes away with it); no process stays behind.

usage: vlan-tagger.py IFNAME VID     (run inside the interface's network namespace)
"""
import ctypes
import os
import socket
import struct
import sys

SYS_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47
FN_SKB_VLAN_PUSH = 18
FN_SKB_VLAN_POP = 19
# struct __sk_buff offsets
SKB_VLAN_PRESENT = 20
SKB_VLAN_TCI = 24

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def insn(op, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


MOV64_IMM, LDX_W, AND64_IMM, JEQ_IMM, JNE_IMM, CALL, EXIT = 0xB7, 0x61, 0x57, 0x15, 0x55, 0x85, 0x95


def egress(vid):
    # r1 = skb. bpf_skb_vlan_push(skb, htons(ETH_P_8021Q), vid); return TC_ACT_OK.
    return [
        insn(MOV64_IMM, dst=2, imm=socket.htons(0x8100)),
        insn(MOV64_IMM, dst=3, imm=vid),
        insn(CALL, imm=FN_SKB_VLAN_PUSH),
        insn(MOV64_IMM, dst=0, imm=0),
        insn(EXIT),
    ]


def ingress(vid):
    # The stack has moved a received tag into skb metadata before tc ingress runs.
    # if (skb->vlan_present && (skb->vlan_tci & 0xfff) == vid) bpf_skb_vlan_pop(skb); return TC_ACT_OK.
    # Frames of other VIDs keep their tag and the stack drops them, as it would with 802.1Q.
    return [
        insn(LDX_W, dst=2, src=1, off=SKB_VLAN_PRESENT),
        insn(JEQ_IMM, dst=2, off=4, imm=0),
        insn(LDX_W, dst=2, src=1, off=SKB_VLAN_TCI),
        insn(AND64_IMM, dst=2, imm=0xFFF),
        insn(JNE_IMM, dst=2, off=1, imm=vid),
        insn(CALL, imm=FN_SKB_VLAN_POP),
        insn(MOV64_IMM, dst=0, imm=0),
        insn(EXIT),
    ]


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(SYS_BPF, cmd, buf, 128)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf({cmd}): {os.strerror(e)}")
    return r


def load(name, insns):
    code = b"".join(insns)
    code_buf = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    attr = struct.pack(
        "<IIQQIIQII16s",
        BPF_PROG_TYPE_SCHED_CLS,
        len(insns),
        ctypes.addressof(code_buf),
        ctypes.addressof(lic),
        1,
        len(log),
        ctypes.addressof(log),
        0,
        0,
        name.encode()[:15],
    )
    try:
        return bpf(BPF_PROG_LOAD, attr)
    except OSError as e:
        raise OSError(e.errno, f"{e.strerror}; verifier log:\n{log.value.decode(errors='replace')}") from None


def attach(ifindex, prog_fd, attach_type):
    bpf(BPF_PROG_ATTACH, struct.pack("<IIII", ifindex, prog_fd, attach_type, 0))


def main():
    ifname, vid = sys.argv[1], int(sys.argv[2])
    if not 1 <= vid <= 4094:
        raise SystemExit(f"VID {vid} out of range 1..4094")
    ifindex = socket.if_nametoindex(ifname)
    attach(ifindex, load("vlan_push", egress(vid)), BPF_TCX_EGRESS)
    attach(ifindex, load("vlan_pop", ingress(vid)), BPF_TCX_INGRESS)


if __name__ == "__main__":
    main()
