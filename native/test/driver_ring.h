// driver_ring.h — the DRIVER half of the rings, in C++, for the native tests (virtq_test.cc,
// device_test.cc): a region laid out exactly as lib/virtio/region.ts createRegion() lays it out,
// raw pokes at a queue's driver-owned words (for malformed rings on purpose), and a small
// free-list driver (post / publish / harvest) for moving real frames through a Device.
//
// Ordering follows lib/virtio/driver-queue.ts: descriptors and avail ring entries are written
// first, avail.idx is published with a release store; used.idx is read with an acquire load
// before the used elements (and receive buffers) behind it; event-index words go through a
// seq-cst fence on both sides (virtio 1.2, 2.7.10).
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "../virtq.h"

namespace drv {

using condis::QueueLayout;
using condis::QueueStatus;
using condis::RegionHeader;
using condis::VirtqDesc;
using condis::VirtqUsedElem;

struct Geometry {
  uint32_t pairs = 1;
  uint32_t queue_size = 16;
  uint32_t buffer_size = 256;      // bytes per pool slot, a multiple of 64 (region.ts bufferSize)
  uint32_t buffers_per_queue = 0;  // 0 = queue_size (region.ts default)
  bool event_idx = true;           // region.ts always sets it
  // false: posix_memalign'ed to 4096 with exactly the region's length, so ASan's redzone starts
  //        at the first byte past the pool.
  // true : an anonymous mapping (page granular) that a test can mprotect() to model "JS freed
  //        the SharedArrayBuffer".
  bool use_mmap = false;
};

// The header exactly as createRegion() writes it; everything else zero.
inline void write_header(uint8_t* p, uint32_t num_queues, uint32_t q, uint32_t pool_offset,
                         uint32_t pool_size, uint32_t features) {
  RegionHeader h{};
  h.magic = condis::kRegionMagic;
  h.abi_version = condis::kAbiVersion;
  h.num_queues = num_queues;
  h.queue_size = q;
  h.queues_offset = condis::kHeaderBytes;
  h.queue_stride = condis::queue_layout(q).stride;
  h.pool_offset = pool_offset;
  h.pool_size = pool_size;
  h.features = features;
  std::memcpy(p, &h, sizeof h);
}

class Region {
 public:
  explicit Region(const Geometry& g) : g_(g) {
    num_queues_ = 2 * g.pairs;
    bpq_ = g.buffers_per_queue != 0 ? g.buffers_per_queue : g.queue_size;
    pool_offset_ = condis::pool_offset_for(num_queues_, g.queue_size);
    pool_size_ = num_queues_ * bpq_ * g.buffer_size;
    len_ = size_t{pool_offset_} + pool_size_;
    if (g.use_mmap) {
      map_len_ = (len_ + 4095) & ~size_t{4095};
      void* m = mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) throw std::bad_alloc();
      p_ = static_cast<uint8_t*>(m);
    } else {
      void* m = nullptr;
      if (posix_memalign(&m, 4096, len_) != 0) throw std::bad_alloc();
      p_ = static_cast<uint8_t*>(m);
      std::memset(p_, 0, len_);
    }
    write_header(p_, num_queues_, g.queue_size, pool_offset_, pool_size_,
                 g.event_idx ? (1u << condis::VIRTIO_RING_F_EVENT_IDX) : 0u);
  }
  ~Region() {
    if (g_.use_mmap) {
      munmap(p_, map_len_);
    } else {
      std::free(p_);
    }
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  uint8_t* data() const { return p_; }
  size_t size() const { return len_; }
  size_t mapped_size() const { return g_.use_mmap ? map_len_ : len_; }
  const Geometry& geometry() const { return g_; }
  uint32_t num_queues() const { return num_queues_; }
  uint32_t queue_size() const { return g_.queue_size; }
  uint32_t pool_offset() const { return pool_offset_; }
  uint32_t pool_size() const { return pool_size_; }
  uint64_t pool_end() const { return uint64_t{pool_offset_} + pool_size_; }
  uint32_t buffer_size() const { return g_.buffer_size; }
  uint32_t buffers_per_queue() const { return bpq_; }
  // Region offset of pool slot k of queue `queue` (region.ts: slots handed out per queue).
  uint32_t slot(uint32_t queue, uint32_t k) const {
    return pool_offset_ + (queue * bpq_ + k) * g_.buffer_size;
  }
  RegionHeader* hdr() const { return reinterpret_cast<RegionHeader*>(p_); }
  QueueStatus* status(uint32_t q) const {
    return reinterpret_cast<QueueStatus*>(p_ + condis::kQueueStatusOff) + q;
  }
  uint32_t state(uint32_t q) const { return __atomic_load_n(&status(q)->state, __ATOMIC_ACQUIRE); }
  uint32_t error(uint32_t q) const { return __atomic_load_n(&status(q)->error, __ATOMIC_RELAXED); }
  uint32_t detail(uint32_t q) const { return __atomic_load_n(&status(q)->detail, __ATOMIC_RELAXED); }
  uint32_t vid(uint32_t q) const { return __atomic_load_n(&status(q)->vid, __ATOMIC_RELAXED); }
  uint32_t generation() const { return __atomic_load_n(&hdr()->config_generation, __ATOMIC_SEQ_CST); }
  uint32_t device_status() const { return __atomic_load_n(&hdr()->device_status, __ATOMIC_ACQUIRE); }

 private:
  Geometry g_;
  uint8_t* p_ = nullptr;
  size_t len_ = 0;
  size_t map_len_ = 0;
  uint32_t num_queues_ = 0;
  uint32_t bpq_ = 0;
  uint32_t pool_offset_ = 0;
  uint32_t pool_size_ = 0;
};

// Raw access to one queue's words at the ABI's offsets; nothing is checked (a hostile driver).
class RawQueue {
 public:
  RawQueue(uint8_t* region, uint32_t index) {
    RegionHeader h;
    std::memcpy(&h, region, sizeof h);
    q_ = h.queue_size;
    const QueueLayout l = condis::queue_layout(q_);
    base_ = region + h.queues_offset + size_t{index} * l.stride;
    desc_ = base_ + l.desc_off;
    avail_ = base_ + l.avail_off;
    used_ = base_ + l.used_off;
    stride_ = l.stride;
  }

