// virtio_net.h — the virtio-net feature bits the device offers and negotiates (virtio 1.2, 5.1.3),
// the whole struct virtio_net_hdr_v1 (5.1.6) as the transmit check reads it, and the mapping of
// the driver's receive features to a TAP's TUNSETOFFLOAD flags. Plain C++, no state, no I/O.
//
// The driver is the "guest" and the device the "host", as in the spec and in Linux: HOST_*
// features say what the device takes on transmit, GUEST_* what it may hand over on receive.
// lib/virtio/vnet-hdr.ts spells the same names and numbers for JS.
#pragma once

#include <cstdint>
#include <cstring>

#include "ether.h"

namespace condis {

// ---- feature bits (5.1.3): a bit number each; a set is a uint64_t with bit (1 << n) ------------
enum VirtioNetFeature : uint32_t {
  VIRTIO_NET_F_CSUM = 0,         // device takes NEEDS_CSUM frames (partial checksum) on transmit
  VIRTIO_NET_F_GUEST_CSUM = 1,   // driver takes NEEDS_CSUM / DATA_VALID frames on receive
  VIRTIO_NET_F_GUEST_TSO4 = 7,   // driver takes TCPv4 GSO frames
  VIRTIO_NET_F_GUEST_TSO6 = 8,   // driver takes TCPv6 GSO frames
  VIRTIO_NET_F_GUEST_ECN = 9,    // ... with the ECN bit
  VIRTIO_NET_F_HOST_TSO4 = 11,   // device takes TCPv4 GSO frames on transmit
  VIRTIO_NET_F_HOST_TSO6 = 12,
  VIRTIO_NET_F_HOST_ECN = 13,
  VIRTIO_NET_F_GUEST_USO4 = 54,  // driver takes UDP_L4 (USO) GSO frames over IPv4
  VIRTIO_NET_F_GUEST_USO6 = 55,
  VIRTIO_NET_F_HOST_USO = 56,    // device takes UDP_L4 GSO frames on transmit
};

constexpr uint64_t feat(uint32_t bit) { return uint64_t{1} << bit; }

struct FeatureName {
  const char* name;  // as lib/virtio/vnet-hdr.ts's VirtioNetF keys, without VIRTIO_NET_F_
  uint32_t bit;
};
constexpr FeatureName kFeatureNames[] = {
    {"CSUM", VIRTIO_NET_F_CSUM},           {"GUEST_CSUM", VIRTIO_NET_F_GUEST_CSUM},
    {"GUEST_TSO4", VIRTIO_NET_F_GUEST_TSO4}, {"GUEST_TSO6", VIRTIO_NET_F_GUEST_TSO6},
    {"GUEST_ECN", VIRTIO_NET_F_GUEST_ECN}, {"HOST_TSO4", VIRTIO_NET_F_HOST_TSO4},
    {"HOST_TSO6", VIRTIO_NET_F_HOST_TSO6}, {"HOST_ECN", VIRTIO_NET_F_HOST_ECN},
    {"GUEST_USO4", VIRTIO_NET_F_GUEST_USO4}, {"GUEST_USO6", VIRTIO_NET_F_GUEST_USO6},
    {"HOST_USO", VIRTIO_NET_F_HOST_USO},
};

// Every feature this device knows (a wire offers all of them: it moves headers, never segments).
constexpr uint64_t kAllNetFeatures =
    feat(VIRTIO_NET_F_CSUM) | feat(VIRTIO_NET_F_GUEST_CSUM) | feat(VIRTIO_NET_F_GUEST_TSO4) |
    feat(VIRTIO_NET_F_GUEST_TSO6) | feat(VIRTIO_NET_F_GUEST_ECN) | feat(VIRTIO_NET_F_HOST_TSO4) |
    feat(VIRTIO_NET_F_HOST_TSO6) | feat(VIRTIO_NET_F_HOST_ECN) | feat(VIRTIO_NET_F_GUEST_USO4) |
    feat(VIRTIO_NET_F_GUEST_USO6) | feat(VIRTIO_NET_F_HOST_USO);

// What a driver that names no features gets with a vnet header: the transmit offloads (the
// kernel's TAP always takes partial checksums and GSO frames, segmenting them itself when the
// path needs it) and nothing on receive, so MTU-sized receive buffers stay enough.
constexpr uint64_t kDefaultNetFeatures = feat(VIRTIO_NET_F_CSUM) | feat(VIRTIO_NET_F_HOST_TSO4) |
                                         feat(VIRTIO_NET_F_HOST_TSO6) | feat(VIRTIO_NET_F_HOST_ECN) |
                                         feat(VIRTIO_NET_F_HOST_USO);

// 5.1.3.1: a feature the driver may accept only with another. Returns the name of the first
// feature in `set` whose requirement is missing (and that requirement in *needs), or nullptr.
inline const char* missing_feature_dependency(uint64_t set, const char** needs) {
  struct Dep {
    uint32_t bit;
    uint64_t any_of;
    const char* needs;
  };
  static constexpr Dep kDeps[] = {
      {VIRTIO_NET_F_GUEST_TSO4, feat(VIRTIO_NET_F_GUEST_CSUM), "GUEST_CSUM"},
      {VIRTIO_NET_F_GUEST_TSO6, feat(VIRTIO_NET_F_GUEST_CSUM), "GUEST_CSUM"},
      {VIRTIO_NET_F_GUEST_ECN, feat(VIRTIO_NET_F_GUEST_TSO4) | feat(VIRTIO_NET_F_GUEST_TSO6), "GUEST_TSO4 or GUEST_TSO6"},
      {VIRTIO_NET_F_GUEST_USO4, feat(VIRTIO_NET_F_GUEST_CSUM), "GUEST_CSUM"},
      {VIRTIO_NET_F_GUEST_USO6, feat(VIRTIO_NET_F_GUEST_CSUM), "GUEST_CSUM"},
      {VIRTIO_NET_F_HOST_TSO4, feat(VIRTIO_NET_F_CSUM), "CSUM"},
      {VIRTIO_NET_F_HOST_TSO6, feat(VIRTIO_NET_F_CSUM), "CSUM"},
      {VIRTIO_NET_F_HOST_ECN, feat(VIRTIO_NET_F_HOST_TSO4) | feat(VIRTIO_NET_F_HOST_TSO6), "HOST_TSO4 or HOST_TSO6"},
      {VIRTIO_NET_F_HOST_USO, feat(VIRTIO_NET_F_CSUM), "CSUM"},
  };
  for (const Dep& d : kDeps) {
    if ((set & feat(d.bit)) && !(set & d.any_of)) {
      *needs = d.needs;
      for (const FeatureName& n : kFeatureNames)
        if (n.bit == d.bit) return n.name;
    }
  }
  return nullptr;
}

// The largest frame (after the vnet header, before any tag the device inserts) a side takes once
// it negotiated GSO: a 65535-byte IP packet behind a tagged Ethernet header.
constexpr uint32_t kGsoMaxFrame = 65535 + kVlanHdrLen;

constexpr uint64_t kHostGsoFeatures =
    feat(VIRTIO_NET_F_HOST_TSO4) | feat(VIRTIO_NET_F_HOST_TSO6) | feat(VIRTIO_NET_F_HOST_USO);
constexpr uint64_t kGuestGsoFeatures = feat(VIRTIO_NET_F_GUEST_TSO4) | feat(VIRTIO_NET_F_GUEST_TSO6) |
                                       feat(VIRTIO_NET_F_GUEST_USO4) | feat(VIRTIO_NET_F_GUEST_USO6);

// ---- struct virtio_net_hdr_v1 (5.1.6) ------------------------------------------------------------
constexpr uint32_t kVnetGsoTypeOff = 1;     // u8
constexpr uint32_t kVnetHdrLenOff = 2;      // le16: Ethernet + IP + L4 header bytes of a GSO frame
constexpr uint32_t kVnetGsoSizeOff = 4;     // le16: payload bytes per segment
constexpr uint32_t kVnetCsumOffsetOff = 8;  // le16: where the checksum goes, from csum_start
constexpr uint8_t kVnetHdrFDataValid = 2;   // VIRTIO_NET_HDR_F_DATA_VALID (receive only)
constexpr uint8_t kVnetHdrFRscInfo = 4;     // VIRTIO_NET_HDR_F_RSC_INFO (not negotiable here)
constexpr uint8_t kGsoNone = 0, kGsoTcpV4 = 1, kGsoUdp = 3, kGsoTcpV6 = 4, kGsoUdpL4 = 5;
constexpr uint8_t kGsoEcn = 0x80;

inline uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline void put_le16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// Why a transmit header was refused: QueueStatus.detail with RingError kRingBadVnetHdr. Stable.
enum VnetHdrFault : uint32_t {
  kHdrOk = 0,
  kHdrUnknownFlags = 1,       // a flag other than NEEDS_CSUM (DATA_VALID and RSC_INFO are receive-only)
  kHdrUnknownGsoType = 2,     // not NONE, TCPV4, TCPV6 or UDP_L4 (UFO, 3, is not offered)
  kHdrGsoNotNegotiated = 3,   // a GSO type (or ECN) whose HOST_ feature the driver did not accept
  kHdrGsoSizeZero = 4,        // a GSO frame with gso_size 0
  kHdrCsumNotNegotiated = 5,  // NEEDS_CSUM without CSUM
  kHdrCsumPastFrame = 6,      // csum_start + csum_offset + 2 lies past the frame
  kHdrGsoWithoutCsum = 7,     // a GSO frame without NEEDS_CSUM (5.1.6.2: the driver MUST set it)
};

// The transmit check of one header (5.1.6.2, the driver requirements, enforced by the device as
// a device must not trust them): `h` is the 12-byte header, `frame_len` the bytes after it.
inline VnetHdrFault check_tx_vnet_hdr(const uint8_t* h, uint32_t frame_len, uint64_t negotiated) {
  const uint8_t flags = h[kVnetFlagsOff];
  const uint8_t gso = h[kVnetGsoTypeOff];
  if (flags & ~kVnetHdrFNeedsCsum) return kHdrUnknownFlags;
  if (flags & kVnetHdrFNeedsCsum) {
    if (!(negotiated & feat(VIRTIO_NET_F_CSUM))) return kHdrCsumNotNegotiated;
    const uint32_t end = uint32_t{le16(h + kVnetCsumStartOff)} + le16(h + kVnetCsumOffsetOff) + 2;
    if (end > frame_len) return kHdrCsumPastFrame;
  }
  if (gso == kGsoNone) return kHdrOk;
  uint64_t needs = 0;
  switch (gso & ~kGsoEcn) {
    case kGsoTcpV4: needs = feat(VIRTIO_NET_F_HOST_TSO4); break;
    case kGsoTcpV6: needs = feat(VIRTIO_NET_F_HOST_TSO6); break;
    case kGsoUdpL4: needs = feat(VIRTIO_NET_F_HOST_USO); break;
    default: return kHdrUnknownGsoType;
  }
  if (gso & kGsoEcn) needs |= feat(VIRTIO_NET_F_HOST_ECN);
  if ((negotiated & needs) != needs) return kHdrGsoNotNegotiated;
  if (le16(h + kVnetGsoSizeOff) == 0) return kHdrGsoSizeZero;
  if (!(flags & kVnetHdrFNeedsCsum)) return kHdrGsoWithoutCsum;
  return kHdrOk;
}

// The GUEST_ feature a received GSO frame needs, or 0 for a frame that is not GSO (or a type no
// feature allows: the caller drops it as it drops one whose feature is missing).
inline uint64_t guest_feature_for_gso(uint8_t gso_type, bool* known) {
  *known = true;
  switch (gso_type & ~kGsoEcn) {
    case kGsoNone:  // ECN alone is no GSO type (the kernel's virtio_net_hdr_to_skb: -EINVAL)
      *known = gso_type == kGsoNone;
      return 0;
    case kGsoTcpV4: return feat(VIRTIO_NET_F_GUEST_TSO4) | ((gso_type & kGsoEcn) ? feat(VIRTIO_NET_F_GUEST_ECN) : 0);
    case kGsoTcpV6: return feat(VIRTIO_NET_F_GUEST_TSO6) | ((gso_type & kGsoEcn) ? feat(VIRTIO_NET_F_GUEST_ECN) : 0);
    default: break;
  }
  // UDP_L4 over v4 or v6: the header does not say which; both features are asked for (a TAP only
  // enables USO with both, see tun_offload_for).
  if ((gso_type & ~kGsoEcn) == kGsoUdpL4) return feat(VIRTIO_NET_F_GUEST_USO4) | feat(VIRTIO_NET_F_GUEST_USO6);
  *known = false;
  return 0;
}

// A TAP's TUNSETOFFLOAD flags for the receive features the driver accepted (linux/if_tun.h;
// spelled here so this header needs no kernel header). USO is one kernel feature for both IP
// versions: the kernel refuses USO4 without USO6, so it is set only when both were accepted.
constexpr unsigned kTunFCsum = 0x01, kTunFTso4 = 0x02, kTunFTso6 = 0x04, kTunFTsoEcn = 0x08;
constexpr unsigned kTunFUso4 = 0x20, kTunFUso6 = 0x40;
inline unsigned tun_offload_for(uint64_t negotiated) {
  unsigned f = 0;
  if (!(negotiated & feat(VIRTIO_NET_F_GUEST_CSUM))) return 0;
  f |= kTunFCsum;
  if (negotiated & feat(VIRTIO_NET_F_GUEST_TSO4)) f |= kTunFTso4;
  if (negotiated & feat(VIRTIO_NET_F_GUEST_TSO6)) f |= kTunFTso6;
  if ((negotiated & feat(VIRTIO_NET_F_GUEST_ECN)) && (f & (kTunFTso4 | kTunFTso6))) f |= kTunFTsoEcn;
  if ((negotiated & feat(VIRTIO_NET_F_GUEST_USO4)) && (negotiated & feat(VIRTIO_NET_F_GUEST_USO6)))
    f |= kTunFUso4 | kTunFUso6;
  return f;
}

// The receive features a TAP can serve, from the TUNSETOFFLOAD flags its kernel accepted, plus
// the transmit features every TAP with a vnet header serves (tun_get_user takes NEEDS_CSUM and
// TCP GSO frames; UDP_L4 GSO frames on kernels that know USO).
inline uint64_t tap_offered_features(unsigned tun_accepts) {
  uint64_t f = feat(VIRTIO_NET_F_CSUM) | feat(VIRTIO_NET_F_HOST_TSO4) | feat(VIRTIO_NET_F_HOST_TSO6) |
               feat(VIRTIO_NET_F_HOST_ECN);
  if (tun_accepts & kTunFCsum) f |= feat(VIRTIO_NET_F_GUEST_CSUM);
  if (tun_accepts & kTunFTso4) f |= feat(VIRTIO_NET_F_GUEST_TSO4);
  if (tun_accepts & kTunFTso6) f |= feat(VIRTIO_NET_F_GUEST_TSO6);
  if (tun_accepts & kTunFTsoEcn) f |= feat(VIRTIO_NET_F_GUEST_ECN);
  if ((tun_accepts & kTunFUso4) && (tun_accepts & kTunFUso6))
    f |= feat(VIRTIO_NET_F_GUEST_USO4) | feat(VIRTIO_NET_F_GUEST_USO6) | feat(VIRTIO_NET_F_HOST_USO);
  return f;
}

// A VC's 802.1Q tag lies before every offset the header counts from the frame's first byte:
// csum_start (with NEEDS_CSUM) and hdr_len (of a GSO frame). Inserting the tag moves both
// kVlanTagLen later (delta +4, transmit), stripping it kVlanTagLen earlier (delta -4, receive);
// see csum_start_across_tag (ether.h) for why no checksum value changes. `h`: the 12-byte header.
inline void vnet_offsets_across_tag(uint8_t* h, int32_t delta) {
  uint16_t v;
  if ((h[kVnetFlagsOff] & kVnetHdrFNeedsCsum) && csum_start_across_tag(le16(h + kVnetCsumStartOff), delta, &v))
    put_le16(h + kVnetCsumStartOff, v);
  // hdr_len is a hint (the kernel recomputes it); 0 means "not given" and stays 0.
  const uint16_t hl = le16(h + kVnetHdrLenOff);
  if (h[kVnetGsoTypeOff] != kGsoNone && hl != 0 && csum_start_across_tag(hl, delta, &v))
    put_le16(h + kVnetHdrLenOff, v);
}

// The Internet checksum (RFC 1071) of `len` bytes, added to `sum` (not folded). Bytes are summed
// as big-endian 16-bit words; an odd byte count pads the last byte with a zero, which is only
// right for the last piece of a frame (callers split only at even offsets).
inline uint64_t csum_add(uint64_t sum, const uint8_t* p, uint32_t len) {
  while (len >= 2) {
    sum += uint32_t{p[0]} << 8 | p[1];
    p += 2;
    len -= 2;
  }
  if (len) sum += uint32_t{p[0]} << 8;
  return sum;
}
inline uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

}  // namespace condis
