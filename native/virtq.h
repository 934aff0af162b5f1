// virtq.h — the ring ABI shared with JavaScript, and the device side of a split virtqueue.
//
// DO NOT CHANGE the layout without bumping kAbiVersion and lib/virtio/layout.ts together;
// test/native/layout.test.ts compares the two.
//
// One SharedArrayBuffer ("the region") per device, allocated by JS and pinned by the addon:
//
//   offset 0                 RegionHeader (64 bytes)
//   offset 64                QueueStatus[num_queues] (16 bytes each; num_queues <= kMaxQueues)
//   offset 4096              queue 0: | desc table | avail ring | used ring |   (queue_stride bytes)
//   4096 + 1*queue_stride    queue 1
//   ...
//   pool_offset              buffer pool (pool_size bytes), page aligned
//
// Inside one queue (virtio 1.2, section 2.7 "Split Virtqueues"), each part 64-byte aligned so
// the driver-written avail ring and the device-written used ring never share a cache line:
//
//   desc_off  = 0                                  struct VirtqDesc[queue_size]   (2.7.5)
//   avail_off = align64(16 * Q)                    flags, idx, ring[Q], used_event (2.7.6)
//   used_off  = align64(avail_off + 6 + 2 * Q)     flags, idx, ring[Q]{id,len}, avail_event (2.7.8)
//   stride    = align64(used_off + 6 + 8 * Q)
//
// Queue numbering follows virtio-net (5.1.2): pair k = receiveq (2k) + transmitq (2k+1).
// A descriptor's addr is a byte offset into the region and must lie inside the buffer pool.
// With vnet_hdr enabled every buffer starts with a 12-byte struct virtio_net_hdr (5.1.6).
//
// Endianness: virtio 1.x rings are little-endian; so is every platform this builds for.
#pragma once

#include <cstddef>
#include <cstdint>