  uint32_t size() const { return q_; }
  uint8_t* base() const { return base_; }
  uint32_t stride() const { return stride_; }

  void desc(uint32_t d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    VirtqDesc v{addr, len, flags, next};
    std::memcpy(desc_ + 16 * size_t{d}, &v, sizeof v);
  }
  VirtqDesc get_desc(uint32_t d) const {
    VirtqDesc v;
    std::memcpy(&v, desc_ + 16 * size_t{d}, sizeof v);
    return v;
  }
  // avail.ring[avail_idx & (q-1)] = head (not yet published).
  void avail(uint16_t avail_idx, uint16_t head) {
    __atomic_store_n(u16(avail_ + condis::kAvailRingOff + 2 * (avail_idx & (q_ - 1))), head, __ATOMIC_RELAXED);
  }
  // Publishes: release, so the descriptors and ring entries written before are visible.
  void set_avail_idx(uint16_t v) { __atomic_store_n(u16(avail_ + condis::kAvailIdxOff), v, __ATOMIC_RELEASE); }
  uint16_t avail_idx() const { return __atomic_load_n(u16(avail_ + condis::kAvailIdxOff), __ATOMIC_RELAXED); }
  void set_avail_flags(uint16_t v) { __atomic_store_n(u16(avail_ + condis::kAvailFlagsOff), v, __ATOMIC_RELAXED); }
  void set_used_event(uint16_t v) {
    __atomic_store_n(u16(avail_ + condis::kAvailRingOff + 2 * q_), v, __ATOMIC_SEQ_CST);
  }
  uint16_t used_event() const { return __atomic_load_n(u16(avail_ + condis::kAvailRingOff + 2 * q_), __ATOMIC_RELAXED); }

