// device_queue.cc — libFuzzer target: the device side of one split virtqueue (native/virtq.cc,
// DeviceQueue) over ring memory and an op script the fuzzer writes: a hostile driver.
//
// What it proves, for every input:
//   - memory: the region starts a heap block whose bytes past the region are poisoned (ASan's
//     redzone lies before its first byte; see arena_for), and while DeviceQueue runs every byte of
//     the region except the queue's own descriptor table, avail ring, used ring, QueueStatus and
//     the config_generation word is ASan-poisoned too: a device read or write anywhere else
//     (another queue, the header, the pool) is a report, not a silent pass.
//   - behaviour: a reference model written from virtq.h (the checks in the order
//     test/helpers/device-ring.ts documents, u64/bool arithmetic, no code shared with virtq.cc)
//     runs beside it. Each op's result (pop kind and the chain's every segment, pending count,
//     publish/kick answers) must equal the model's, and after each op the region up to the pool
//     must equal a shadow copy holding the driver's writes plus the device writes the model predicts (used
//     ring, QueueStatus, config_generation, avail.idx on reset). An accepted chain therefore lies
//     inside the pool by construction of the model, and a rejected one names the error and detail
//     the model names.
//
// Input (native/fuzz/fuzz_input.h; missing bytes read as 0):
//   u8 geometry  bits 0-2: queue size 2 << (b & 7), 2..256
//                bit 3: transmit queue (else receive)    bit 4: VIRTIO_RING_F_EVENT_IDX
//                bit 5: near mode: descriptor addr/len/next and avail heads are folded onto the
//                       pool's edges and the queue size (a value with its top bit set stays raw),
//                       so chains that are valid or just invalid are common, not rare
//                bit 6: the queue is in pair 1 (queue 2 or 3 of 4), else pair 0
//                bit 7: header mode instead (see run_header below): validate_region over a header
//                       the fuzzer writes, and every queue of a region it accepts
//   u8 pool      pool size ((b & 0x7f) + 1) * 16 bytes, times 512 if bit 7 (up to 1 MiB: chains
//                of 64 large segments reach the 16 MiB ChainTooLong limit)
//   u8 ndesc     descriptors given next (at most the queue size; the rest are zero)
//   ndesc x 16   descriptors: addr u64, len u32, flags u16, next u16
//   u16 avail.flags, u16 avail.idx, u16 used_event
//   u8 nring     avail ring entries given next (at most the queue size), u16 each
//   ops until the input ends (at most 512), one byte each (b % 11) and its arguments:
//     0 pop                        1 push_used(taken[u8], len u32)   2 publish_used
//     3 enable_kick                4 reset(u8 & 1)                   5 unpop (after a good pop)
//     6 avail.idx += u8            7 avail.ring[u8] = u16 (folded)   8 desc[u8] = 16 bytes (folded)
//     9 pending                    10 avail.flags = u16, used_event = u16
// The queue starts as Device::start leaves it: init, then reset(true); the ring image is written
// after that (the reset zeroes avail.idx).
#include <sanitizer/asan_interface.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../virtq.h"
#include "fuzz_input.h"

using namespace condis;
using condis_fuzz::Input;

namespace {

constexpr uint32_t kNumQueues = 4;
constexpr uint64_t kMaxFrameBytes = 1u << 24;  // virtq.cc: a chain over 16 MiB is abuse
constexpr unsigned kMaxOps = 512;

[[noreturn]] void die(const char* what, unsigned op, long a, long b) {
  std::fprintf(stderr, "device_queue: op %u: %s (device %ld, model %ld)\n", op, what, a, b);
  std::abort();
}

struct Fixture {
  uint8_t* region = nullptr;
  size_t len = 0;
  uint32_t q = 0;
  uint32_t qi = 0;
  bool is_tx = false;
  bool event_idx = false;
  bool near = false;
  uint32_t pool_lo = 0;
  uint32_t pool_size = 0;
  uint32_t qbase = 0;  // region offset of the queue
  QueueLayout ql{};
  std::vector<uint8_t> shadow;  // what the region must hold before the pool (the pool: untouched)

