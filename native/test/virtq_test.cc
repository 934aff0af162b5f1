// virtq_test.cc — the device side of a split virtqueue (native/virtq.{h,cc}) against a driver
// written in C++ (driver_ring.h): region validation, pop / push_used / publish_used / enable_kick,
// event index, every RingError with its detail (ported one-for-one from
// test/unit/virtio/device-ring.test.ts, the TS model of DeviceQueue), NEEDS_RESET, reset(),
// free-running index wraparound, and a fuzz loop that scribbles over the ring.
//
// Regions are heap blocks of exactly the region's length (ASan's redzone starts at the first byte
// past the pool), so any device access outside the region is an ASan report.
#include "../virtq.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "driver_ring.h"
#include "test_main.h"

using namespace condis;
using drv::Geometry;
using drv::RawQueue;
using drv::Region;

namespace {

constexpr uint16_t NEXT = VIRTQ_DESC_F_NEXT;
constexpr uint16_t WRITE = VIRTQ_DESC_F_WRITE;
constexpr uint16_t INDIRECT = VIRTQ_DESC_F_INDIRECT;
constexpr uint32_t kMaxFrameBytes = 1u << 24;  // virtq.cc: a chain over 16 MiB is ChainTooLong

// One queue of a one-pair region, opened the way Device::create/start open it.
struct Q {
  std::unique_ptr<Region> r;
  DeviceQueue dev;
  std::unique_ptr<RawQueue> raw;
  Chain chain;
  uint64_t lo = 0, hi = 0;
  uint16_t dir = 0;  // WRITE on a receiveq
  uint32_t index = 0;

  explicit Q(bool is_tx, uint32_t qsize = 16, uint32_t buffer_size = 256, uint32_t bpq = 0,
             bool event_idx = true, bool enable = true) {
    Geometry g;
    g.pairs = 1;
    g.queue_size = qsize;
    g.buffer_size = buffer_size;
    g.buffers_per_queue = bpq;
    g.event_idx = event_idx;
    r.reset(new Region(g));
    index = is_tx ? 1 : 0;
    RegionHeader h;
    std::memcpy(&h, r->data(), sizeof h);
    dev.init(r->data(), r->size(), h, index, is_tx);
    if (enable) dev.reset(true);
    raw.reset(new RawQueue(r->data(), index));
    lo = r->pool_offset();
    hi = r->pool_end();
    dir = is_tx ? 0 : WRITE;
    std::memset(&chain, 0, sizeof chain);
  }
  // Makes `heads` available at avail indices 0.. (as the TS test's offer()).
  void offer(std::initializer_list<uint16_t> heads) {
    uint16_t i = 0;
    for (uint16_t h : heads) raw->avail(i++, h);
    raw->set_avail_idx(i);
  }
  uint32_t state() const { return r->state(index); }
  uint32_t error() const { return r->error(index); }
  uint32_t detail() const { return r->detail(index); }
};

// Pops once: {RingError, detail}, {0, 0} for a good chain. A bad chain must leave NEEDS_RESET.
std::pair<uint32_t, uint32_t> pop_error(Q& q) {
  const PopResult pr = q.dev.pop(&q.chain);
  if (pr == PopResult::kChain) return {kRingOk, 0};
  CHECK(pr == PopResult::kBroken);
  CHECK_EQ(q.state(), uint32_t{kQueueNeedsReset});
  return {q.error(), q.detail()};
}

#define CHECK_POP(q, err, det)                     \
  do {                                             \
    const auto got_ = pop_error(q);                \
    CHECK_EQ(got_.first, uint32_t{err});           \
    CHECK_EQ(got_.second, uint32_t{det});          \
  } while (0)

}  // namespace

// ---- region header ----------------------------------------------------------------------------

TEST(region_as_region_ts_writes_it_is_valid) {
  struct G { uint32_t pairs, q, buf; };
  for (const G g : {G{1, 2, 64}, G{1, 16, 256}, G{2, 256, 2048}, G{64, 2, 64}, G{1, 32768, 64}, G{4, 1024, 64}}) {
    Geometry geo;
    geo.pairs = g.pairs;
    geo.queue_size = g.q;
    geo.buffer_size = g.buf;
    Region r(geo);
    const char* why = nullptr;
    CHECK(validate_region(r.data(), r.size(), &why));
    if (why != nullptr) std::fprintf(stderr, "    pairs %u q %u: %s\n", g.pairs, g.q, why);
    const RegionHeader* h = r.hdr();
    CHECK_EQ(h->queues_offset, kHeaderBytes);
    CHECK_EQ(h->queue_stride, queue_layout(g.q).stride);
    CHECK_EQ(h->pool_offset % 4096, 0u);
    CHECK(uint64_t{h->pool_offset} >= uint64_t{kHeaderBytes} + uint64_t{2 * g.pairs} * h->queue_stride);
  }
  // The layout pinned by virtq.h / lib/virtio/layout.ts.
  CHECK_EQ(queue_layout(256).avail_off, 4096u);
  CHECK_EQ(queue_layout(256).used_off, 4672u);
  CHECK_EQ(queue_layout(256).stride, 6784u);
  CHECK_EQ(queue_layout(2).avail_off, 64u);
  CHECK_EQ(queue_layout(2).used_off, 128u);
  CHECK_EQ(queue_layout(2).stride, 192u);
  CHECK_EQ(pool_offset_for(2, 256), 20480u);  // 4096 + 2 * 6784 = 17664 -> page
}

