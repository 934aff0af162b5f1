// virtq.cc — the device side of a split virtqueue (virtio 1.2, 2.7), treating the driver's ring
// as untrusted input. See virtq.h for the layout.
#include "virtq.h"

#include <cstring>

namespace condis {

namespace {

inline uint16_t load_u16_acquire(const uint8_t* p) {
  // ORDERING: acquire pairs with the driver's Atomics.store of the index, so ring entries and
  // descriptors written before it are visible after it.
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_ACQUIRE);
}

inline uint16_t load_u16_relaxed(const uint8_t* p) {
  // ORDERING: relaxed: a plain read of a u16 the driver owns; validated before use.
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_RELAXED);
}

inline void store_u16_release(uint8_t* p, uint16_t v) {
  // ORDERING: release publishes the used elements written before it to the driver's Atomics.load.
  __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, __ATOMIC_RELEASE);
}

inline void store_u16_relaxed(uint8_t* p, uint16_t v) {
  // ORDERING: relaxed; the fence that follows at the call site orders it.
  __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, __ATOMIC_RELAXED);
}

}  // namespace

bool validate_region(const uint8_t* region, size_t len, const char** why) {
  if (len < kHeaderBytes) {
    *why = "region smaller than its 4096-byte header";
    return false;
  }
  RegionHeader h;
  // SAFETY: len >= kHeaderBytes >= sizeof(RegionHeader); copied once so later JS writes cannot
  // change what was validated.
  std::memcpy(&h, region, sizeof h);
  if (h.magic != kRegionMagic) { *why = "bad region magic (not written by lib/virtio/region.ts?)"; return false; }
  if (h.abi_version != kAbiVersion) { *why = "region ABI version differs from the addon's"; return false; }
  if (h.num_queues < 2 || h.num_queues > kMaxQueues || (h.num_queues & 1) != 0) {
    *why = "num_queues must be an even number from 2 to 128";
    return false;
  }
  if (!is_pow2(h.queue_size) || h.queue_size < kMinQueueSize || h.queue_size > kMaxQueueSize) {
    *why = "queue_size must be a power of two from 2 to 32768";
    return false;
  }
  const QueueLayout ql = queue_layout(h.queue_size);
  if (h.queues_offset != kHeaderBytes || h.queue_stride != ql.stride) {
    *why = "queue offsets differ from the layout in native/virtq.h";
    return false;
  }
  const uint64_t queues_end = uint64_t{kHeaderBytes} + uint64_t{h.num_queues} * ql.stride;
  if (h.pool_offset < queues_end || (h.pool_offset & 4095) != 0) {
    *why = "pool overlaps the queues or is not page aligned";
    return false;
  }
  if (uint64_t{h.pool_offset} + h.pool_size > len || h.pool_size == 0) {
    *why = "buffer pool does not fit inside the region";
    return false;
  }
  return true;
}

void DeviceQueue::init(uint8_t* region, size_t region_len, const RegionHeader& hdr, uint32_t index,
                       bool is_tx) {
  (void)region_len;  // validate_region() already proved every offset below lies inside it
  region_ = region;
  q_ = hdr.queue_size;
  index_ = index;
  is_tx_ = is_tx;
  event_idx_ = (hdr.features >> VIRTIO_RING_F_EVENT_IDX) & 1;
  pool_lo_ = hdr.pool_offset;
  pool_hi_ = uint64_t{hdr.pool_offset} + hdr.pool_size;
  const QueueLayout ql = queue_layout(q_);
  // SAFETY: queues_offset + (index+1)*stride <= pool_offset <= region_len (validate_region).
  uint8_t* base = region + hdr.queues_offset + size_t{index} * ql.stride;
  desc_ = reinterpret_cast<VirtqDesc*>(base + ql.desc_off);
  avail_ = base + ql.avail_off;
  used_ = base + ql.used_off;
  // SAFETY: index < num_queues <= kMaxQueues and the status array fits the header page.
  status_ = reinterpret_cast<QueueStatus*>(region + kQueueStatusOff) + index;
  config_generation_ = &reinterpret_cast<RegionHeader*>(region)->config_generation;
  reset(false);
}