  uint16_t used_idx() const { return __atomic_load_n(u16(used_ + condis::kUsedIdxOff), __ATOMIC_ACQUIRE); }
  uint16_t used_flags() const { return __atomic_load_n(u16(used_ + condis::kUsedFlagsOff), __ATOMIC_RELAXED); }
  void set_used_flags(uint16_t v) { __atomic_store_n(u16(used_ + condis::kUsedFlagsOff), v, __ATOMIC_RELAXED); }
  uint16_t avail_event() const {
    return __atomic_load_n(u16(used_ + condis::kUsedRingOff + 8 * size_t{q_}), __ATOMIC_SEQ_CST);
  }
  void set_avail_event(uint16_t v) {
    __atomic_store_n(u16(used_ + condis::kUsedRingOff + 8 * size_t{q_}), v, __ATOMIC_RELAXED);
  }
  // The used element at used index i (read it after used_idx() says it is there).
  VirtqUsedElem used(uint16_t i) const {
    VirtqUsedElem e;
    std::memcpy(&e, used_ + condis::kUsedRingOff + 8 * size_t(i & (q_ - 1)), sizeof e);
    return e;
  }

 private:
  static uint16_t* u16(uint8_t* p) { return reinterpret_cast<uint16_t*>(p); }
  uint32_t q_ = 0;
  uint32_t stride_ = 0;
  uint8_t* base_ = nullptr;
  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
};

// A well-behaved driver for one queue: descriptor d always uses pool slot d of this queue (so
// buffers_per_queue must be >= queue_size), a free list of descriptors, chains of 1..n segments.
class DriverQueue {
 public:
  struct Done {
    uint16_t head;
    uint32_t len;                 // used.len
    uint64_t token;               // what post_*() was given
    std::vector<uint8_t> data;    // receive chains: the first `len` bytes gathered
  };

  DriverQueue(Region& r, uint32_t index) : r_(r), raw_(r.data(), index), index_(index) { reset_shadow(); }

  uint32_t index() const { return index_; }
  RawQueue& raw() { return raw_; }
  uint32_t free_descs() const { return static_cast<uint32_t>(free_.size()); }
  uint32_t outstanding() const { return static_cast<uint32_t>(r_.queue_size() - free_.size()); }
  uint16_t avail_shadow() const { return avail_shadow_; }
  uint16_t last_used() const { return last_used_; }

  // Forget everything (after the device reset the queue: indices are 0 on both sides).
  void reset_shadow() {
    free_.clear();
    for (uint32_t d = r_.queue_size(); d-- > 0;) free_.push_back(static_cast<uint16_t>(d));
    chains_.assign(r_.queue_size(), Chain{});
    avail_shadow_ = 0;
    published_ = 0;
    last_used_ = 0;
  }

  // A transmit chain carrying `frame`, split into `nseg` nearly equal segments. Not yet published.
  bool add_tx(const uint8_t* frame, uint32_t len, uint32_t nseg, uint64_t token) {
    if (nseg == 0) nseg = 1;
    if (free_.size() < nseg) return false;
    std::vector<uint16_t> ds;
    uint32_t off = 0;
    for (uint32_t s = 0; s < nseg; s++) {
      const uint32_t part = (s + 1 == nseg) ? len - off : len / nseg;
      if (part > r_.buffer_size()) return give_back(ds);
      const uint16_t d = take();
      ds.push_back(d);
      std::memcpy(r_.data() + r_.slot(index_, d), frame + off, part);
      off += part;
    }
    link(ds, len / nseg, len, /*write=*/false);
    return commit(ds, token);
  }

  // A receive chain of `nseg` writable segments of `seg_len` bytes each (<= buffer_size).
  bool add_rx(uint32_t nseg, uint32_t seg_len, uint64_t token) {
    if (nseg == 0) nseg = 1;
    if (free_.size() < nseg || seg_len > r_.buffer_size() || seg_len == 0) return false;
    std::vector<uint16_t> ds;
    for (uint32_t s = 0; s < nseg; s++) {
      const uint16_t d = take();
      ds.push_back(d);
      std::memset(r_.data() + r_.slot(index_, d), 0xee, seg_len);  // poison: stale bytes show
    }
    link(ds, seg_len, seg_len * nseg, /*write=*/true);
    return commit(ds, token);
  }