TEST(validate_region_rejects_each_bad_header_field) {
  Geometry geo;
  geo.pairs = 2;
  geo.queue_size = 16;
  geo.buffer_size = 256;
  Region r(geo);
  RegionHeader good;
  std::memcpy(&good, r.data(), sizeof good);
  const uint32_t stride = queue_layout(16).stride;

  struct Case {
    const char* name;
    void (*mutate)(RegionHeader*, uint32_t stride);
    const char* why_contains;
  };
  const Case cases[] = {
      {"magic", [](RegionHeader* h, uint32_t) { h->magic ^= 1; }, "magic"},
      {"magic 0", [](RegionHeader* h, uint32_t) { h->magic = 0; }, "magic"},
      {"abi version", [](RegionHeader* h, uint32_t) { h->abi_version = kAbiVersion + 1; }, "ABI"},
      {"num_queues 0", [](RegionHeader* h, uint32_t) { h->num_queues = 0; }, "num_queues"},
      {"num_queues 1", [](RegionHeader* h, uint32_t) { h->num_queues = 1; }, "num_queues"},
      {"num_queues odd", [](RegionHeader* h, uint32_t) { h->num_queues = 3; }, "num_queues"},
      {"num_queues 130", [](RegionHeader* h, uint32_t) { h->num_queues = 130; }, "num_queues"},
      {"num_queues huge", [](RegionHeader* h, uint32_t) { h->num_queues = 0xfffffffe; }, "num_queues"},
      {"queue_size 0", [](RegionHeader* h, uint32_t) { h->queue_size = 0; }, "queue_size"},
      {"queue_size 1", [](RegionHeader* h, uint32_t) { h->queue_size = 1; }, "queue_size"},
      {"queue_size 24", [](RegionHeader* h, uint32_t) { h->queue_size = 24; }, "queue_size"},
      {"queue_size 65536", [](RegionHeader* h, uint32_t) { h->queue_size = 65536; }, "queue_size"},
      {"queue_size 2^31", [](RegionHeader* h, uint32_t) { h->queue_size = 1u << 31; }, "queue_size"},
      {"queue_size 8 (stride of 16)", [](RegionHeader* h, uint32_t) { h->queue_size = 8; }, "queue offsets"},
      {"queues_offset 0", [](RegionHeader* h, uint32_t) { h->queues_offset = 0; }, "queue offsets"},
      {"queues_offset 8192", [](RegionHeader* h, uint32_t) { h->queues_offset = 8192; }, "queue offsets"},
      {"queue_stride - 64", [](RegionHeader* h, uint32_t s) { h->queue_stride = s - 64; }, "queue offsets"},
      {"queue_stride + 64", [](RegionHeader* h, uint32_t s) { h->queue_stride = s + 64; }, "queue offsets"},
      {"pool_offset inside the queues",
       [](RegionHeader* h, uint32_t s) { h->pool_offset = (kHeaderBytes + 4 * s) & ~4095u; }, "pool overlaps"},
      {"pool_offset 0", [](RegionHeader* h, uint32_t) { h->pool_offset = 0; }, "pool overlaps"},
      {"pool_offset unaligned", [](RegionHeader* h, uint32_t) { h->pool_offset += 64; }, "pool overlaps"},
      {"pool_size 0", [](RegionHeader* h, uint32_t) { h->pool_size = 0; }, "buffer pool"},
      {"pool_size + 1", [](RegionHeader* h, uint32_t) { h->pool_size += 1; }, "buffer pool"},
      {"pool_size huge", [](RegionHeader* h, uint32_t) { h->pool_size = 0xffffffff; }, "buffer pool"},
      {"pool past the end", [](RegionHeader* h, uint32_t) { h->pool_offset += 4096; }, "buffer pool"},
      {"pool_offset near 2^32", [](RegionHeader* h, uint32_t) { h->pool_offset = 0xfffff000; }, "buffer pool"},
  };
  for (const Case& c : cases) {
    RegionHeader h = good;
    c.mutate(&h, stride);
    std::memcpy(r.data(), &h, sizeof h);
    const char* why = nullptr;
    const bool ok = validate_region(r.data(), r.size(), &why);
    if (ok) std::fprintf(stderr, "    accepted a bad header: %s\n", c.name);
    CHECK(!ok);
    if (!ok) {
      REQUIRE(why != nullptr);
      if (std::strstr(why, c.why_contains) == nullptr)
        std::fprintf(stderr, "    %s: why = \"%s\", expected it to mention \"%s\"\n", c.name, why, c.why_contains);
      CHECK(std::strstr(why, c.why_contains) != nullptr);
    }
  }
  std::memcpy(r.data(), &good, sizeof good);
  const char* why = nullptr;
  CHECK(validate_region(r.data(), r.size(), &why));
  // The buffer itself: shorter than the header, or one byte short of the pool's end.
  why = nullptr;
  CHECK(!validate_region(r.data(), kHeaderBytes - 1, &why));
  CHECK(why != nullptr && std::strstr(why, "header") != nullptr);
  why = nullptr;
  CHECK(!validate_region(r.data(), r.size() - 1, &why));
  CHECK(why != nullptr && std::strstr(why, "buffer pool") != nullptr);
  // Larger than needed is fine (the pool need not end the buffer).
  std::vector<uint8_t> big(r.size() + 4096);
  std::memcpy(big.data(), r.data(), r.size());
  CHECK(validate_region(big.data(), big.size(), &why));
  // The largest queue count.
  Geometry g128;
  g128.pairs = 64;
  g128.queue_size = 2;
  g128.buffer_size = 64;
  Region r128(g128);
  CHECK(validate_region(r128.data(), r128.size(), &why));
}

// ---- pop / push / publish --------------------------------------------------------------------

TEST(pop_single_segment_chain) {
  Q q(true);
  q.raw->desc(5, q.lo + 128, 100, 0, 0);
  q.offer({5});
  CHECK_EQ(q.dev.pending(), 1);
  REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
  CHECK_EQ(q.chain.head, 5);
  CHECK_EQ(q.chain.nseg, 1);
  CHECK_EQ(q.chain.total, 100u);
  CHECK(q.chain.seg[0].ptr == q.r->data() + q.lo + 128);
  CHECK_EQ(q.chain.seg[0].len, 100u);
  CHECK_EQ(q.dev.pending(), 0);
  CHECK(q.dev.pop(&q.chain) == PopResult::kEmpty);
  CHECK_EQ(q.state(), uint32_t{kQueueReady});
}

TEST(taken_since_reset_marks_a_queue_its_driver_uses) {
  // The TAP receive policy waits for buffers only on queues a driver uses (io_loop.cc).
  Q q(false);
  CHECK(!q.dev.taken_since_reset());
  q.raw->desc(3, q.lo, 64, WRITE, 0);
  q.offer({3});
  CHECK(!q.dev.taken_since_reset());  // made available, not taken yet
  REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
  CHECK(q.dev.taken_since_reset());
  q.dev.reset(true);
  CHECK(!q.dev.taken_since_reset());
}

TEST(pop_multi_segment_chains_in_order_and_unpop) {
  for (bool is_tx : {true, false}) {
    Q q(is_tx, 16, 256);
    // head 9 -> 2 -> 14 (12 + 200 + 1 bytes), then head 0 alone, then head 3 -> 4.
    q.raw->desc(9, q.r->slot(q.index, 9), 12, q.dir | NEXT, 2);
    q.raw->desc(2, q.r->slot(q.index, 2), 200, q.dir | NEXT, 14);
    q.raw->desc(14, q.r->slot(q.index, 14), 1, q.dir, 77);  // next ignored without NEXT
    q.raw->desc(0, q.r->slot(q.index, 0), 256, q.dir, 0);
    q.raw->desc(3, q.r->slot(q.index, 3), 64, q.dir | NEXT, 4);
    q.raw->desc(4, q.r->slot(q.index, 4), 64, q.dir, 0);
    q.offer({9, 0, 3});
    CHECK_EQ(q.dev.pending(), 3);
    REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
    CHECK_EQ(q.chain.head, 9);
    REQUIRE_EQ(q.chain.nseg, 3);
    CHECK_EQ(q.chain.total, 213u);
    CHECK(q.chain.seg[0].ptr == q.r->data() + q.r->slot(q.index, 9));
    CHECK(q.chain.seg[1].ptr == q.r->data() + q.r->slot(q.index, 2));
    CHECK(q.chain.seg[2].ptr == q.r->data() + q.r->slot(q.index, 14));
    CHECK_EQ(q.chain.seg[0].len, 12u);
    CHECK_EQ(q.chain.seg[1].len, 200u);
    CHECK_EQ(q.chain.seg[2].len, 1u);
    // unpop gives the same chain back.
    q.dev.unpop();
    CHECK_EQ(q.dev.pending(), 3);
    REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
    CHECK_EQ(q.chain.head, 9);
    REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
    CHECK_EQ(q.chain.head, 0);
    CHECK_EQ(q.chain.nseg, 1);
    CHECK_EQ(q.chain.total, 256u);
    REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
    CHECK_EQ(q.chain.head, 3);
    CHECK_EQ(q.chain.nseg, 2);
    CHECK_EQ(q.chain.total, 128u);
    CHECK(q.dev.pop(&q.chain) == PopResult::kEmpty);
    CHECK_EQ(q.state(), uint32_t{kQueueReady});
  }
}

