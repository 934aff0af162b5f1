// rx_deliver_test.cc — the device's receive path (Device::deliver in native/io_loop.cc) on one
// wire Device with no thread (device_access.h): regression tests for what the fuzz target
// native/fuzz/rx_parser.cc found, each named after what broke.
#include <sys/uio.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "../device.h"
#include "device_access.h"
#include "driver_ring.h"
#include "test_main.h"

using namespace condis;

namespace {

// One wire device over a one-pair region; pair 0's receive queue enabled.
struct Rx {
  std::unique_ptr<drv::Region> r;
  std::shared_ptr<Device> dev;
  std::unique_ptr<drv::RawQueue> raw;

  // features: what the driver accepted (default: every receive offload, so the header reaches it
  // as the sender wrote it).
  explicit Rx(bool vnet, uint64_t features = kAllNetFeatures) {
    drv::Geometry g;
    g.pairs = 1;
    g.queue_size = 8;
    g.buffer_size = 256;
    r.reset(new drv::Region(g));
    DeviceConfig cfg;
    cfg.backend = BackendKind::kWire;
    cfg.tap.vnet_hdr = vnet;
    cfg.features_given = vnet;
    cfg.features = vnet ? features : 0;
    Error err;
    dev = Device::create(r->data(), r->size(), cfg, &err);
    if (dev) dev->reset_queue(0, false);
    raw.reset(new drv::RawQueue(r->data(), 0));
  }
  ~Rx() { dev.reset(); }  // the region outlives the device

  // Posts one receive chain with segments of the given lengths (descriptors 0.., pool slots 0..).
  void post(const std::vector<uint32_t>& lens) {
    for (uint32_t i = 0; i < lens.size(); i++) {
      const bool last = i + 1 == lens.size();
      raw->desc(i, r->slot(0, i), lens[i], VIRTQ_DESC_F_WRITE | (last ? 0 : VIRTQ_DESC_F_NEXT),
                static_cast<uint16_t>(last ? 0 : i + 1));
    }
    raw->avail(0, 0);
    raw->set_avail_idx(1);
  }

  Deliver deliver(std::vector<uint8_t> frame) {
    iovec iov{frame.data(), frame.size()};
    uint32_t rxq = 0;
    const Deliver d = DeviceTestAccess::deliver(*dev, &iov, 1, static_cast<uint32_t>(frame.size()), &rxq);
    DeviceTestAccess::publish_rx(*dev);
    return d;
  }

  // The first `n` bytes the device wrote into the posted chain of `lens`.
  std::vector<uint8_t> received(const std::vector<uint32_t>& lens, uint32_t n) const {
    std::vector<uint8_t> out;
    for (uint32_t i = 0; i < lens.size() && out.size() < n; i++) {
      const uint8_t* p = r->data() + r->slot(0, i);
      for (uint32_t k = 0; k < lens[i] && out.size() < n; k++) out.push_back(p[k]);
    }
    return out;
  }

  DeviceStats stats() const {
    DeviceStats s;
    dev->stats(&s);
    return s;
  }
};

}  // namespace

// deliver() read 4 bytes at the ethertype (ethertype + a TCI it might not need) before knowing
// the frame was tagged, so a 14- or 15-byte untagged frame, which the transmit side accepts,
// was counted rx_malformed and dropped. Found by native/fuzz/rx_parser.cc.
TEST(fourteen_and_fifteen_byte_untagged_frames_are_delivered_not_malformed) {
  for (uint32_t len : {14u, 15u}) {
    Rx rx(false);
    REQUIRE(rx.dev != nullptr);
    rx.post({64});
    std::vector<uint8_t> f(len);
    for (uint32_t i = 0; i < len; i++) f[i] = static_cast<uint8_t>(0x10 + i);
    f[12] = 0x08;  // IPv4, untagged
    f[13] = 0x00;
    CHECK(rx.deliver(f) == Deliver::kDone);
    CHECK_EQ(rx.raw->used_idx(), 1);
    CHECK_EQ(rx.raw->used(0).len, len);
    CHECK(rx.received({64}, len) == f);
    CHECK_EQ(rx.stats().rx_malformed, 0u);
    CHECK_EQ(rx.stats().pairs[0].rx_frames, 1u);
  }
}

