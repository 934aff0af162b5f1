// ether.h — the frame bytes the device reads or rewrites on the data path: the Ethernet II
// header, the 802.1Q tag it inserts on transmit and strips on receive (IEEE 802.1Q, 9.6), and the
// two fields of struct virtio_net_hdr (virtio 1.2, 5.1.6) a tag moves. Named once here for the
// transmit and receive stages (io_loop.cc) and the control path (device.h, device.cc).
// Wire format only: no state, no I/O. The fuzz model (native/fuzz/rx_parser.cc) spells these
// numbers out on its own, so a wrong constant here cannot make the model agree with the code.
#pragma once

#include <cstdint>

namespace condis {

// ---- Ethernet II: [dst MAC 6][src MAC 6][ethertype 2][payload] ----------------------------------
constexpr uint32_t kEthAddrLen = 6;
constexpr uint32_t kEthTypeOff = 2 * kEthAddrLen;  // 12: the ethertype (or an 802.1Q TPID)
constexpr uint32_t kEthHdrLen = kEthTypeOff + 2;   // 14: the shortest frame the device moves

// ---- 802.1Q: [dst][src][TPID 0x8100][TCI: PCP 3 | DEI 1 | VID 12][ethertype][payload] ------------
constexpr uint16_t kEthP8021Q = 0x8100;          // TPID (ETH_P_8021Q)
constexpr uint32_t kVlanTagLen = 4;              // TPID + TCI, inserted at kEthTypeOff
constexpr uint32_t kVlanTciOff = kEthTypeOff + 2;  // 14
constexpr uint32_t kVlanHdrLen = kEthHdrLen + kVlanTagLen;  // 18: a tagged Ethernet header
constexpr uint16_t kVlanVidMask = 0x0fff;        // TCI bits 0-11
constexpr uint32_t kVlanMaxVid = 4094;           // 0 = priority tag only, 4095 reserved
constexpr uint32_t kVlanVidCount = 4096;         // size of a table indexed by VID

static_assert(kEthTypeOff == 12 && kEthHdrLen == 14, "Ethernet II header");
static_assert(kVlanTciOff == 14 && kVlanHdrLen == 18, "802.1Q tag after the MACs");

// The largest frame a link of MTU `mtu` carries: the L3 packet plus a tagged Ethernet header.
constexpr uint32_t max_frame_for_mtu(uint32_t mtu) { return mtu + kVlanHdrLen; }

// ---- struct virtio_net_hdr_v1 (virtio 1.2, 5.1.6): the fields a tag moves -----------------------
constexpr uint32_t kVnetFlagsOff = 0;            // u8 flags
constexpr uint8_t kVnetHdrFNeedsCsum = 1;        // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint32_t kVnetCsumStartOff = 6;        // le16 csum_start
constexpr uint32_t kVnetCsumStartEnd = kVnetCsumStartOff + 2;  // bytes up to and with csum_start

static_assert(kVnetCsumStartEnd == 8, "virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start");

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

inline bool vnet_needs_csum(const uint8_t* vnet_hdr) {
  return (vnet_hdr[kVnetFlagsOff] & kVnetHdrFNeedsCsum) != 0;
}

// csum_start counts from the frame's first byte to where the device (or the kernel) starts the
// checksum, the L4 header. The 802.1Q tag lies before that point, so inserting a tag moves
// csum_start kVlanTagLen bytes later (delta +kVlanTagLen, on transmit) and stripping one moves it
// kVlanTagLen earlier (delta -kVlanTagLen, on receive). Nothing else changes: csum_offset counts
// from csum_start, and the partial checksum the sender left in the L4 header covers csum_start
// onwards (pseudo-header seed included), never the Ethernet header. So no checksum value is
// touched, and no RFC 1624 incremental update is due; only this offset moves.
// Returns false (leave the field) when a strip would take it below 0: it pointed inside the MACs,
// nonsense from the sender. A move past 65535 wraps, as the le16 field does.
inline bool csum_start_across_tag(uint16_t csum_start, int32_t delta, uint16_t* out) {
  const int32_t moved = int32_t{csum_start} + delta;
  if (moved < 0) return false;
  *out = static_cast<uint16_t>(moved);
  return true;
}

}  // namespace condis