TEST(push_used_is_invisible_until_publish_used) {
  Q q(false);
  for (uint16_t d = 0; d < 3; d++) q.raw->desc(d, q.r->slot(0, d), 256, WRITE, 0);
  q.offer({0, 1, 2});
  for (int i = 0; i < 3; i++) REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
  q.raw->set_used_event(0xffff);  // no interrupt wanted; not what this test looks at
  q.dev.push_used(1, 60);
  q.dev.push_used(0, 1514);
  CHECK_EQ(q.raw->used_idx(), 0);  // pushed, not yet published
  q.dev.publish_used();
  CHECK_EQ(q.raw->used_idx(), 2);
  CHECK_EQ(q.raw->used(0).id, 1u);
  CHECK_EQ(q.raw->used(0).len, 60u);
  CHECK_EQ(q.raw->used(1).id, 0u);
  CHECK_EQ(q.raw->used(1).len, 1514u);
  CHECK(!q.dev.publish_used());  // nothing new: no interrupt, idx unchanged
  CHECK_EQ(q.raw->used_idx(), 2);
  q.dev.push_used(2, 0);
  q.dev.publish_used();
  CHECK_EQ(q.raw->used_idx(), 3);
  CHECK_EQ(q.raw->used(2).id, 2u);
  CHECK_EQ(q.raw->used(2).len, 0u);
}

// publish_used() returns true exactly when used_event lies in [old, new) (virtio 2.7.10), also
// across the u16 wrap; checked against an independent formula on 100k random batches.
TEST(event_idx_publish_used_true_exactly_when_used_event_crossed) {
  Q q(true, 256);
  std::mt19937 rng(7);
  uint16_t published = 0;
  uint32_t trues = 0, falses = 0;
  for (int i = 0; i < 100000; i++) {
    const uint32_t k = 1 + rng() % 256;  // at most a queue per batch, as a device can
    int32_t delta;
    switch (rng() % 4) {
      case 0: delta = static_cast<int32_t>(rng() % (k + 2)) - 1; break;  // around the batch
      case 1: delta = static_cast<int32_t>(k) - 1 + static_cast<int32_t>(rng() % 3) - 1; break;  // the edge
      case 2: delta = -static_cast<int32_t>(rng() % 5); break;  // just behind
      default: delta = static_cast<int32_t>(rng() % 65536); break;
    }
    const uint16_t ev = static_cast<uint16_t>(published + delta);
    q.raw->set_used_event(ev);
    for (uint32_t j = 0; j < k; j++) q.dev.push_used(static_cast<uint16_t>(j % 256), j);
    const bool want = static_cast<uint16_t>(ev - published) < k;
    const bool got = q.dev.publish_used();
    if (got != want) {
      std::fprintf(stderr, "    old %u new %u used_event %u: publish_used %d, expected %d\n", published,
                   static_cast<uint16_t>(published + k), ev, got, want);
      CHECK_EQ(got, want);
      return;
    }
    published = static_cast<uint16_t>(published + k);
    CHECK_EQ(q.raw->used_idx(), published);
    (want ? trues : falses)++;
  }
  CHECK(trues > 1000 && falses > 1000);
  // Hand-picked edges: used_event == old (first new entry) fires; == new (not yet reached) does not.
  Q e(true, 8);
  e.raw->set_used_event(0);
  e.dev.push_used(0, 0);
  CHECK(e.dev.publish_used());  // 0 -> 1 crosses 0
  e.raw->set_used_event(1);
  e.dev.push_used(0, 0);
  e.dev.push_used(0, 0);
  CHECK(e.dev.publish_used());  // 1 -> 3 crosses 1
  e.raw->set_used_event(3 + 2);
  e.dev.push_used(0, 0);
  e.dev.push_used(0, 0);
  CHECK(!e.dev.publish_used());  // 3 -> 5 does not reach 5
  e.dev.push_used(0, 0);
  CHECK(e.dev.publish_used());  // 5 -> 6 crosses 5
}

TEST(no_event_idx_publish_used_honours_avail_no_interrupt) {
  Q q(true, 8, 256, 0, /*event_idx=*/false);
  q.dev.push_used(0, 0);
  CHECK(q.dev.publish_used());
  q.raw->set_avail_flags(1);  // VIRTQ_AVAIL_F_NO_INTERRUPT
  q.dev.push_used(1, 0);
  CHECK(!q.dev.publish_used());
  CHECK_EQ(q.raw->used_idx(), 2);  // published all the same
  q.raw->set_avail_flags(0);
  q.dev.push_used(2, 0);
  CHECK(q.dev.publish_used());
  // enable_kick without EVENT_IDX clears VIRTQ_USED_F_NO_NOTIFY and leaves avail_event alone.
  q.raw->set_used_flags(1);
  q.raw->set_avail_event(0x1234);
  CHECK(!q.dev.enable_kick());
  CHECK_EQ(q.raw->used_flags(), 0);
  CHECK_EQ(q.raw->avail_event(), 0x1234);
}

TEST(enable_kick_sets_avail_event_and_says_if_buffers_arrived) {
  Q q(true, 8);
  for (uint16_t d = 0; d < 4; d++) q.raw->desc(d, q.r->slot(1, d), 64, 0, 0);
  CHECK(!q.dev.enable_kick());  // nothing there: may sleep
  CHECK_EQ(q.raw->avail_event(), 0);
  q.offer({0, 1, 2});
  // The driver publishing 0 -> 3 with avail_event 0 must kick.
  CHECK(vring_need_event(q.raw->avail_event(), 3, 0));
  REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
  REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
  CHECK(q.dev.enable_kick());  // one still pending: do not sleep
  CHECK_EQ(q.raw->avail_event(), 2);
  REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
  CHECK(!q.dev.enable_kick());
  CHECK_EQ(q.raw->avail_event(), 3);
  // A driver adding one more now sees it must kick (3 -> 4 crosses 3) ...
  q.raw->avail(3, 3);
  q.raw->set_avail_idx(4);
  CHECK(vring_need_event(q.raw->avail_event(), 4, 3));
  // ... and enable_kick sees it too.
  CHECK(q.dev.enable_kick());
  // A disabled queue never asks for kicks and writes nothing.
  Q d(true, 8, 256, 0, true, /*enable=*/false);
  d.raw->set_avail_event(77);
  d.raw->desc(0, d.lo, 64, 0, 0);
  d.offer({0});
  CHECK(!d.dev.enable_kick());
  CHECK_EQ(d.raw->avail_event(), 77);
}

// ---- RingError, one case per value (test/unit/virtio/device-ring.test.ts) ----------------------

TEST(AvailIdxTooFar_detail_is_avail_idx) {
  Q q(true);
  q.raw->set_avail_idx(17);
  CHECK_EQ(q.dev.pending(), -1);
  CHECK_EQ(q.state(), uint32_t{kQueueNeedsReset});
  CHECK_EQ(q.error(), uint32_t{kRingAvailIdxTooFar});
  CHECK_EQ(q.detail(), 17u);
  Q b(true);
  b.raw->set_avail_idx(0xffff);  // "behind" the device is also too far ahead, modulo 2^16
  CHECK_POP(b, kRingAvailIdxTooFar, 0xffff);
  Q ok(true);
  ok.raw->set_avail_idx(16);  // exactly a queue ahead is fine
  CHECK_EQ(ok.dev.pending(), 16);
  CHECK_EQ(ok.state(), uint32_t{kQueueReady});
}