namespace condis {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio 1.x rings are little-endian");

constexpr uint32_t kRegionMagic = 0x54444e43;  // "CNDT"
constexpr uint32_t kAbiVersion = 3;  // 2: kDeviceFailed, device_fault, kTxDeviceFailed; 3: kRingBadVnetHdr
constexpr uint32_t kMaxQueuePairs = 64;
constexpr uint32_t kMaxQueues = 2 * kMaxQueuePairs;
constexpr uint32_t kMinQueueSize = 2;
constexpr uint32_t kMaxQueueSize = 32768;  // virtio 2.7: Queue Size max 32768
constexpr uint32_t kHeaderBytes = 4096;
constexpr uint32_t kVnetHdrLen = 12;  // struct virtio_net_hdr_v1 (5.1.6)

// Descriptor flags (2.7.5).
constexpr uint16_t VIRTQ_DESC_F_NEXT = 1;
constexpr uint16_t VIRTQ_DESC_F_WRITE = 2;
constexpr uint16_t VIRTQ_DESC_F_INDIRECT = 4;

// Feature bits the device offers (6 "Reserved Feature Bits").
constexpr uint32_t VIRTIO_RING_F_EVENT_IDX = 29;

// Per-queue state, written by the device only.
enum QueueState : uint32_t {
  kQueueDisabled = 0,    // not yet enabled, or reset: the device does not touch it
  kQueueReady = 1,       // serviced
  kQueueNeedsReset = 2,  // the device found a malformed ring and stopped using it (2.1.2)
};

// Why a queue went to NEEDS_RESET. Stable numbers; lib/errors.ts maps them to ERR_CONDIS_* codes.
enum RingError : uint32_t {
  kRingOk = 0,
  kRingAvailIdxTooFar = 1,     // avail.idx ran more than queue_size ahead of the device
  kRingHeadOutOfRange = 2,     // avail.ring[] named a descriptor >= queue_size
  kRingNextOutOfRange = 3,     // desc.next >= queue_size
  kRingChainLoop = 4,          // chain longer than queue_size: it loops
  kRingDescOutOfPool = 5,      // [addr, addr+len) leaves the buffer pool
  kRingWriteOnlyInTx = 6,      // device-writable descriptor where the device must read
  kRingReadOnlyInRx = 7,       // device-readable descriptor where the device must write
  kRingIndirectUnsupported = 8,  // VIRTQ_DESC_F_INDIRECT was not negotiated
  kRingZeroLength = 9,         // a descriptor of length 0
  kRingChainTooLong = 10,      // more segments than the device gathers (kMaxChainSegments)
  kRingBadVnetHdr = 11,        // a transmit frame's virtio_net_hdr breaks 5.1.6.2 (detail: VnetHdrFault)
};

// 2.7.5 The Virtqueue Descriptor Table
struct VirtqDesc {
  uint64_t addr;   // byte offset into the region (our "IOVA")
  uint32_t len;
  uint16_t flags;  // VIRTQ_DESC_F_*
  uint16_t next;
};
static_assert(sizeof(VirtqDesc) == 16, "virtio 2.7.5");
static_assert(offsetof(VirtqDesc, addr) == 0 && offsetof(VirtqDesc, len) == 8, "virtio 2.7.5");
static_assert(offsetof(VirtqDesc, flags) == 12 && offsetof(VirtqDesc, next) == 14, "virtio 2.7.5");

// 2.7.8 The Virtqueue Used Ring element
struct VirtqUsedElem {
  uint32_t id;   // head of the chain
  uint32_t len;  // bytes written into the chain (0 for a transmit chain)
};
static_assert(sizeof(VirtqUsedElem) == 8, "virtio 2.7.8");

// Offsets inside the avail and used rings (2.7.6, 2.7.8); the ring arrays follow the two u16s.
constexpr uint32_t kAvailFlagsOff = 0;
constexpr uint32_t kAvailIdxOff = 2;
constexpr uint32_t kAvailRingOff = 4;
constexpr uint32_t kUsedFlagsOff = 0;
constexpr uint32_t kUsedIdxOff = 2;
constexpr uint32_t kUsedRingOff = 4;

// The region header. JS writes everything before irq_pending once, before opening the device;
// the device validates it and then only reads it (except irq_pending and config_generation).
struct RegionHeader {
  uint32_t magic;              // 0: kRegionMagic
  uint32_t abi_version;        // 4: kAbiVersion
  uint32_t num_queues;         // 8: 2 * queue pairs
  uint32_t queue_size;         // 12: power of two in [2, 32768]
  uint32_t queues_offset;      // 16: kHeaderBytes
  uint32_t queue_stride;       // 20: bytes per queue
  uint32_t pool_offset;        // 24: page aligned
  uint32_t pool_size;          // 28
  uint32_t features;           // 32: bit VIRTIO_RING_F_EVENT_IDX: both sides use event indices
  uint32_t irq_pending;        // 36: 1 while a device->JS interrupt call is in flight (JS clears)
  uint32_t config_generation;  // 40: bumped by the device when any QueueStatus changes
  uint32_t device_status;      // 44: DeviceStatus, written by the device
  uint32_t device_errno;       // 48: errno that put the device in kDeviceBackendLost / kDeviceFailed
  uint32_t device_fault;       // 52: DeviceFault: the call that failed, for kDeviceFailed
  uint32_t reserved[2];        // 56..63
};
static_assert(sizeof(RegionHeader) == 64, "region header ABI");
static_assert(offsetof(RegionHeader, irq_pending) == 36, "region header ABI");
static_assert(offsetof(RegionHeader, config_generation) == 40, "region header ABI");
static_assert(offsetof(RegionHeader, device_status) == 44, "region header ABI");
static_assert(offsetof(RegionHeader, device_errno) == 48, "region header ABI");
static_assert(offsetof(RegionHeader, device_fault) == 52, "region header ABI");

enum DeviceStatus : uint32_t {
  kDeviceOk = 0,
  kDeviceBackendLost = 1,  // the TAP went away (ip link del) or failed; every frame now fails
  kDeviceClosed = 2,
  kDeviceFailed = 3,  // the I/O thread had to stop (device_fault, device_errno); every send now fails
};

// What stopped the I/O thread (RegionHeader.device_fault, with kDeviceFailed). Stable numbers.
enum DeviceFault : uint32_t {
  kFaultNone = 0,
  kFaultEpollWait = 1,  // epoll_wait failed with something other than EINTR
  kFaultEpollCtl = 2,   // epoll_ctl failed: the thread could no longer pause or resume TAP reads
};

// Our one extension to virtio: a transmit chain's used.len (which virtio leaves 0, 2.7.8) carries
// what became of the frame, so a miniport can complete each send with a status.
enum TxStatus : uint32_t {
  kTxSent = 0,          // handed to the backend (TAP write done / delivered into the peer's ring)
  kTxUnbound = 1,       // the queue pair has no VID bound (pairs 1..N-1): dropped
  kTxMalformed = 2,     // shorter than an Ethernet header, or longer than the device takes
  kTxBackendError = 3,  // the backend refused it (write error; TAP gone)
  kTxAborted = 4,       // the queue was reset with the frame still queued in the device
  kTxPeerGone = 5,      // wire: the other end is closed
  kTxDeviceFailed = 6,  // the device's I/O thread stopped (kDeviceFailed): nothing moves any more
};

struct QueueStatus {
  uint32_t state;   // QueueState
  uint32_t error;   // RingError that caused kQueueNeedsReset
  uint32_t detail;  // the offending descriptor index or avail index
  uint32_t vid;     // 802.1Q VID bound to this queue's pair, 0 = untagged / unbound
};
static_assert(sizeof(QueueStatus) == 16, "queue status ABI");
constexpr uint32_t kQueueStatusOff = sizeof(RegionHeader);
static_assert(kQueueStatusOff + kMaxQueues * sizeof(QueueStatus) <= kHeaderBytes, "header fits a page");

constexpr uint32_t align_up(uint32_t v, uint32_t a) { return (v + a - 1) & ~(a - 1); }

struct QueueLayout {
  uint32_t desc_off;   // from the queue's base
  uint32_t avail_off;
  uint32_t used_off;
  uint32_t stride;
};

constexpr QueueLayout queue_layout(uint32_t q) {
  QueueLayout l{};
  l.desc_off = 0;
  l.avail_off = align_up(16 * q, 64);
  l.used_off = align_up(l.avail_off + 6 + 2 * q, 64);
  l.stride = align_up(l.used_off + 6 + 8 * q, 64);
  return l;
}
static_assert(queue_layout(256).avail_off == 4096 && queue_layout(256).used_off == 4672, "layout pinned");
static_assert(queue_layout(256).stride == 6784, "layout pinned");

// Where the pool may start for a device with num_queues queues of size q.
constexpr uint32_t pool_offset_for(uint32_t num_queues, uint32_t q) {
  return align_up(kHeaderBytes + num_queues * queue_layout(q).stride, 4096);
}

// virtio-net queue numbering (5.1.2): queue pair k = receiveq k (queue 2k) + transmitq k (2k+1).
constexpr uint32_t rx_queue_of(uint32_t pair) { return 2 * pair; }
constexpr uint32_t tx_queue_of(uint32_t pair) { return 2 * pair + 1; }
constexpr uint32_t pair_of(uint32_t queue) { return queue / 2; }
constexpr bool is_tx_queue(uint32_t queue) { return (queue & 1) != 0; }

inline bool is_pow2(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

// vring_need_event (virtio 2.7.10): true if new_idx has passed event_idx since old_idx.
inline bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) {
  return static_cast<uint16_t>(new_idx - event_idx - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

// ---- the device side of one split virtqueue ---------------------------------------------------

constexpr uint32_t kMaxChainSegments = 64;  // a frame gathers at most this many descriptors

struct Segment {
  uint8_t* ptr;  // inside the pool, checked
  uint32_t len;
};

struct Chain {
  uint16_t head;
  uint16_t nseg;
  uint32_t total;  // sum of segment lengths
  Segment seg[kMaxChainSegments];
};

enum class PopResult { kChain, kEmpty, kBroken };

// DeviceQueue owns the device's private view of a queue (last_avail, used idx shadow) and every
// access to the shared ring on the device side. It trusts nothing in the region: every index and
// every descriptor is checked before use (the checks an IOMMU would make).
// Not thread-safe: the caller holds the lock that owns this queue.
class DeviceQueue {
 public:
  // region/region_len: the pinned SharedArrayBuffer. Validated by RegionLayout beforehand.
  void init(uint8_t* region, size_t region_len, const RegionHeader& hdr, uint32_t index, bool is_tx);

  uint32_t index() const { return index_; }
  bool ready() const;
  QueueState state() const;

  // Number of chains the driver has made available and the device has not taken, or -1 (and the
  // queue goes to NEEDS_RESET) if avail.idx is more than queue_size ahead.
  int pending();

  // Takes the next available chain, validated. kBroken means the queue is now NEEDS_RESET.
  PopResult pop(Chain* out);

  // Gives a taken chain back unused (the device changed its mind); only the last popped one.
  void unpop() { last_avail_--; }

  // Writes a used element (not yet visible to the driver).
  void push_used(uint16_t head, uint32_t len);

  // Makes pushed used elements visible. Returns true if the driver wants an interrupt.
  bool publish_used();

  // Before the device sleeps: ask to be kicked when new buffers arrive. Returns true if buffers
  // arrived meanwhile (the caller must not sleep).
  bool enable_kick();

  // Virtio 1.2 queue reset (2.6.1): forget everything; indices back to 0; state kQueueDisabled
  // or kQueueReady per `enable`. Chains the device held are the driver's again.
  void reset(bool enable);

  // Marks the queue NEEDS_RESET with a reason. Idempotent.
  void fail(RingError err, uint32_t detail);

  // Records the VID bound to this queue's pair, for the driver to read (QueueStatus.vid).
  void set_vid(uint32_t vid) { __atomic_store_n(&status_->vid, vid, __ATOMIC_RELAXED); }  // ORDERING: informational

  uint32_t size() const { return q_; }
  // Whether the device has taken a chain since the last reset: the driver uses this queue (a
  // receive queue so marked is one whose driver will post more buffers, worth waiting for).
  bool taken_since_reset() const { return taken_since_reset_; }
  // The used index the driver can see (published), e.g. to count entries a reset will discard.
  uint16_t used_published() const { return used_published_; }

 private:
  uint16_t avail_idx_acquire() const;
  bool check_range(uint64_t addr, uint32_t len) const;

  uint8_t* region_ = nullptr;
  VirtqDesc* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  QueueStatus* status_ = nullptr;
  uint32_t* config_generation_ = nullptr;
  uint32_t q_ = 0;
  uint32_t index_ = 0;
  uint32_t pool_lo_ = 0;
  uint64_t pool_hi_ = 0;
  bool is_tx_ = false;
  bool event_idx_ = false;
  uint16_t last_avail_ = 0;     // next avail entry the device will take
  uint16_t used_shadow_ = 0;    // used idx including unpublished entries
  uint16_t used_published_ = 0; // used idx the driver can see
  bool taken_since_reset_ = false;
};

// Checks a region header against the buffer the addon was given. Returns kRingOk or explains in
// *why (a static string). Run once at open; the device re-reads nothing from the header after.
bool validate_region(const uint8_t* region, size_t len, const char** why);

}  // namespace condis
