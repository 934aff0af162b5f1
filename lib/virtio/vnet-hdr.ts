/**
 * struct virtio_net_hdr_v1 (virtio 1.2, 5.1.6) and the virtio-net feature bits (5.1.3) that
 * decide which of its fields a side may use: the header that rides in front of every frame in
 * the ring when a device is opened with `vnetHdr`.
 *
 * SOURCE OF TRUTH for the numbers: the virtio spec and Linux's include/uapi/linux/virtio_net.h;
 * native/ether.h and native/virtio_net.h spell the same values for the device.
 *
 *   offset 0   u8    flags        VIRTIO_NET_HDR_F_*
 *   offset 1   u8    gso_type     VIRTIO_NET_HDR_GSO_* (| ECN)
 *   offset 2   le16  hdr_len      Ethernet + IP + L4 header bytes of a GSO frame
 *   offset 4   le16  gso_size     payload bytes per segment (the MSS for TCP)
 *   offset 6   le16  csum_start   where the checksum starts, from the frame's first byte
 *   offset 8   le16  csum_offset  where it goes, from csum_start
 *   offset 10  le16  num_buffers  MRG_RXBUF only (not offered here: 0)
 *
 * Names follow Linux's: the driver (our JS) is the "guest", the device the "host". HOST_* features
 * say what the device takes on transmit, GUEST_* what it may hand over on receive.
 */

export const VnetHdrOff = {
  flags: 0,
  gsoType: 1,
  hdrLen: 2,
  gsoSize: 4,
  csumStart: 6,
  csumOffset: 8,
  numBuffers: 10,
} as const;

/** flags: the checksum from csum_start on is partial; csum_offset says where the result goes. */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** flags (receive): the checksum was already validated. */
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
/** flags (receive, RSC_EXT): the coalesced-segment count rides in csum_start. Not offered here. */
export const VIRTIO_NET_HDR_F_RSC_INFO = 4;

export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/**
 * virtio-net feature bit numbers (virtio 1.2, 5.1.3), by the name `Device.info().features` uses.
 * Offered by this device: what its backend can do (a TAP: what TUNSETOFFLOAD accepts on this
 * kernel; a wire: all of them). MRG_RXBUF is not offered: with a GUEST_TSO or GUEST_USO feature the driver
 * posts receive chains of at least kBigRxBufferBytes ("big packets", 5.1.6.3.1).
 */
export const VirtioNetF = {
  CSUM: 0,
  GUEST_CSUM: 1,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  GUEST_USO4: 54,
  GUEST_USO6: 55,
  HOST_USO: 56,
} as const;
export type VirtioNetFeature = keyof typeof VirtioNetF;
export const kVirtioNetFeatureNames = Object.keys(VirtioNetF) as readonly VirtioNetFeature[];

/**
 * What a driver that sets no `features` option negotiates when `vnetHdr` is on: the transmit
 * offloads (the kernel's TAP always takes partial checksums and GSO frames it can segment), and
 * nothing on receive, so a driver that posts MTU-sized receive buffers never sees a 64 KiB frame.
 */
export const kDefaultVnetFeatures: readonly VirtioNetFeature[] = [
  'CSUM',
  'HOST_TSO4',
  'HOST_TSO6',
  'HOST_ECN',
  'HOST_USO',
];

/**
 * The smallest receive chain a driver posts once it negotiated a GUEST_TSO or GUEST_USO feature
 * without MRG_RXBUF (5.1.6.3.1: 65562 bytes, room for the 12-byte header, a 14-byte Ethernet header and a
 * 65535-byte packet; the device strips a VC's 802.1Q tag before it writes the frame).
 */
export const kBigRxBufferBytes = 65562;

/** The largest L3 packet a GSO frame carries (an IPv4 total length, IPv6 without jumbograms). */
export const kGsoMaxPacket = 65535;

/**
 * Why the device refused a transmit header (QueueStatus.detail of a queue stopped with
 * RingError.BadVnetHdr; native/virtio_net.h `enum VnetHdrFault`). Stable numbers.
 */
export const VnetHdrFault = {
  Ok: 0,
  /** A flag other than NEEDS_CSUM: DATA_VALID and RSC_INFO are for receive only (5.1.6.2). */
  UnknownFlags: 1,
  /** Not NONE, TCPV4, TCPV6 or UDP_L4 (UFO is not offered). */
  UnknownGsoType: 2,
  /** A GSO type (or ECN) whose HOST_ feature was not negotiated. */
  GsoNotNegotiated: 3,
  /** A GSO frame with gso_size 0. */
  GsoSizeZero: 4,
  /** NEEDS_CSUM without CSUM negotiated. */
  CsumNotNegotiated: 5,
  /** csum_start + csum_offset + 2 lies past the frame. */
  CsumPastFrame: 6,
  /** A GSO frame without NEEDS_CSUM (5.1.6.2: the driver MUST set it). */
  GsoWithoutCsum: 7,
} as const;
export type VnetHdrFault = (typeof VnetHdrFault)[keyof typeof VnetHdrFault];

/** Reads the le16 at `off` of the header that starts at `at` in `u8`. */
export function vnetU16(u8: Uint8Array, at: number, off: number): number {
  return u8[at + off]! | (u8[at + off + 1]! << 8);
}

/** Writes the le16 `v` at `off` of the header that starts at `at` in `u8`. */
export function setVnetU16(u8: Uint8Array, at: number, off: number, v: number): void {
  u8[at + off] = v & 0xff;
  u8[at + off + 1] = (v >>> 8) & 0xff;
}

/** Zeroes the 12 header bytes at `at` (a plain frame: no offload asked, none reported). */
export function clearVnetHdr(u8: Uint8Array, at: number): void {
  u8.fill(0, at, at + 12);
}