TEST(HeadOutOfRange_detail_is_head) {
  Q q(true);
  q.offer({16});
  CHECK_POP(q, kRingHeadOutOfRange, 16);
  Q b(false);
  b.offer({0xffff});
  CHECK_POP(b, kRingHeadOutOfRange, 0xffff);
}

TEST(NextOutOfRange_detail_is_descriptor) {
  Q q(true);
  q.raw->desc(3, q.lo, 64, NEXT, 5);
  q.raw->desc(5, q.lo, 64, NEXT, 16);
  q.offer({3});
  CHECK_POP(q, kRingNextOutOfRange, 5);
  Q b(true);  // next is only looked at with NEXT set
  b.raw->desc(0, b.lo, 64, 0, 999);
  b.offer({0});
  CHECK_POP(b, kRingOk, 0);
}

TEST(ChainLoop_detail_is_head) {
  Q q(false);
  q.raw->desc(2, q.lo, 64, WRITE | NEXT, 7);
  q.raw->desc(7, q.lo, 64, WRITE | NEXT, 2);
  q.offer({2});
  CHECK_POP(q, kRingChainLoop, 2);
  Q self(true, 2);
  self.raw->desc(1, self.lo, 64, NEXT, 1);
  self.offer({1});
  CHECK_POP(self, kRingChainLoop, 1);
  Q full(true, 4);  // a loop through every descriptor of a small queue
  for (uint16_t d = 0; d < 4; d++) full.raw->desc(d, full.lo, 64, NEXT, (d + 1) & 3);
  full.offer({1});
  CHECK_POP(full, kRingChainLoop, 1);
}

TEST(ChainLoop_in_a_1024_entry_queue_is_still_ChainLoop) {
  {  // the TS case (queue 128) at 1024: a two-descriptor loop
    Q q(true, 1024, 64);
    q.raw->desc(0, q.lo, 64, NEXT, 1);
    q.raw->desc(1, q.lo, 64, NEXT, 0);
    q.offer({0});
    CHECK_POP(q, kRingChainLoop, 0);
  }
  {  // a self loop far into the table
    Q q(false, 1024, 64);
    q.raw->desc(1000, q.lo, 64, WRITE | NEXT, 1000);
    q.offer({1000});
    CHECK_POP(q, kRingChainLoop, 1000);
  }
  {  // a loop entered after a tail: 10 -> 11 -> ... -> 50 -> 30
    Q q(true, 1024, 64);
    for (uint16_t d = 10; d <= 50; d++) q.raw->desc(d, q.lo, 64, NEXT, d == 50 ? 30 : d + 1);
    q.offer({10});
    CHECK_POP(q, kRingChainLoop, 10);
  }
  {  // the longest loop the walk can name: 64 descriptors 500..563 -> 500
    Q q(true, 1024, 64);
    for (uint16_t d = 500; d < 564; d++) q.raw->desc(d, q.lo, 64, NEXT, d == 563 ? 500 : d + 1);
    q.offer({500});
    CHECK_POP(q, kRingChainLoop, 500);
  }
  {  // a 65-descriptor loop reaches segment 65 before it repeats: ChainTooLong first, as the
     // validation order in test/helpers/device-ring.ts documents (step 8 before the loop check).
    Q q(true, 1024, 64);
    for (uint16_t d = 0; d < 65; d++) q.raw->desc(d, q.lo, 64, NEXT, d == 64 ? 0 : d + 1);
    q.offer({0});
    CHECK_POP(q, kRingChainTooLong, 0);
  }
}

TEST(DescOutOfPool_detail_is_descriptor) {
  struct Case {
    const char* name;
    uint64_t (*addr)(uint64_t lo, uint64_t hi);
    uint32_t (*len)(uint64_t lo, uint64_t hi);
  };
  const Case cases[] = {
      {"below the pool", [](uint64_t lo, uint64_t) { return lo - 64; }, [](uint64_t, uint64_t) { return 64u; }},
      {"in the header", [](uint64_t, uint64_t) { return uint64_t{0}; }, [](uint64_t, uint64_t) { return 64u; }},
      {"straddling the start", [](uint64_t lo, uint64_t) { return lo - 1; }, [](uint64_t, uint64_t) { return 64u; }},
      {"past the end", [](uint64_t, uint64_t hi) { return hi - 63; }, [](uint64_t, uint64_t) { return 64u; }},
      {"starting at the end", [](uint64_t, uint64_t hi) { return hi; }, [](uint64_t, uint64_t) { return 1u; }},
      {"addr high word set", [](uint64_t lo, uint64_t) { return lo + (uint64_t{1} << 32); },
       [](uint64_t, uint64_t) { return 64u; }},
      {"addr 2^40", [](uint64_t, uint64_t) { return uint64_t{1} << 40; }, [](uint64_t, uint64_t) { return 64u; }},
      {"addr + len wraps 2^32", [](uint64_t, uint64_t) { return uint64_t{0xffffff00}; },
       [](uint64_t, uint64_t) { return 0x200u; }},
      {"addr + len wraps 2^64", [](uint64_t, uint64_t) { return ~uint64_t{0} - 15; },
       [](uint64_t, uint64_t) { return 64u; }},
      {"addr 2^64 - pool", [](uint64_t lo, uint64_t) { return ~uint64_t{0} - lo + 1; },
       [](uint64_t lo, uint64_t hi) { return static_cast<uint32_t>(hi - lo); }},
      {"len 0xffffffff", [](uint64_t lo, uint64_t) { return lo; }, [](uint64_t, uint64_t) { return 0xffffffffu; }},
      {"len one past the pool", [](uint64_t lo, uint64_t) { return lo; },
       [](uint64_t lo, uint64_t hi) { return static_cast<uint32_t>(hi - lo + 1); }},
  };
  for (const Case& c : cases) {
    for (bool is_tx : {true, false}) {
      Q q(is_tx);
      q.raw->desc(4, q.lo, 64, q.dir | NEXT, 9);
      q.raw->desc(9, c.addr(q.lo, q.hi), c.len(q.lo, q.hi), q.dir, 0);
      q.offer({4});
      const auto got = pop_error(q);
      if (got.first != kRingDescOutOfPool || got.second != 9)
        std::fprintf(stderr, "    case '%s' (%s): error %u detail %u\n", c.name, is_tx ? "tx" : "rx", got.first,
                     got.second);
      CHECK_EQ(got.first, uint32_t{kRingDescOutOfPool});
      CHECK_EQ(got.second, 9u);
    }
  }
  Q edge(true);
  edge.raw->desc(0, edge.hi - 64, 64, 0, 0);                                  // ends exactly at the pool end
  edge.raw->desc(1, edge.lo, static_cast<uint32_t>(edge.hi - edge.lo), 0, 0);  // the whole pool
  edge.offer({0, 1});
  CHECK_POP(edge, kRingOk, 0);
  CHECK_POP(edge, kRingOk, 0);
}

TEST(WriteOnlyInTx_detail_is_descriptor) {
  Q q(true);
  q.raw->desc(0, q.lo, 64, NEXT, 1);
  q.raw->desc(1, q.lo, 64, WRITE, 0);
  q.offer({0});
  CHECK_POP(q, kRingWriteOnlyInTx, 1);
}