QueueState DeviceQueue::state() const {
  // ORDERING: relaxed; only the device writes status, and only from threads holding this queue's lock.
  return static_cast<QueueState>(__atomic_load_n(&status_->state, __ATOMIC_RELAXED));
}

bool DeviceQueue::ready() const { return state() == kQueueReady; }

uint16_t DeviceQueue::avail_idx_acquire() const { return load_u16_acquire(avail_ + kAvailIdxOff); }

void DeviceQueue::fail(RingError err, uint32_t detail) {
  if (state() == kQueueNeedsReset) return;
  // ORDERING: relaxed stores (JS reads these words with Atomics from another thread: plain
  // stores would be a data race), ordered before the state by the release below.
  __atomic_store_n(&status_->error, static_cast<uint32_t>(err), __ATOMIC_RELAXED);
  __atomic_store_n(&status_->detail, detail, __ATOMIC_RELAXED);
  // ORDERING: release so JS sees error/detail once it sees the state (it reads state first).
  __atomic_store_n(&status_->state, static_cast<uint32_t>(kQueueNeedsReset), __ATOMIC_RELEASE);
  // ORDERING: seq_cst bump; JS compares generations after an interrupt to find changed queues.
  __atomic_add_fetch(config_generation_, 1, __ATOMIC_SEQ_CST);
}

int DeviceQueue::pending() {
  if (!ready()) return 0;
  const uint16_t avail = avail_idx_acquire();
  const uint16_t n = static_cast<uint16_t>(avail - last_avail_);
  if (n > q_) {  // virtio 2.7.13.3: the driver can never be more than a queue ahead
    fail(kRingAvailIdxTooFar, avail);
    return -1;
  }
  return n;
}

bool DeviceQueue::check_range(uint64_t addr, uint32_t len) const {
  // Overflow-safe: addr and len are both bounded before the sum is formed.
  return addr >= pool_lo_ && addr < pool_hi_ && len <= pool_hi_ - addr;
}

PopResult DeviceQueue::pop(Chain* out) {
  const int n = pending();
  if (n < 0) return PopResult::kBroken;
  if (n == 0) return PopResult::kEmpty;
  // SAFETY: slot < q_, and the avail ring holds q_ u16 entries after its 4-byte header.
  const uint16_t head = load_u16_relaxed(avail_ + kAvailRingOff + 2 * (last_avail_ & (q_ - 1)));
  if (head >= q_) {
    fail(kRingHeadOutOfRange, head);
    return PopResult::kBroken;
  }
  out->head = head;
  out->nseg = 0;
  out->total = 0;
  uint32_t idx = head;
  uint32_t steps = 0;
  uint16_t seen[kMaxChainSegments];  // descriptors of this chain, to name a loop as a loop
  for (;;) {
    if (++steps > q_) {  // a chain can hold at most q_ distinct descriptors: more means a loop
      fail(kRingChainLoop, head);
      return PopResult::kBroken;
    }
    // SAFETY: idx < q_ checked (head above, next below); the table holds q_ descriptors.
    VirtqDesc d;
    std::memcpy(&d, &desc_[idx], sizeof d);  // one snapshot: the driver may scribble meanwhile
    if (d.flags & VIRTQ_DESC_F_INDIRECT) {
      fail(kRingIndirectUnsupported, idx);
      return PopResult::kBroken;
    }
    const bool writable = (d.flags & VIRTQ_DESC_F_WRITE) != 0;
    if (is_tx_ && writable) {
      fail(kRingWriteOnlyInTx, idx);
      return PopResult::kBroken;
    }
    if (!is_tx_ && !writable) {
      fail(kRingReadOnlyInRx, idx);
      return PopResult::kBroken;
    }
    if (d.len == 0) {
      fail(kRingZeroLength, idx);
      return PopResult::kBroken;
    }
    if (!check_range(d.addr, d.len)) {
      fail(kRingDescOutOfPool, idx);
      return PopResult::kBroken;
    }
    if (out->nseg == kMaxChainSegments) {
      fail(kRingChainTooLong, head);
      return PopResult::kBroken;
    }
    // 16 MiB per frame is far beyond any MTU: treat as abuse. Checked before the add, so the
    // u32 total can never wrap (a pool may be almost 4 GiB).
    if (d.len > (1u << 24) - out->total) {
      fail(kRingChainTooLong, head);
      return PopResult::kBroken;
    }
    // SAFETY: [addr, addr+len) lies inside the pool, which lies inside the region.
    seen[out->nseg] = static_cast<uint16_t>(idx);
    out->seg[out->nseg++] = Segment{region_ + d.addr, d.len};
    out->total += d.len;
    if (!(d.flags & VIRTQ_DESC_F_NEXT)) break;
    if (d.next >= q_) {
      fail(kRingNextOutOfRange, idx);
      return PopResult::kBroken;
    }
    for (uint32_t k = 0; k < out->nseg; k++) {  // chains are 1-2 descriptors: a short scan
      if (seen[k] == d.next) {
        fail(kRingChainLoop, head);
        return PopResult::kBroken;
      }
    }
    idx = d.next;
  }
  last_avail_++;
  taken_since_reset_ = true;
  return PopResult::kChain;
}