  // ---- region offsets of the queue's words ----
  uint32_t desc_off(uint32_t d) const { return qbase + ql.desc_off + 16 * d; }
  uint32_t avail_flags_off() const { return qbase + ql.avail_off + kAvailFlagsOff; }
  uint32_t avail_idx_off() const { return qbase + ql.avail_off + kAvailIdxOff; }
  uint32_t avail_ring_off(uint32_t slot) const { return qbase + ql.avail_off + kAvailRingOff + 2 * slot; }
  uint32_t used_event_off() const { return avail_ring_off(q); }
  uint32_t used_flags_off() const { return qbase + ql.used_off + kUsedFlagsOff; }
  uint32_t used_idx_off() const { return qbase + ql.used_off + kUsedIdxOff; }
  uint32_t used_ring_off(uint32_t slot) const { return qbase + ql.used_off + kUsedRingOff + 8 * slot; }
  uint32_t avail_event_off() const { return used_ring_off(q); }
  uint32_t status_off() const { return kQueueStatusOff + sizeof(QueueStatus) * qi; }
  static constexpr uint32_t kGenerationOff = offsetof(RegionHeader, config_generation);

  // ---- the shadow: plain little-endian reads and writes ----
  uint16_t s16(uint32_t off) const {
    uint16_t v;
    std::memcpy(&v, &shadow[off], 2);
    return v;
  }
  uint32_t s32(uint32_t off) const {
    uint32_t v;
    std::memcpy(&v, &shadow[off], 4);
    return v;
  }
  void put16(uint32_t off, uint16_t v) { std::memcpy(&shadow[off], &v, 2); }
  void put32(uint32_t off, uint32_t v) { std::memcpy(&shadow[off], &v, 4); }

  // A driver write: into the region and the shadow alike.
  void driver_write(uint32_t off, const void* p, size_t n) {
    std::memcpy(&shadow[off], p, n);
    // SAFETY: off + n <= len; every caller names a word of this queue's driver-owned parts.
    std::memcpy(region + off, p, n);
  }
  void driver_write16(uint32_t off, uint16_t v) { driver_write(off, &v, 2); }

  // Folds a fuzzer value onto the interesting edges in near mode (top bit set: left raw).
  uint64_t fold_addr(uint64_t raw) const {
    if (!near || (raw >> 63) != 0) return raw;
    return uint64_t{pool_lo} - 16 + raw % (uint64_t{pool_size} + 32);
  }
  uint32_t fold_len(uint32_t raw) const {
    if (!near || (raw >> 31) != 0) return raw;
    return raw % (pool_size + 17);
  }
  uint16_t fold_index(uint16_t raw) const {
    if (!near || (raw >> 15) != 0) return raw;
    return static_cast<uint16_t>(raw % (q + 1));
  }
  void write_desc(uint32_t d, Input& in) {
    VirtqDesc v;
    v.addr = fold_addr(in.u64());
    v.len = fold_len(in.u32());
    v.flags = in.u16();
    v.next = fold_index(in.u16());
    driver_write(desc_off(d), &v, sizeof v);
  }