TEST(ReadOnlyInRx_detail_is_descriptor) {
  Q q(false);
  q.raw->desc(6, q.lo, 64, 0, 0);
  q.offer({6});
  CHECK_POP(q, kRingReadOnlyInRx, 6);
  Q m(false);  // the second of a chain
  m.raw->desc(2, m.lo, 64, WRITE | NEXT, 3);
  m.raw->desc(3, m.lo, 64, NEXT, 4);
  m.offer({2});
  CHECK_POP(m, kRingReadOnlyInRx, 3);
}

TEST(IndirectUnsupported_detail_is_descriptor) {
  for (bool is_tx : {true, false}) {
    Q q(is_tx);
    q.raw->desc(0, q.lo, 16, q.dir | INDIRECT, 0);
    q.offer({0});
    CHECK_POP(q, kRingIndirectUnsupported, 0);
    Q m(is_tx);
    m.raw->desc(7, m.lo, 64, m.dir | NEXT, 8);
    m.raw->desc(8, m.lo, 16, m.dir | INDIRECT, 0);
    m.offer({7});
    CHECK_POP(m, kRingIndirectUnsupported, 8);
  }
}

TEST(ZeroLength_detail_is_descriptor) {
  Q q(false);
  q.raw->desc(0, q.lo, 64, WRITE | NEXT, 1);
  q.raw->desc(1, q.lo, 0, WRITE, 0);
  q.offer({0});
  CHECK_POP(q, kRingZeroLength, 1);
  Q t(true);
  t.raw->desc(12, t.lo, 0, 0, 0);
  t.offer({12});
  CHECK_POP(t, kRingZeroLength, 12);
}

TEST(ChainTooLong_65_segments_detail_is_head) {
  Q q(true, 128);
  for (uint16_t d = 0; d <= kMaxChainSegments; d++) q.raw->desc(d, q.lo, 64, NEXT, d + 1);
  q.raw->desc(kMaxChainSegments, q.lo, 64, 0, 0);  // 65 descriptors: 0..64
  q.raw->desc(100, q.lo, 64, NEXT, 2);             // head 100 -> 2..64: exactly 64
  q.offer({100, 0});
  CHECK_POP(q, kRingOk, 0);
  CHECK_EQ(q.chain.nseg, kMaxChainSegments);
  CHECK_EQ(q.chain.total, 64u * kMaxChainSegments);
  CHECK_POP(q, kRingChainTooLong, 0);
}

TEST(ChainTooLong_over_16MiB_detail_is_head) {
  const uint32_t mib = 1u << 20;
  Q q(true, 8, mib, 9);  // 18 MiB pool
  q.raw->desc(2, q.lo, 9 * mib, NEXT, 3);
  q.raw->desc(3, q.lo + 9 * mib, kMaxFrameBytes - 9 * mib + 1, 0, 0);
  q.offer({2});
  CHECK_POP(q, kRingChainTooLong, 2);
  Q ok(true, 8, mib, 9);
  ok.raw->desc(2, ok.lo, 9 * mib, NEXT, 3);
  ok.raw->desc(3, ok.lo + 9 * mib, kMaxFrameBytes - 9 * mib, 0, 0);
  ok.offer({2});
  CHECK_POP(ok, kRingOk, 0);
  CHECK_EQ(ok.chain.total, kMaxFrameBytes);
  Q one(true, 8, mib, 9);  // a single descriptor over 16 MiB
  one.raw->desc(5, one.lo, kMaxFrameBytes + 1, 0, 0);
  one.offer({5});
  CHECK_POP(one, kRingChainTooLong, 5);
}

// BUG (native/virtq.cc DeviceQueue::pop): Chain::total is a uint32_t and the 16 MiB check runs
// after the addition, so a second segment of length >= 2^32 - 16 MiB (legal in a pool that
// large: region.ts allows regions up to 4 GiB - 1, and validate_region has no cap) wraps the sum
// and the chain is ACCEPTED with a tiny `total` while its segments span ~4 GiB. The TS model
// (plain JS numbers) says ChainTooLong. The region is a 4 GiB MAP_NORESERVE mapping of which only
// the header and queue pages are ever touched.
TEST(BUG_chain_total_wraps_u32_and_escapes_ChainTooLong) {
  const uint32_t qsize = 8;
  const uint32_t nq = 2;
  const uint32_t pool_off = pool_offset_for(nq, qsize);
  const uint32_t pool_size = 0xff000000u;  // 4 GiB - 16 MiB
  const size_t len = size_t{pool_off} + pool_size;
  void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) SKIP("cannot reserve a 4 GiB mapping");
  uint8_t* p = static_cast<uint8_t*>(m);
  drv::write_header(p, nq, qsize, pool_off, pool_size, 1u << VIRTIO_RING_F_EVENT_IDX);
  const char* why = nullptr;
  const bool valid = validate_region(p, len, &why);
  CHECK(valid);
  if (valid) {
    RegionHeader h;
    std::memcpy(&h, p, sizeof h);
    DeviceQueue dq;
    dq.init(p, len, h, 1, true);
    dq.reset(true);
    RawQueue raw(p, 1);
    raw.desc(0, pool_off, kMaxFrameBytes, NEXT, 1);  // exactly 16 MiB: not yet too long
    raw.desc(1, pool_off, pool_size, 0, 0);          // the whole pool: 16 MiB + 4 GiB - 16 MiB = 2^32
    raw.avail(0, 0);
    raw.set_avail_idx(1);
    Chain c;
    const PopResult pr = dq.pop(&c);
    if (pr == PopResult::kChain) {
      uint64_t sum = 0;
      for (uint32_t s = 0; s < c.nseg; s++) sum += c.seg[s].len;
      std::fprintf(stderr, "    accepted: nseg %u, total %u, segments sum to %llu bytes\n", c.nseg, c.total,
                   static_cast<unsigned long long>(sum));
    }
    CHECK(pr == PopResult::kBroken);
    const QueueStatus* st = reinterpret_cast<const QueueStatus*>(p + kQueueStatusOff) + 1;
    CHECK_EQ(st->error, uint32_t{kRingChainTooLong});
    CHECK_EQ(st->detail, 0u);
  }
  munmap(m, len);
}

TEST(checks_run_in_native_order) {
  auto order = [](uint16_t flags, bool addr_in_pool, uint32_t len, bool is_tx) {
    Q q(is_tx);
    q.raw->desc(0, addr_in_pool ? q.lo : 0, len, flags, 99);
    q.offer({0});
    return pop_error(q).first;
  };
  CHECK_EQ(order(INDIRECT | WRITE, false, 0, true), uint32_t{kRingIndirectUnsupported});
  CHECK_EQ(order(WRITE | NEXT, false, 0, true), uint32_t{kRingWriteOnlyInTx});
  CHECK_EQ(order(NEXT, false, 0, false), uint32_t{kRingReadOnlyInRx});
  CHECK_EQ(order(NEXT, false, 0, true), uint32_t{kRingZeroLength});
  CHECK_EQ(order(NEXT, false, 64, true), uint32_t{kRingDescOutOfPool});
  CHECK_EQ(order(NEXT, true, 64, true), uint32_t{kRingNextOutOfRange});
}

TEST(takes_good_chains_before_a_bad_one_then_stops) {
  Q q(true);
  q.raw->desc(0, q.lo, 64, 0, 0);
  q.raw->desc(1, q.lo, 0, 0, 0);
  q.offer({0, 1, 0});
  CHECK(q.dev.pop(&q.chain) == PopResult::kChain);
  CHECK_POP(q, kRingZeroLength, 1);
  CHECK_EQ(q.dev.pending(), 0);  // not READY: nothing pending
}