void DeviceQueue::push_used(uint16_t head, uint32_t len) {
  // SAFETY: slot < q_; the used ring holds q_ 8-byte elements after its 4-byte header.
  VirtqUsedElem e{head, len};
  std::memcpy(used_ + kUsedRingOff + 8 * size_t(used_shadow_ & (q_ - 1)), &e, sizeof e);
  used_shadow_++;
}

bool DeviceQueue::publish_used() {
  if (used_shadow_ == used_published_) return false;
  const uint16_t old = used_published_;
  store_u16_release(used_ + kUsedIdxOff, used_shadow_);
  used_published_ = used_shadow_;
  // ORDERING: full fence between publishing used.idx and reading used_event, the mirror of the
  // driver's store(used_event)/load(used.idx) pair (virtio 2.7.10); without it an interrupt can be lost.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (!event_idx_) {
    // 2.7.7: VIRTQ_AVAIL_F_NO_INTERRUPT in avail.flags suppresses interrupts.
    return (load_u16_relaxed(avail_ + kAvailFlagsOff) & 1) == 0;
  }
  // SAFETY: used_event sits right after avail.ring[q_].
  const uint16_t used_event = load_u16_relaxed(avail_ + kAvailRingOff + 2 * q_);
  return vring_need_event(used_event, used_published_, old);
}

bool DeviceQueue::enable_kick() {
  if (!ready()) return false;
  if (event_idx_) {
    // SAFETY: avail_event sits right after used.ring[q_].
    store_u16_relaxed(used_ + kUsedRingOff + 8 * size_t(q_), last_avail_);
  } else {
    store_u16_relaxed(used_ + kUsedFlagsOff, 0);  // clear VIRTQ_USED_F_NO_NOTIFY
  }
  // ORDERING: full fence: the avail_event store must be visible before we re-read avail.idx,
  // or a driver that published in between would skip its kick and we would sleep (2.7.10).
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return pending() > 0;
}

void DeviceQueue::reset(bool enable) {
  last_avail_ = 0;
  taken_since_reset_ = false;
  used_shadow_ = 0;
  used_published_ = 0;
  store_u16_release(used_ + kUsedIdxOff, 0);
  store_u16_relaxed(used_ + kUsedFlagsOff, 0);
  // SAFETY: avail_event follows used.ring[q_].
  store_u16_relaxed(used_ + kUsedRingOff + 8 * size_t(q_), 0);
  // The avail index belongs to the driver, but after a reset both sides start from 0 (2.6.1.3.2);
  // zeroing it here lets the driver re-add buffers as soon as this call returns.
  store_u16_release(avail_ + kAvailIdxOff, 0);
  // ORDERING: relaxed, as in fail(); published by the release store of the state below.
  __atomic_store_n(&status_->error, static_cast<uint32_t>(kRingOk), __ATOMIC_RELAXED);
  __atomic_store_n(&status_->detail, 0u, __ATOMIC_RELAXED);
  // ORDERING: release: JS reading state==READY sees the zeroed indices.
  __atomic_store_n(&status_->state, static_cast<uint32_t>(enable ? kQueueReady : kQueueDisabled),
                   __ATOMIC_RELEASE);
  // ORDERING: seq_cst bump so JS notices the status change.
  __atomic_add_fetch(config_generation_, 1, __ATOMIC_SEQ_CST);
}

}  // namespace condis