  // ---- ASan: only the queue's parts, its status and config_generation are the device's to touch
  // The pool stays poisoned from start to end (the harness never touches it either); the rest
  // of the region is poisoned around each DeviceQueue call and open for the harness's checks.
  void poison_all_but_queue() const {
    ASAN_POISON_MEMORY_REGION(region, pool_lo);
    ASAN_UNPOISON_MEMORY_REGION(region + kGenerationOff, 4);
    ASAN_UNPOISON_MEMORY_REGION(region + status_off(), sizeof(QueueStatus));
    ASAN_UNPOISON_MEMORY_REGION(region + desc_off(0), 16 * size_t{q});
    ASAN_UNPOISON_MEMORY_REGION(region + qbase + ql.avail_off, 6 + 2 * size_t{q});
    ASAN_UNPOISON_MEMORY_REGION(region + qbase + ql.used_off, 6 + 8 * size_t{q});
  }
  void unpoison() const { ASAN_UNPOISON_MEMORY_REGION(region, pool_lo); }
};

// The reference model of DeviceQueue's state and of every word it writes (into the shadow).
struct Model {
  Fixture& f;
  uint32_t state = kQueueDisabled;
  uint16_t last_avail = 0;
  uint16_t used_shadow = 0;
  uint16_t used_published = 0;
  bool taken = false;

  explicit Model(Fixture& fx) : f(fx) {}

  void fail(uint32_t err, uint32_t detail) {
    if (state == kQueueNeedsReset) return;
    state = kQueueNeedsReset;
    f.put32(f.status_off() + offsetof(QueueStatus, error), err);
    f.put32(f.status_off() + offsetof(QueueStatus, detail), detail);
    f.put32(f.status_off() + offsetof(QueueStatus, state), kQueueNeedsReset);
    f.put32(Fixture::kGenerationOff, f.s32(Fixture::kGenerationOff) + 1);
  }

  void reset(bool enable) {
    last_avail = used_shadow = used_published = 0;
    taken = false;
    f.put16(f.used_idx_off(), 0);
    f.put16(f.used_flags_off(), 0);
    f.put16(f.avail_event_off(), 0);
    f.put16(f.avail_idx_off(), 0);
    state = enable ? kQueueReady : kQueueDisabled;
    f.put32(f.status_off() + offsetof(QueueStatus, error), kRingOk);
    f.put32(f.status_off() + offsetof(QueueStatus, detail), 0);
    f.put32(f.status_off() + offsetof(QueueStatus, state), state);
    f.put32(Fixture::kGenerationOff, f.s32(Fixture::kGenerationOff) + 1);
  }

  int pending() {
    if (state != kQueueReady) return 0;
    const uint16_t avail = f.s16(f.avail_idx_off());
    const uint32_t n = static_cast<uint16_t>(avail - last_avail);
    if (n > f.q) {
      fail(kRingAvailIdxTooFar, avail);
      return -1;
    }
    return static_cast<int>(n);
  }

  struct Seg {
    uint64_t addr;
    uint32_t len;
  };
  PopResult pop(uint16_t* head_out, std::vector<Seg>* segs, uint64_t* total) {
    const int n = pending();
    if (n < 0) return PopResult::kBroken;
    if (n == 0) return PopResult::kEmpty;
    const uint16_t head = f.s16(f.avail_ring_off(last_avail % f.q));
    if (head >= f.q) {
      fail(kRingHeadOutOfRange, head);
      return PopResult::kBroken;
    }
    segs->clear();
    *total = 0;
    std::vector<bool> in_chain(f.q, false);
    uint32_t d = head;
    uint32_t steps = 0;
    for (;;) {
      if (++steps > f.q) {
        fail(kRingChainLoop, head);
        return PopResult::kBroken;
      }
      VirtqDesc v;
      std::memcpy(&v, &f.shadow[f.desc_off(d)], sizeof v);
      const bool writable = (v.flags & VIRTQ_DESC_F_WRITE) != 0;
      uint32_t err = kRingOk;
      uint32_t detail = d;
      if (v.flags & VIRTQ_DESC_F_INDIRECT) {
        err = kRingIndirectUnsupported;
      } else if (f.is_tx && writable) {
        err = kRingWriteOnlyInTx;
      } else if (!f.is_tx && !writable) {
        err = kRingReadOnlyInRx;
      } else if (v.len == 0) {
        err = kRingZeroLength;
      } else if (v.addr < f.pool_lo ||
                 static_cast<unsigned __int128>(v.addr) + v.len > uint64_t{f.pool_lo} + f.pool_size) {
        err = kRingDescOutOfPool;
      } else if (segs->size() == kMaxChainSegments || *total + v.len > kMaxFrameBytes) {
        err = kRingChainTooLong;
        detail = head;
      }
      if (err != kRingOk) {
        fail(err, detail);
        return PopResult::kBroken;
      }
      in_chain[d] = true;
      segs->push_back(Seg{v.addr, v.len});
      *total += v.len;
      if (!(v.flags & VIRTQ_DESC_F_NEXT)) break;
      if (v.next >= f.q) {
        fail(kRingNextOutOfRange, d);
        return PopResult::kBroken;
      }
      if (in_chain[v.next]) {
        fail(kRingChainLoop, head);
        return PopResult::kBroken;
      }
      d = v.next;
    }
    last_avail++;
    taken = true;
    *head_out = head;
    return PopResult::kChain;
  }