// NEEDS_RESET is sticky: no chain comes out, the first error stays, config_generation moved once;
// reset() clears it. (A not-READY queue has nothing pending, so pop says kEmpty, as the TS model
// documents: "A queue that is not READY (disabled or NEEDS_RESET) has nothing pending".)
TEST(needs_reset_is_sticky_until_reset_and_bumps_config_generation) {
  Q q(true);
  q.raw->desc(0, q.lo, 64, 0, 0);
  const uint32_t g0 = q.r->generation();
  q.offer({16, 0, 0});
  CHECK(q.dev.pop(&q.chain) == PopResult::kBroken);
  CHECK_EQ(q.r->generation(), g0 + 1);
  for (int i = 0; i < 5; i++) {
    const PopResult pr = q.dev.pop(&q.chain);
    CHECK(pr != PopResult::kChain);
    CHECK(pr == PopResult::kEmpty);
  }
  CHECK_EQ(q.dev.pending(), 0);
  CHECK(!q.dev.enable_kick());
  q.dev.fail(kRingZeroLength, 3);  // fail() keeps the first error
  CHECK_EQ(q.state(), uint32_t{kQueueNeedsReset});
  CHECK_EQ(q.error(), uint32_t{kRingHeadOutOfRange});
  CHECK_EQ(q.detail(), 16u);
  CHECK_EQ(q.r->generation(), g0 + 1);
  q.dev.reset(true);
  CHECK_EQ(q.state(), uint32_t{kQueueReady});
  CHECK_EQ(q.error(), 0u);
  CHECK_EQ(q.detail(), 0u);
  CHECK_EQ(q.r->generation(), g0 + 2);
  // Serviced again from index 0.
  q.offer({0});
  CHECK(q.dev.pop(&q.chain) == PopResult::kChain);
  CHECK_EQ(q.chain.head, 0);
  // The other queue of the region was not touched.
  CHECK_EQ(q.r->state(0), uint32_t{kQueueDisabled});
  CHECK_EQ(q.r->error(0), 0u);
}

TEST(reset_zeroes_indices_and_enables_or_disables) {
  Q q(false, 8);
  for (uint16_t d = 0; d < 8; d++) q.raw->desc(d, q.r->slot(0, d), 64, WRITE, 0);
  for (uint16_t i = 0; i < 5; i++) q.raw->avail(i, i);
  q.raw->set_avail_idx(5);
  for (int i = 0; i < 5; i++) REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
  for (uint16_t i = 0; i < 5; i++) q.dev.push_used(i, 10);
  q.dev.publish_used();
  q.dev.enable_kick();
  q.raw->set_used_flags(1);
  CHECK_EQ(q.raw->used_idx(), 5);
  CHECK_EQ(q.raw->avail_event(), 5);
  const uint32_t g0 = q.r->generation();
  q.dev.reset(true);
  CHECK_EQ(q.raw->used_idx(), 0);
  CHECK_EQ(q.raw->avail_idx(), 0);  // the driver's index too (2.6.1.3.2 as virtq.cc documents)
  CHECK_EQ(q.raw->avail_event(), 0);
  CHECK_EQ(q.raw->used_flags(), 0);
  CHECK_EQ(q.state(), uint32_t{kQueueReady});
  CHECK_EQ(q.r->generation(), g0 + 1);
  CHECK_EQ(q.dev.pending(), 0);
  // Starts over at avail index 0 / used index 0.
  q.raw->avail(0, 7);
  q.raw->set_avail_idx(1);
  REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
  CHECK_EQ(q.chain.head, 7);
  q.dev.push_used(7, 42);
  q.dev.publish_used();
  CHECK_EQ(q.raw->used_idx(), 1);
  CHECK_EQ(q.raw->used(0).id, 7u);
  CHECK_EQ(q.raw->used(0).len, 42u);
  // reset(false): disabled, not serviced.
  q.dev.reset(false);
  CHECK_EQ(q.state(), uint32_t{kQueueDisabled});
  q.raw->avail(0, 1);
  q.raw->set_avail_idx(1);
  CHECK_EQ(q.dev.pending(), 0);
  CHECK(q.dev.pop(&q.chain) == PopResult::kEmpty);
  CHECK(!q.dev.enable_kick());
  CHECK_EQ(q.state(), uint32_t{kQueueDisabled});
  // set_vid lands in this queue's QueueStatus only.
  q.dev.set_vid(7);
  CHECK_EQ(q.r->vid(0), 7u);
  CHECK_EQ(q.r->vid(1), 0u);
}

TEST(a_disabled_queue_is_not_serviced) {
  Q q(true, 8, 64, 0, true, /*enable=*/false);
  q.raw->desc(0, q.lo, 64, 0, 0);
  q.offer({0});
  CHECK_EQ(q.dev.pending(), 0);
  CHECK(q.dev.pop(&q.chain) == PopResult::kEmpty);
  CHECK(!q.dev.enable_kick());
  CHECK_EQ(q.state(), uint32_t{kQueueDisabled});
}

// ---- wraparound -------------------------------------------------------------------------------

