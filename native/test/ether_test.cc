// ether_test.cc — the wire-format helpers of native/ether.h: csum_start across an inserted or
// stripped 802.1Q tag (what transmit and receive both use), the MTU-to-frame rule, be16.
// The device paths that use them are tested end to end in device_test.cc (wire) and
// rx_deliver_test.cc (receive).
#include <cstdint>

#include "../ether.h"
#include "test_main.h"

using namespace condis;

namespace {

constexpr int32_t kInsert = static_cast<int32_t>(kVlanTagLen);
constexpr int32_t kStrip = -static_cast<int32_t>(kVlanTagLen);

}  // namespace

TEST(csum_start_moves_4_later_when_a_tag_is_inserted_and_4_earlier_when_stripped) {
  uint16_t cs = 0;
  CHECK(csum_start_across_tag(34, kInsert, &cs));  // 14 + IPv4 20: the L4 header of an untagged frame
  CHECK_EQ(cs, 38u);
  CHECK(csum_start_across_tag(38, kStrip, &cs));
  CHECK_EQ(cs, 34u);
}

TEST(csum_start_inside_the_macs_is_left_as_it_is_when_the_tag_is_stripped) {
  for (uint16_t bad = 0; bad < kVlanTagLen; bad++) {
    uint16_t cs = 0xbeef;
    CHECK(!csum_start_across_tag(bad, kStrip, &cs));
    CHECK_EQ(cs, 0xbeefu);  // untouched: the caller keeps the field as the sender wrote it
  }
  uint16_t cs = 0;
  CHECK(csum_start_across_tag(kVlanTagLen, kStrip, &cs));
  CHECK_EQ(cs, 0u);
}

TEST(csum_start_insert_then_strip_is_the_identity_below_the_wrap) {
  for (uint32_t v = 0; v + kVlanTagLen <= 0xffff; v++) {
    uint16_t tagged = 0, back = 0;
    REQUIRE(csum_start_across_tag(static_cast<uint16_t>(v), kInsert, &tagged));
    REQUIRE(csum_start_across_tag(tagged, kStrip, &back));
    REQUIRE_EQ(back, v);
  }
}

TEST(csum_start_insert_wraps_like_the_le16_field) {
  uint16_t cs = 0;
  CHECK(csum_start_across_tag(0xfffe, kInsert, &cs));
  CHECK_EQ(cs, 2u);
}

TEST(max_frame_for_mtu_adds_a_tagged_ethernet_header) {
  CHECK_EQ(max_frame_for_mtu(1500), 1518u);
  CHECK_EQ(max_frame_for_mtu(9216), 9234u);
}

TEST(be16_reads_network_order) {
  const uint8_t tpid[2] = {0x81, 0x00};
  CHECK_EQ(be16(tpid), kEthP8021Q);
  const uint8_t flags[1] = {kVnetHdrFNeedsCsum};
  CHECK(vnet_needs_csum(flags));
}