// With the vnet header on, stripping a tag moves csum_start 4 bytes down; deliver() fixed it
// only when the chain's first segment held 8 bytes or more, so a driver that split its buffer
// inside the header (virtio 1.2, 2.7.4 lets it) got the frame with csum_start still counting
// the tag. Found by native/fuzz/rx_parser.cc.
TEST(csum_start_is_fixed_when_the_vnet_header_spans_receive_segments) {
  const std::vector<uint32_t> lens{2, 5, 3, 200};  // csum_start (bytes 6-7) spans segments 1 and 2
  Rx rx(true);
  REQUIRE(rx.dev != nullptr);
  rx.post(lens);
  std::vector<uint8_t> f(kVnetHdrLen + 18 + 46, 0x5a);
  std::memset(f.data(), 0, kVnetHdrLen);
  f[0] = 1;   // VIRTIO_NET_HDR_F_NEEDS_CSUM
  f[6] = 38;  // csum_start 38 (LE): 14 + 4 (tag) + 20 (IPv4 header)
  f[7] = 0;
  f[8] = 16;  // csum_offset
  const uint32_t e = kVnetHdrLen + 12;
  f[e] = 0x81;  // 802.1Q, VID 0 (priority tag only): pair 0, tag stripped
  f[e + 1] = 0x00;
  f[e + 2] = 0x00;
  f[e + 3] = 0x00;
  f[e + 4] = 0x08;
  f[e + 5] = 0x00;
  CHECK(rx.deliver(f) == Deliver::kDone);
  REQUIRE_EQ(rx.raw->used_idx(), 1);
  const uint32_t n = static_cast<uint32_t>(f.size()) - 4;
  REQUIRE_EQ(rx.raw->used(0).len, n);
  const std::vector<uint8_t> got = rx.received(lens, n);
  CHECK_EQ(got[0], 1);
  CHECK_EQ(got[6] | (got[7] << 8), 34);  // now counts from a frame without the tag
  CHECK_EQ(got[8], 16);
  CHECK_EQ(got[e], 0x08);  // the ethertype follows the MACs directly
}

// Without GUEST_CSUM the device completes a partial checksum in the receive chain. The driver may
// split its buffers at odd offsets (2.7.4), so 16-bit words straddle segments: the sum must pair
// a segment's last byte with the next one's first. Checked against the sum of the flat frame.
TEST(a_partial_checksum_is_completed_across_odd_receive_segments) {
  const std::vector<uint32_t> lens{5, 13, 1, 7, 33, 200};
  Rx rx(true, kDefaultNetFeatures);
  REQUIRE(rx.dev != nullptr);
  rx.post(lens);
  const uint32_t l4 = 14 + 20;
  std::vector<uint8_t> f(kVnetHdrLen + l4 + 8 + 37);  // UDP, 37 payload bytes (odd)
  for (size_t i = 0; i < f.size(); i++) f[i] = static_cast<uint8_t>(i * 13 + 5);
  std::memset(f.data(), 0, kVnetHdrLen);
  f[0] = 1;  // NEEDS_CSUM
  f[6] = static_cast<uint8_t>(l4);
  f[8] = 6;  // csum_offset: the UDP checksum
  f[kVnetHdrLen + 12] = 0x08;
  f[kVnetHdrLen + 13] = 0x00;
  const std::vector<uint8_t> sent = f;
  CHECK(rx.deliver(f) == Deliver::kDone);
  const uint32_t n = static_cast<uint32_t>(f.size());
  REQUIRE_EQ(rx.raw->used(0).len, n);
  const std::vector<uint8_t> got = rx.received(lens, n);
  CHECK_EQ(got[0], 0);  // flags 0 for a driver without GUEST_CSUM
  const uint32_t at = kVnetHdrLen + l4;
  const uint16_t want = csum_fold(csum_add(0, sent.data() + at, n - at));
  CHECK_EQ(static_cast<uint16_t>(got[at + 6] << 8 | got[at + 7]), want == 0 ? 0xffff : want);
  CHECK_EQ(rx.stats().csum_completed, 1u);
}