namespace {

uint8_t pat(uint32_t seq, uint32_t i) { return static_cast<uint8_t>(seq * 31u + i * 7u + (i >> 8)); }

// Pushes `total` chains of 1..3 segments through a transmitq of size qsize with free-running u16
// indices on both sides, checking every chain's bytes and every used element.
void wrap_run(uint32_t qsize, uint32_t total) {
  Geometry g;
  g.pairs = 1;
  g.queue_size = qsize;
  g.buffer_size = 64;
  Region r(g);
  RegionHeader h;
  std::memcpy(&h, r.data(), sizeof h);
  DeviceQueue dq;
  dq.init(r.data(), r.size(), h, 1, true);
  dq.reset(true);
  drv::DriverQueue d(r, 1);
  Chain c;
  std::vector<uint32_t> fifo;  // seqs made available, in order, not yet popped
  size_t fifo_at = 0;
  std::mt19937 rng(qsize);
  uint32_t posted = 0, popped = 0, harvested = 0, wraps = 0, errors = 0;
  uint16_t last_used_idx = 0;
  std::vector<drv::DriverQueue::Done> done;
  uint8_t frame[192];
  while (harvested < total && errors < 10) {
    // Driver: add what fits (a random number), publish.
    const uint32_t want = 1 + rng() % qsize;
    for (uint32_t i = 0; i < want && posted < total; i++) {
      const uint32_t nseg = 1 + (posted % 3 < qsize ? posted % 3 : 0);
      const uint32_t len = nseg * 20 + posted % 23 + 1;
      for (uint32_t b = 0; b < len; b++) frame[b] = pat(posted, b);
      if (!d.add_tx(frame, len, nseg, posted)) break;
      fifo.push_back(posted);
      posted++;
    }
    d.publish();
    if (dq.pending() != static_cast<int>(posted - popped)) {
      std::fprintf(stderr, "    pending %d, expected %u\n", dq.pending(), posted - popped);
      errors++;
    }
    // Device: take some, complete them with used.len = seq.
    const uint32_t take = 1 + rng() % qsize;
    for (uint32_t i = 0; i < take; i++) {
      const PopResult pr = dq.pop(&c);
      if (pr == PopResult::kEmpty) break;
      if (pr != PopResult::kChain) {
        std::fprintf(stderr, "    pop broke: error %u detail %u\n", r.error(1), r.detail(1));
        errors += 10;
        break;
      }
      const uint32_t seq = fifo[fifo_at++];
      const uint32_t nseg = 1 + (seq % 3 < qsize ? seq % 3 : 0);
      const uint32_t len = nseg * 20 + seq % 23 + 1;
      if (c.nseg != nseg || c.total != len) {
        std::fprintf(stderr, "    seq %u: nseg %u total %u, expected %u / %u\n", seq, c.nseg, c.total, nseg, len);
        errors++;
      }
      uint32_t at = 0;
      for (uint32_t s = 0; s < c.nseg; s++)
        for (uint32_t b = 0; b < c.seg[s].len; b++, at++)
          if (c.seg[s].ptr[b] != pat(seq, at)) {
            errors++;
            s = c.nseg;
            break;
          }
      dq.push_used(c.head, seq);
      popped++;
    }
    dq.publish_used();
    // Driver: harvest and check.
    done.clear();
    d.harvest(&done, false);
    for (const auto& e : done) {
      if (e.len != static_cast<uint32_t>(e.token) || e.token != harvested) {
        std::fprintf(stderr, "    used #%u: head %u len %u token %llu\n", harvested, e.head, e.len,
                     static_cast<unsigned long long>(e.token));
        errors++;
      }
      harvested++;
    }
    const uint16_t ui = d.raw().used_idx();
    if (ui < last_used_idx) wraps++;
    last_used_idx = ui;
    if (fifo_at > 4096) {
      fifo.erase(fifo.begin(), fifo.begin() + static_cast<long>(fifo_at));
      fifo_at = 0;
    }
  }
  CHECK_EQ(errors, 0u);
  CHECK_EQ(harvested, total);
  CHECK_EQ(d.bad_used(), 0u);
  CHECK(wraps >= total / 65536);  // the u16 indices really wrapped
  CHECK_EQ(d.raw().used_idx(), static_cast<uint16_t>(total));
  CHECK_EQ(d.raw().avail_idx(), static_cast<uint16_t>(total));
  CHECK_EQ(r.state(1), uint32_t{kQueueReady});
}

}  // namespace

TEST(wraparound_200k_chains_queue_4) { wrap_run(4, 200000); }

TEST(wraparound_200k_chains_queue_256) { wrap_run(256, 200000); }

TEST(pending_counts_across_the_u16_wrap) {
  Q q(true, 8);
  for (uint16_t d = 0; d < 8; d++) q.raw->desc(d, q.lo, 64, 0, 0);
  // Walk last_avail to 65533 in steps of 8, then make 8 available across the wrap.
  uint16_t ai = 0;
  while (ai != 65528) {
    for (int i = 0; i < 8; i++) q.raw->avail(static_cast<uint16_t>(ai + i), static_cast<uint16_t>(i));
    ai = static_cast<uint16_t>(ai + 8);
    q.raw->set_avail_idx(ai);
    for (int i = 0; i < 8; i++) REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
  }
  for (int i = 0; i < 5; i++) q.raw->avail(static_cast<uint16_t>(ai + i), 0);
  q.raw->set_avail_idx(static_cast<uint16_t>(ai + 5));
  for (int i = 0; i < 5; i++) REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);  // last_avail 65533
  for (int i = 0; i < 8; i++) q.raw->avail(static_cast<uint16_t>(65533 + i), static_cast<uint16_t>(i));
  q.raw->set_avail_idx(5);  // 65533 + 8 mod 2^16
  CHECK_EQ(q.dev.pending(), 8);
  for (int i = 0; i < 8; i++) {
    REQUIRE(q.dev.pop(&q.chain) == PopResult::kChain);
    CHECK_EQ(q.chain.head, i);
  }
  CHECK(q.dev.pop(&q.chain) == PopResult::kEmpty);
  q.raw->set_avail_idx(5 + 9);  // 9 ahead of last_avail 5: too far
  CHECK_EQ(q.dev.pending(), -1);
  CHECK_EQ(q.error(), uint32_t{kRingAvailIdxTooFar});
  CHECK_EQ(q.detail(), 14u);
}

// ---- fuzz -------------------------------------------------------------------------------------