  void push_used(uint16_t head, uint32_t len) {
    const uint32_t off = f.used_ring_off(used_shadow % f.q);
    f.put32(off, head);
    f.put32(off + 4, len);
    used_shadow++;
  }

  bool publish_used() {
    if (used_shadow == used_published) return false;
    const uint16_t old = used_published;
    f.put16(f.used_idx_off(), used_shadow);
    used_published = used_shadow;
    if (!f.event_idx) return (f.s16(f.avail_flags_off()) & 1) == 0;  // VIRTQ_AVAIL_F_NO_INTERRUPT
    // virtio 1.2, 2.7.10: interrupt iff used_event lies in [old, new) (mod 2^16).
    const uint16_t used_event = f.s16(f.used_event_off());
    return static_cast<uint16_t>(used_event - old) < static_cast<uint16_t>(used_published - old);
  }

  bool enable_kick() {
    if (state != kQueueReady) return false;
    if (f.event_idx) {
      f.put16(f.avail_event_off(), last_avail);
    } else {
      f.put16(f.used_flags_off(), 0);
    }
    return pending() > 0;
  }
};

// Every input's region lives at the start of one 2 MiB heap block, allocated once: a fresh
// allocation per input of up to 1 MiB cost more in mmap/munmap than the input itself. What lies
// past the region's length is poisoned for the input's lifetime, so an access there is an ASan
// report exactly as past a block of the region's own length; before it is the block's redzone.
constexpr size_t kArenaBytes = 2u << 20;

uint8_t* arena_for(size_t len) {
  static uint8_t* arena = [] {
    void* mem = nullptr;
    if (posix_memalign(&mem, 4096, kArenaBytes) != 0) std::abort();
    return static_cast<uint8_t*>(mem);
  }();
  ASAN_UNPOISON_MEMORY_REGION(arena, len);
  ASAN_POISON_MEMORY_REGION(arena + len, kArenaBytes - len);
  return arena;
}

const char* part_of(const Fixture& f, size_t off) {
  if (off < sizeof(RegionHeader)) return off == Fixture::kGenerationOff ? "config_generation" : "the region header";
  if (off < kHeaderBytes) return off >= f.status_off() && off < f.status_off() + 16 ? "this queue's status" : "the status array";
  if (off < f.qbase || off >= f.qbase + f.ql.stride) return "another queue";
  if (off < f.qbase + f.ql.avail_off) return "the descriptor table";
  if (off < f.qbase + f.ql.used_off) return "the avail ring";
  return "the used ring";
}

// Header mode. Input after the geometry byte: u8 mode, 64 header bytes, u32 length. Mode bit 0:
// magic and ABI version as written (else set right); bit 1: "near": each layout field is the
// value lib/virtio/region.ts would write plus a small signed delta from the input's byte, so
// headers one step off every limit are common. validate_region must decide without reading
// past the block, and for a header it accepts every queue's parts and the pool must lie inside the
// region, and each queue must init, reset, kick-arm and pop touching only its own parts.
int run_header(Input& in) {
  const uint8_t mode = in.u8();
  RegionHeader h;
  in.bytes(reinterpret_cast<uint8_t*>(&h), sizeof h);
  uint32_t len_raw = in.u32();
  if (!(mode & 1)) {
    h.magic = kRegionMagic;
    h.abi_version = kAbiVersion;
  }
  if (mode & 2) {
    const auto delta = [](uint32_t raw) { return static_cast<uint32_t>(static_cast<int8_t>(raw & 0xff)); };
    const uint32_t nq = 2 * (1 + (h.num_queues >> 8) % kMaxQueuePairs);
    h.num_queues = nq + delta(h.num_queues) % 4;
    const uint32_t q = 2u << ((h.queue_size >> 8) % 15);
    h.queue_size = (h.queue_size & 0x80) ? q + delta(h.queue_size >> 16) : q;
    h.queues_offset = kHeaderBytes + ((h.queues_offset & 0x80) ? delta(h.queues_offset) : 0);
    h.queue_stride = queue_layout(q).stride + ((h.queue_stride & 0x80) ? delta(h.queue_stride) : 0);
    h.pool_offset = pool_offset_for(nq, q) + ((h.pool_offset & 0x80) ? delta(h.pool_offset) * 64 : 0);
    h.pool_size = h.pool_size % 8192 + delta(h.pool_size >> 16) % 2;
    len_raw = h.pool_offset + h.pool_size + delta(len_raw);
  }
  const size_t len = len_raw % (1u << 20);  // a region of at most 1 MiB
  uint8_t* region = arena_for(len);
  std::memcpy(region, &h, len < sizeof h ? len : sizeof h);
  ASAN_POISON_MEMORY_REGION(region, len);  // validate_region reads the header only
  ASAN_UNPOISON_MEMORY_REGION(region, len < sizeof h ? len : sizeof h);
  const char* why = nullptr;
  const bool ok = validate_region(region, len, &why);
  ASAN_UNPOISON_MEMORY_REGION(region, len);
  if (!ok) {
    if (why == nullptr || why[0] == '\0') die("validate_region refused without a reason", 0, 0, 0);
  } else {
    // What acceptance must mean, in u64 arithmetic of its own.
    const uint64_t q = h.queue_size;
    const QueueLayout ql = queue_layout(h.queue_size);
    if (len < kHeaderBytes || h.num_queues < 2 || h.num_queues > kMaxQueues || h.num_queues % 2 != 0 ||
        q < kMinQueueSize || q > kMaxQueueSize || (q & (q - 1)) != 0 || h.queues_offset != kHeaderBytes ||
        h.queue_stride != ql.stride || uint64_t{kHeaderBytes} + uint64_t{h.num_queues} * ql.stride > h.pool_offset ||
        h.pool_size == 0 || uint64_t{h.pool_offset} + h.pool_size > len || h.pool_offset % 4096 != 0 ||
        16 * q > ql.avail_off || ql.avail_off + 6 + 2 * q > ql.used_off || ql.used_off + 6 + 8 * q > ql.stride) {
      die("validate_region accepted a header outside the layout", 0, static_cast<long>(len), h.pool_offset);
    }
    // Header page and queues zeroed, as region.ts leaves them; the pool stays as malloc left it.
    std::memset(region + sizeof h, 0, h.pool_offset - sizeof h);
    for (uint32_t i = 0; i < h.num_queues; i++) {
      const size_t base = kHeaderBytes + size_t{i} * ql.stride;
      const size_t status = kQueueStatusOff + sizeof(QueueStatus) * i;
      ASAN_POISON_MEMORY_REGION(region, len);
      ASAN_UNPOISON_MEMORY_REGION(region + offsetof(RegionHeader, config_generation), 4);
      ASAN_UNPOISON_MEMORY_REGION(region + status, sizeof(QueueStatus));
      ASAN_UNPOISON_MEMORY_REGION(region + base, ql.stride);
      DeviceQueue dq;
      Chain c;
      dq.init(region, len, h, i, (i & 1) != 0);
      dq.reset(true);
      // One chain made available (descriptor 0, all zero): the walk reads the table, then fails.
      // SAFETY: the avail ring of queue i lies inside [base, base + stride), unpoisoned above.
      region[base + ql.avail_off + kAvailIdxOff] = 1;
      (void)dq.enable_kick();
      if (dq.pop(&c) != PopResult::kBroken) die("pop of a zero descriptor", i, 0, 0);
      dq.reset(false);
      ASAN_UNPOISON_MEMORY_REGION(region, len);
    }
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  Fixture f;
  const uint8_t geo = in.u8();
  if (geo & 0x80) return run_header(in);
  f.q = 2u << (geo & 7);
  f.is_tx = (geo >> 3) & 1;
  f.event_idx = (geo >> 4) & 1;
  f.near = (geo >> 5) & 1;
  f.qi = ((geo >> 6) & 1) * 2 + (f.is_tx ? 1 : 0);
  const uint8_t pool = in.u8();
  f.pool_size = ((pool & 0x7fu) + 1) * 16 * ((pool & 0x80) ? 512 : 1);
  f.ql = queue_layout(f.q);
  f.pool_lo = pool_offset_for(kNumQueues, f.q);
  f.qbase = kHeaderBytes + f.qi * f.ql.stride;
  f.len = size_t{f.pool_lo} + f.pool_size;

  // The region as lib/virtio/region.ts writes it.
  f.region = arena_for(f.len);
  std::memset(f.region, 0, f.pool_lo);
  RegionHeader h{};
  h.magic = kRegionMagic;
  h.abi_version = kAbiVersion;
  h.num_queues = kNumQueues;
  h.queue_size = f.q;
  h.queues_offset = kHeaderBytes;
  h.queue_stride = f.ql.stride;
  h.pool_offset = f.pool_lo;
  h.pool_size = f.pool_size;
  h.features = f.event_idx ? (1u << VIRTIO_RING_F_EVENT_IDX) : 0;
  std::memcpy(f.region, &h, sizeof h);
  const char* why = nullptr;
  if (!validate_region(f.region, f.len, &why)) {
    std::fprintf(stderr, "device_queue: the harness built an invalid region: %s\n", why);
    std::abort();
  }
  f.shadow.assign(f.region, f.region + f.pool_lo);
  ASAN_POISON_MEMORY_REGION(f.region + f.pool_lo, f.pool_size);

  Model m(f);
  DeviceQueue dq;
  f.poison_all_but_queue();
  dq.init(f.region, f.len, h, f.qi, f.is_tx);
  dq.reset(true);
  f.unpoison();
  m.reset(false);  // init
  m.reset(true);

  // The ring image.
  const uint32_t ndesc = in.u8() % (f.q + 1);
  for (uint32_t d = 0; d < ndesc; d++) f.write_desc(d, in);
  f.driver_write16(f.avail_flags_off(), in.u16());
  f.driver_write16(f.avail_idx_off(), in.u16());
  f.driver_write16(f.used_event_off(), in.u16());
  const uint32_t nring = in.u8() % (f.q + 1);
  for (uint32_t s = 0; s < nring; s++) f.driver_write16(f.avail_ring_off(s), f.fold_index(in.u16()));

  std::vector<uint16_t> taken;  // heads popped and not yet pushed back
  std::vector<Model::Seg> segs;
  Chain c;
  bool can_unpop = false;
  for (unsigned op = 0; op < kMaxOps && !in.empty(); op++) {
    const uint8_t code = in.u8() % 11;
    const bool popped_before = can_unpop;
    can_unpop = false;
    switch (code) {
      case 0: {
        uint16_t mhead = 0;
        uint64_t mtotal = 0;
        const PopResult want = m.pop(&mhead, &segs, &mtotal);
        f.poison_all_but_queue();
        const PopResult got = dq.pop(&c);
        f.unpoison();
        if (got != want) die("pop result", op, static_cast<long>(got), static_cast<long>(want));
        if (got != PopResult::kChain) break;
        if (c.head != mhead) die("chain head", op, c.head, mhead);
        if (c.nseg != segs.size()) die("chain segments", op, c.nseg, static_cast<long>(segs.size()));
        if (c.total != mtotal) die("chain total", op, c.total, static_cast<long>(mtotal));
        for (uint32_t s = 0; s < c.nseg; s++) {
          if (c.seg[s].ptr != f.region + segs[s].addr) die("segment address", op, s, static_cast<long>(segs[s].addr));
          if (c.seg[s].len != segs[s].len) die("segment length", op, c.seg[s].len, segs[s].len);
        }
        taken.push_back(c.head);
        can_unpop = true;
        break;
      }
      case 1: {
        const uint8_t pick = in.u8();
        const uint32_t len = in.u32();
        if (taken.empty()) break;
        const size_t k = pick % taken.size();
        const uint16_t head = taken[k];
        taken.erase(taken.begin() + static_cast<long>(k));
        m.push_used(head, len);
        f.poison_all_but_queue();
        dq.push_used(head, len);
        f.unpoison();
        break;
      }
      case 2: {
        const bool want = m.publish_used();
        f.poison_all_but_queue();
        const bool got = dq.publish_used();
        f.unpoison();
        if (got != want) die("publish_used", op, got, want);
        break;
      }
      case 3: {
        const bool want = m.enable_kick();
        f.poison_all_but_queue();
        const bool got = dq.enable_kick();
        f.unpoison();
        if (got != want) die("enable_kick", op, got, want);
        break;
      }
      case 4: {
        const bool enable = in.u8() & 1;
        m.reset(enable);
        f.poison_all_but_queue();
        dq.reset(enable);
        f.unpoison();
        taken.clear();  // the chains are the driver's again
        break;
      }
      case 5:
        if (!popped_before) break;
        m.last_avail--;
        f.poison_all_but_queue();
        dq.unpop();
        f.unpoison();
        taken.pop_back();
        break;
      case 6:
        f.driver_write16(f.avail_idx_off(), static_cast<uint16_t>(f.s16(f.avail_idx_off()) + in.u8()));
        break;
      case 7: {
        const uint32_t slot = in.u8() % f.q;
        f.driver_write16(f.avail_ring_off(slot), f.fold_index(in.u16()));
        break;
      }
      case 8:
        f.write_desc(in.u8() % f.q, in);
        break;
      case 9: {
        const int want = m.pending();
        f.poison_all_but_queue();
        const int got = dq.pending();
        f.unpoison();
        if (got != want) die("pending", op, got, want);
        break;
      }
      case 10:
        f.driver_write16(f.avail_flags_off(), in.u16());
        f.driver_write16(f.used_event_off(), in.u16());
        break;
    }
    // The device's private view must agree with the model's, and the region with the shadow.
    if (dq.state() != m.state) die("state", op, dq.state(), m.state);
    if (dq.taken_since_reset() != m.taken) die("taken_since_reset", op, dq.taken_since_reset(), m.taken);
    if (dq.used_published() != m.used_published) die("used_published", op, dq.used_published(), m.used_published);
    if (std::memcmp(f.region, f.shadow.data(), f.pool_lo) != 0) {
      size_t off = 0;
      while (f.region[off] == f.shadow[off]) off++;
      std::fprintf(stderr, "device_queue: op %u: region byte %zu (%s) is %u, the model says %u\n", op, off,
                   part_of(f, off), f.region[off], f.shadow[off]);
      std::abort();
    }
  }
  return 0;
}