  // Makes the added chains available. Returns true if the device asked to be kicked (2.7.10 with
  // EVENT_IDX; VIRTQ_USED_F_NO_NOTIFY clear without).
  bool publish() {
    const uint16_t old = published_;
    const uint16_t neu = avail_shadow_;
    if (old == neu) return false;
    raw_.set_avail_idx(neu);
    published_ = neu;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);  // avail.idx store before the avail_event load
    if (!r_.geometry().event_idx) return (raw_.used_flags() & 1) == 0;
    return condis::vring_need_event(raw_.avail_event(), neu, old);
  }

  // Takes every published used element. Returns how many; appends them to *out (if non-null).
  // Re-arms used_event at the new position so the device asks for an interrupt on the next one.
  size_t harvest(std::vector<Done>* out, bool gather = true) {
    const uint16_t used = raw_.used_idx();  // acquire
    size_t n = 0;
    while (last_used_ != used) {
      const VirtqUsedElem e = raw_.used(last_used_);
      last_used_++;
      n++;
      if (e.id >= r_.queue_size() || chains_[e.id].descs.empty()) {
        bad_used_++;
        continue;
      }
      Chain& c = chains_[e.id];
      if (out != nullptr) {
        Done d;
        d.head = static_cast<uint16_t>(e.id);
        d.len = e.len;
        d.token = c.token;
        if (gather && c.write) {
          uint32_t left = e.len;
          for (uint16_t ds : c.descs) {
            const VirtqDesc v = raw_.get_desc(ds);
            const uint32_t take = left < v.len ? left : v.len;
            const uint8_t* p = r_.data() + r_.slot(index_, ds);
            d.data.insert(d.data.end(), p, p + take);
            left -= take;
            if (left == 0) break;
          }
        }
        out->push_back(std::move(d));
      }
      for (uint16_t ds : c.descs) free_.push_back(ds);
      c = Chain{};
    }
    raw_.set_used_event(last_used_);
    return n;
  }

  uint32_t bad_used() const { return bad_used_; }

 private:
  struct Chain {
    std::vector<uint16_t> descs;
    uint64_t token = 0;
    bool write = false;
  };

  uint16_t take() {
    const uint16_t d = free_.back();
    free_.pop_back();
    return d;
  }
  bool give_back(const std::vector<uint16_t>& ds) {
    for (uint16_t d : ds) free_.push_back(d);
    return false;
  }
  void link(const std::vector<uint16_t>& ds, uint32_t part, uint32_t total, bool write) {
    uint32_t off = 0;
    for (size_t s = 0; s < ds.size(); s++) {
      const bool last = s + 1 == ds.size();
      const uint32_t len = last ? total - off : part;
      uint16_t flags = write ? condis::VIRTQ_DESC_F_WRITE : 0;
      if (!last) flags |= condis::VIRTQ_DESC_F_NEXT;
      raw_.desc(ds[s], r_.slot(index_, ds[s]), len, flags, last ? 0 : ds[s + 1]);
      off += len;
    }
  }
  bool commit(const std::vector<uint16_t>& ds, uint64_t token) {
    Chain& c = chains_[ds[0]];
    c.descs = ds;
    c.token = token;
    c.write = (raw_.get_desc(ds[0]).flags & condis::VIRTQ_DESC_F_WRITE) != 0;
    raw_.avail(avail_shadow_, ds[0]);
    avail_shadow_++;
    return true;
  }

  Region& r_;
  RawQueue raw_;
  uint32_t index_;
  std::vector<uint16_t> free_;
  std::vector<Chain> chains_;  // by head
  uint16_t avail_shadow_ = 0;
  uint16_t published_ = 0;
  uint16_t last_used_ = 0;
  uint32_t bad_used_ = 0;
};

}  // namespace drv