namespace {

uint64_t pick_addr(std::mt19937_64& rng, uint64_t lo, uint64_t hi) {
  switch (rng() % 8) {
    case 0: return rng();
    case 1: return rng() & 0xffffffffu;
    case 2: return lo - 1 - rng() % 64;
    case 3: return hi - rng() % 128;
    case 4: return hi + rng() % 128;
    case 5: return ~uint64_t{0} - rng() % 4096;
    default: return lo + rng() % (hi - lo);
  }
}

uint32_t pick_len(std::mt19937_64& rng, uint64_t lo, uint64_t hi) {
  switch (rng() % 6) {
    case 0: return static_cast<uint32_t>(rng());
    case 1: return 0;
    case 2: return static_cast<uint32_t>(hi - lo - rng() % 8);
    case 3: return 0xffffffffu - static_cast<uint32_t>(rng() % 8);
    default: return 1 + static_cast<uint32_t>(rng() % 300);
  }
}

// One fuzz campaign on one queue. Returns the number of problems found.
uint32_t fuzz_queue(bool is_tx, uint32_t qsize, bool event_idx, uint32_t rounds, uint64_t seed,
                    uint32_t* chains_out) {
  Geometry g;
  g.pairs = 1;
  g.queue_size = qsize;
  g.buffer_size = 128;
  g.event_idx = event_idx;
  Region r(g);
  const uint32_t idx = is_tx ? 1 : 0;
  const uint32_t other = idx ^ 1;
  RegionHeader h;
  std::memcpy(&h, r.data(), sizeof h);
  DeviceQueue dq;
  dq.init(r.data(), r.size(), h, idx, is_tx);
  dq.reset(true);
  RawQueue raw(r.data(), idx);
  RawQueue other_raw(r.data(), other);
  // The other queue and the header's JS-written words must come through unchanged.
  std::vector<uint8_t> other_before(other_raw.base(), other_raw.base() + other_raw.stride());
  std::vector<uint8_t> hdr_before(r.data(), r.data() + 36);
  const QueueStatus other_status = *r.status(other);
  const uint64_t lo = r.pool_offset(), hi = r.pool_end();
  std::mt19937_64 rng(seed);
  Chain c;
  uint32_t problems = 0, chains = 0;
  uint16_t avail_guess = 0;
  uint16_t dev_last = 0;  // the device's last_avail as the driver can tell (pops - unpops since reset)
  bool status_scribbled = false;  // until the next reset(): error/detail are ours, not the device's
  for (uint32_t round = 0; round < rounds && problems < 20; round++) {
    // Scribble: random bytes, random (plausible or not) descriptors and indices.
    const uint32_t muts = 1 + rng() % 4;
    for (uint32_t m = 0; m < muts; m++) {
      if (rng() % 3 == 0) {  // a well-formed chain of 1..3 at the driver's next avail slot
        const uint16_t cur = raw.avail_idx();
        if (static_cast<uint16_t>(cur + 1 - dev_last) > qsize) continue;
        const uint32_t nseg = 1 + rng() % (qsize < 3 ? qsize : 3);
        const uint16_t head = static_cast<uint16_t>(rng() % qsize);
        uint16_t d = head;
        for (uint32_t s = 0; s < nseg; s++) {
          const uint16_t nd = static_cast<uint16_t>((d + 1) % qsize);
          const uint32_t len = 1 + static_cast<uint32_t>(rng() % 128);
          raw.desc(d, lo + rng() % (hi - lo - len), len,
                   static_cast<uint16_t>((is_tx ? 0 : WRITE) | (s + 1 < nseg ? NEXT : 0)), nd);
          d = nd;
        }
        raw.avail(cur, head);
        raw.set_avail_idx(static_cast<uint16_t>(cur + 1));
        avail_guess = static_cast<uint16_t>(cur + 1);
        continue;
      }
      switch (rng() % 9) {
        case 0: {  // random bytes anywhere in the queue's area
          const uint32_t n = 1 + rng() % 32;
          const uint32_t at = rng() % raw.stride();
          for (uint32_t i = 0; i < n && at + i < raw.stride(); i++) raw.base()[at + i] = static_cast<uint8_t>(rng());
          break;
        }
        case 1:
        case 2:
        case 3: {  // a descriptor, mostly plausible
          const uint32_t d = rng() % qsize;
          uint16_t flags = static_cast<uint16_t>(rng() % 8 == 0 ? rng() : (rng() % 4));
          if (rng() % 2) flags = static_cast<uint16_t>((flags & ~WRITE) | (is_tx ? 0 : WRITE));
          const uint16_t next = static_cast<uint16_t>(rng() % 8 == 0 ? rng() : rng() % qsize);
          raw.desc(d, rng() % 2 ? lo + rng() % (hi - lo) : pick_addr(rng, lo, hi),
                   rng() % 2 ? 1 + static_cast<uint32_t>(rng() % 200) : pick_len(rng, lo, hi), flags, next);
          break;
        }
        case 4:
        case 5: {  // avail ring entries
          const uint16_t at = static_cast<uint16_t>(rng());
          raw.avail(at, static_cast<uint16_t>(rng() % 8 == 0 ? rng() : rng() % qsize));
          break;
        }
        case 6: {  // avail.idx, mostly near where the device is
          avail_guess = static_cast<uint16_t>(avail_guess + rng() % (qsize + 2));
          raw.set_avail_idx(rng() % 6 == 0 ? static_cast<uint16_t>(rng()) : avail_guess);
          break;
        }
        case 7: {  // event / flag words, and the device-owned used ring (JS can write it too)
          raw.set_used_event(static_cast<uint16_t>(rng()));
          raw.set_avail_flags(static_cast<uint16_t>(rng()));
          if (rng() % 2) raw.set_avail_event(static_cast<uint16_t>(rng()));
          if (rng() % 2) raw.set_used_flags(static_cast<uint16_t>(rng()));
          break;
        }
        default: {  // the QueueStatus words (device-owned, but in JS's buffer)
          if (rng() % 16 == 0) {
            QueueStatus* st = r.status(idx);
            st->state = static_cast<uint32_t>(rng() % 4 == 0 ? rng() : rng() % 3);
            st->error = static_cast<uint32_t>(rng());
            st->detail = static_cast<uint32_t>(rng());
            status_scribbled = true;
          }
          break;
        }
      }
    }
    // Drive the device.
    const uint32_t ops = 1 + rng() % 6;
    for (uint32_t o = 0; o < ops; o++) {
      switch (rng() % 6) {
        case 0:
        case 1:
        case 2: {
          const PopResult pr = dq.pop(&c);
          if (pr != PopResult::kChain) break;
          chains++;
          dev_last++;
          uint64_t sum = 0;
          bool bad = c.head >= qsize || c.nseg == 0 || c.nseg > kMaxChainSegments;
          for (uint32_t s = 0; !bad && s < c.nseg; s++) {
            const uint8_t* p = c.seg[s].ptr;
            const uint64_t off = static_cast<uint64_t>(p - r.data());
            if (p < r.data() || off < lo || c.seg[s].len == 0 || off + c.seg[s].len > hi) bad = true;
            sum += c.seg[s].len;
            if (!bad) {
              // Touch both ends (ASan checks the access); a receive chain is written.
              volatile uint8_t x = p[0];
              volatile uint8_t y = p[c.seg[s].len - 1];
              (void)x;
              (void)y;
              if (!is_tx) {
                c.seg[s].ptr[0] = 0x5a;
                c.seg[s].ptr[c.seg[s].len - 1] = 0xa5;
              }
            }
          }
          if (bad || sum != c.total || c.total > kMaxFrameBytes) {
            std::fprintf(stderr, "    round %u: bad chain head %u nseg %u total %u\n", round, c.head, c.nseg, c.total);
            problems++;
          }
          if (rng() % 8 == 0) {
            dq.unpop();
            dev_last--;
          } else {
            dq.push_used(c.head, static_cast<uint32_t>(rng()));
          }
          break;
        }
        case 3:
          dq.publish_used();
          break;
        case 4:
          dq.enable_kick();
          break;
        default: {
          const int n = dq.pending();
          if (n < -1 || n > static_cast<int>(qsize)) {
            std::fprintf(stderr, "    round %u: pending %d\n", round, n);
            problems++;
          }
          break;
        }
      }
    }
    const uint32_t st = dq.state();
    if (st == kQueueNeedsReset && !status_scribbled) {
      const uint32_t err = r.error(idx);
      if (err == kRingOk || err > kRingChainTooLong) {
        std::fprintf(stderr, "    round %u: NEEDS_RESET with error %u\n", round, err);
        problems++;
      }
    }
    if (st != kQueueReady && rng() % 3 != 0) {
      dq.reset(true);
      avail_guess = 0;
      dev_last = 0;
      status_scribbled = false;
    }
  }
  if (std::memcmp(other_before.data(), other_raw.base(), other_before.size()) != 0) {
    std::fprintf(stderr, "    the device wrote into the other queue\n");
    problems++;
  }
  if (std::memcmp(hdr_before.data(), r.data(), hdr_before.size()) != 0) {
    std::fprintf(stderr, "    the device wrote into the JS-owned header words\n");
    problems++;
  }
  if (std::memcmp(&other_status, r.status(other), sizeof other_status) != 0) {
    std::fprintf(stderr, "    the device wrote the other queue's status\n");
    problems++;
  }
  *chains_out += chains;
  return problems;
}

}  // namespace

TEST(fuzz_200k_rounds_of_scribbled_rings_stay_inside_the_region) {
  struct Cfg { bool tx; uint32_t q; bool ev; };
  const Cfg cfgs[] = {{true, 8, true}, {false, 8, true}, {true, 64, false}, {false, 2, true},
                      {true, 2, false}, {false, 128, true}, {true, 16, true}, {false, 16, false}};
  const uint32_t per = 200000 / (sizeof cfgs / sizeof cfgs[0]);
  uint32_t chains = 0;
  uint64_t seed = 0x5eed;
  for (const Cfg& c : cfgs) {
    const uint32_t problems = fuzz_queue(c.tx, c.q, c.ev, per, seed++, &chains);
    if (problems != 0) std::fprintf(stderr, "    tx %d q %u event_idx %d: %u problems\n", c.tx, c.q, c.ev, problems);
    CHECK_EQ(problems, 0u);
  }
  std::fprintf(stderr, "    %u chains accepted over 200000 rounds\n", chains);
  CHECK(chains > 20000);  // the fuzzer reached the accept path, not only the error paths
}
