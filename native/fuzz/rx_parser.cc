// rx_parser.cc — libFuzzer target: the device's receive path (Device::deliver and its helpers
// gather / scatter_frame in native/io_loop.cc): frame classification, 802.1Q strip and VID steer,
// the virtio_net_hdr csum_start fix-up, and the scatter into receive chains of any shape. A real
// wire Device (Device::create) over a region the harness lays out, reached through
// native/test/device_access.h; no thread, no peer.
//
// What it proves, for every input:
//   - memory: each piece of the frame's iovec list is a heap block of exactly its length, every
//     pool byte outside the posted receive buffers is ASan-poisoned, and so are the transmit
//     queues while deliver() runs: a read past a piece, a write past a buffer or into a transmit
//     ring is a report.
//   - behaviour, against a model written from the README and virtio 1.2 (5.1.6, 2.7.4), not from
//     io_loop.cc: each frame's verdict (delivered, no buffer, dropped) and the receive queue it
//     was steered to; after publishing, each receive queue's used ring holds one element per
//     buffer the device consumed, in order, with the right head and length, and each buffer holds
//     the frame with its tag removed (and csum_start 4 smaller when the vnet header asks for a
//     checksum, hdr_len 4 smaller on a GSO frame; for a driver without GUEST_CSUM, flags 0 and
//     a NEEDS_CSUM frame's checksum completed per RFC 1071) followed by untouched bytes; the
//     device's counters match the model's.
//
// Input (native/fuzz/fuzz_input.h; missing bytes read as 0):
//   u8 cfg        bit 0: vnet header (12 bytes before each frame); bits 1-2: queue size 4 << x;
//                 bits 3-4: queue pairs 1 + x; bit 5 (with bit 0): the driver accepts every
//                 virtio-net feature (GUEST_CSUM, GUEST_TSO/USO), else the device's defaults
//                 (no GUEST_ feature: GSO frames are dropped, NEEDS_CSUM ones completed)
//   u16 vid       for each pair 1.. : bound to that VID (bind_pair; 0, out of range or in use:
//                 left unbound and disabled)
//   u8 rx         bit 0: pair 0's receive queue enabled; bit 1 + p: pair p's first chain is
//                 device-readable (a malformed ring: the queue goes to NEEDS_RESET at its pop)
//   per pair p: u8 chains (% 4), each: u8 segments (1 + % 4; a chain that would need more
//                 descriptors than the queue has left ends the pair's list), each u16 length
//                 (1 + % 2048)
//   u8 frames     1 + % 4, each: u16 length (% 2200), u8 pieces (1 + % 6), pieces-1 u16 cut
//                 points (% (length + 1), sorted), then the frame's bytes
#include <sanitizer/asan_interface.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../device.h"
#include "../test/device_access.h"
#include "../test/driver_ring.h"
#include "fuzz_input.h"

using namespace condis;
using condis_fuzz::Input;

namespace {

constexpr uint8_t kFill = 0xee;  // what a posted buffer holds before the device writes it

[[noreturn]] void die(const char* what, long got, long want) {
  std::fprintf(stderr, "rx_parser: %s (device %ld, model %ld)\n", what, got, want);
  std::abort();
}

struct Buffer {
  uint32_t off;  // region offset
  uint32_t len;
};

struct PostedChain {
  uint16_t head;
  std::vector<Buffer> segs;
  uint32_t total;
  bool malformed;
};

// The expected outcome of one receive queue: what its used ring and buffers must hold.
struct RxQueueModel {
  bool ready = false;
  std::vector<PostedChain> chains;  // posted, in avail order
  size_t next = 0;                  // next chain the device takes
  struct Used {
    uint16_t head;
    uint32_t len;
    std::vector<uint8_t> bytes;  // what the chain's first len bytes must be
    size_t chain;
  };
  std::vector<Used> used;
};

struct PairCounters {
  uint64_t rx_frames = 0, rx_bytes = 0, rx_no_buffer = 0, rx_too_big = 0, rx_gso_dropped = 0;
};

// The model's own (ether.h has the device's): a model that shared the code's helpers and
// constants would agree with the code's mistakes.
uint16_t model_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint16_t model_le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
void model_put_le16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xff);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// RFC 1071 over out[from, to): big-endian words, an odd last byte padded with zero, folded and
// complemented.
uint16_t model_checksum(const std::vector<uint8_t>& out, size_t from, size_t to) {
  uint32_t sum = 0;
  for (size_t i = from; i < to; i += 2) {
    sum += static_cast<uint32_t>(out[i]) << 8;
    if (i + 1 < to) sum += out[i + 1];
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum & 0xffff);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t cfg = in.u8();
  const bool vnet = cfg & 1;
  const uint32_t hl = vnet ? kVnetHdrLen : 0;
  const uint32_t q = 4u << ((cfg >> 1) & 3);
  const uint32_t pairs = 1 + ((cfg >> 3) & 3);
  const uint32_t nq = 2 * pairs;
  const bool guest_all = vnet && ((cfg >> 5) & 1);

  std::vector<uint16_t> want_vid(pairs, 0);
  for (uint32_t p = 1; p < pairs; p++) want_vid[p] = in.u16();
  const uint8_t rxbits = in.u8();

  // Receive chains: shapes first, so the pool can be sized; buffers 8-aligned with 16-byte gaps.
  const uint32_t pool_lo = pool_offset_for(nq, q);
  std::vector<RxQueueModel> rq(pairs);
  uint32_t pool_used = 16;
  for (uint32_t p = 0; p < pairs; p++) {
    const uint32_t nchains = in.u8() % 4;
    uint16_t d = 0;
    for (uint32_t k = 0; k < nchains; k++) {
      PostedChain c{d, {}, 0, k == 0 && ((rxbits >> (1 + p)) & 1)};
      const uint32_t nseg = 1 + in.u8() % 4;
      if (d + nseg > q) break;  // out of descriptors: the driver posts no more
      for (uint32_t s = 0; s < nseg; s++) {
        const uint32_t len = 1 + in.u16() % 2048;
        c.segs.push_back(Buffer{pool_lo + pool_used, len});
        pool_used += ((len + 7) & ~7u) + 16;
        c.total += len;
        d++;
      }
      rq[p].chains.push_back(c);
    }
  }
  const uint32_t pool_size = pool_used;
  const size_t len = size_t{pool_lo} + pool_size;
  void* mem = nullptr;
  if (posix_memalign(&mem, 4096, len) != 0) return 0;
  uint8_t* region = static_cast<uint8_t*>(mem);
  std::memset(region, 0, len);
  drv::write_header(region, nq, q, pool_lo, pool_size, 1u << VIRTIO_RING_F_EVENT_IDX);

  DeviceConfig dc;
  dc.backend = BackendKind::kWire;
  dc.tap.vnet_hdr = vnet;
  if (guest_all) {
    dc.features_given = true;
    dc.features = kAllNetFeatures;
  }
  dc.batch = 1;
  Error err;
  std::shared_ptr<Device> dev = Device::create(region, len, dc, &err);
  if (!dev) die("Device::create refused the harness's region", 0, 0);

  // Steering table: pair 0 untagged; pairs bound by VID (bind_pair enables their queues).
  std::vector<int> vid_pair(4096, -1);
  if (rxbits & 1) {
    if (dev->reset_queue(0, false)) die("reset_queue(0)", 1, 0);
    rq[0].ready = true;
  }
  for (uint32_t p = 1; p < pairs; p++) {
    const uint32_t v = want_vid[p];
    const bool ok = v >= 1 && v <= 4094 && vid_pair[v] < 0;
    const Error e = dev->bind_pair(p, v);
    if (static_cast<bool>(e) == ok) die("bind_pair", !e, ok);
    if (ok) {
      vid_pair[v] = static_cast<int>(p);
      rq[p].ready = true;
    }
  }
  // Post the chains (a well-behaved driver, but for the malformed first chain when asked).
  for (uint32_t p = 0; p < pairs; p++) {
    drv::RawQueue raw(region, 2 * p);
    uint16_t idx = 0;
    for (const PostedChain& c : rq[p].chains) {
      for (size_t s = 0; s < c.segs.size(); s++) {
        const bool last = s + 1 == c.segs.size();
        uint16_t flags = c.malformed ? 0 : VIRTQ_DESC_F_WRITE;
        if (!last) flags |= VIRTQ_DESC_F_NEXT;
        raw.desc(c.head + static_cast<uint32_t>(s), c.segs[s].off, c.segs[s].len, flags,
                 static_cast<uint16_t>(last ? 0 : c.head + s + 1));
        std::memset(region + c.segs[s].off, kFill, c.segs[s].len);
      }
      raw.avail(idx++, c.head);
    }
    raw.set_avail_idx(idx);
  }
  // Every pool byte outside a posted buffer is off limits from here on.
  {
    uint32_t at = pool_lo;
    for (uint32_t p = 0; p < pairs; p++)
      for (const PostedChain& c : rq[p].chains)
        for (const Buffer& b : c.segs) {
          ASAN_POISON_MEMORY_REGION(region + at, b.off - at);
          at = b.off + b.len;
        }
    ASAN_POISON_MEMORY_REGION(region + at, pool_lo + pool_size - at);
  }

  // The frames, and the model's verdict for each.
  uint64_t want_malformed = 0, want_unbound = 0, want_ring_errors = 0, want_csum_completed = 0;
  std::vector<PairCounters> pc(pairs);
  const QueueLayout ql = queue_layout(q);
  const uint32_t nframes = 1 + in.u8() % 4;
  for (uint32_t fi = 0; fi < nframes; fi++) {
    const uint32_t flen = in.u16() % 2200;
    const uint32_t npieces = 1 + in.u8() % 6;
    std::vector<uint32_t> cuts{0};
    for (uint32_t k = 1; k < npieces; k++) cuts.push_back(in.u16() % (flen + 1));
    cuts.push_back(flen);
    std::sort(cuts.begin(), cuts.end());
    std::vector<uint8_t> frame(flen);
    in.bytes(frame.data(), flen);
    std::vector<std::unique_ptr<uint8_t[]>> pieces;
    std::vector<iovec> iov;
    for (uint32_t k = 0; k + 1 < cuts.size(); k++) {
      const uint32_t n = cuts[k + 1] - cuts[k];
      pieces.emplace_back(new uint8_t[n]);
      if (n != 0) std::memcpy(pieces.back().get(), frame.data() + cuts[k], n);
      iov.push_back(iovec{pieces.back().get(), n});
    }

    // The model. A frame is [vnet hdr][dst src][0x8100 TCI]?[type ...]; VID 0 (priority tag)
    // goes to pair 0 untagged.
    Deliver want = Deliver::kDropped;
    int want_rxq = -1;
    bool strip = false;
    uint32_t pair = 0;
    bool steered = false;
    if (flen < hl + 14) {
      want_malformed++;
    } else if (model_be16(&frame[hl + 12]) == 0x8100 && flen < hl + 18) {
      want_malformed++;
    } else {
      uint32_t vid = 0;
      if (model_be16(&frame[hl + 12]) == 0x8100) {
        strip = true;
        vid = model_be16(&frame[hl + 14]) & 0x0fff;
      }
      if (vid != 0 && vid_pair[vid] < 0) {
        want_unbound++;
      } else {
        pair = vid == 0 ? 0 : static_cast<uint32_t>(vid_pair[vid]);
        steered = true;
        want_rxq = static_cast<int>(2 * pair);
      }
    }
    // virtio 1.2, 5.1.6.4: a GSO frame goes only to a driver that accepted its GUEST_ feature
    // (TCPV4 1, TCPV6 4, UDP_L4 5, each possibly with ECN 0x80; the legacy UDP 3 and unknown
    // types never); this device does not segment.
    const uint8_t gso = vnet && steered ? frame[1] : 0;
    const uint8_t gso_kind = gso & 0x7f;
    if (gso != 0 && !(guest_all && (gso_kind == 1 || gso_kind == 4 || gso_kind == 5))) {
      pc[pair].rx_gso_dropped++;
    } else if (steered) {
      RxQueueModel& m = rq[pair];
      if (!m.ready) {
        pc[pair].rx_no_buffer++;
      } else if (m.next == m.chains.size()) {
        want = Deliver::kNoBuffer;
      } else if (m.chains[m.next].malformed) {
        m.ready = false;  // NEEDS_RESET: nothing more is taken from it
        want_ring_errors++;
      } else {
        const PostedChain& c = m.chains[m.next];
        std::vector<uint8_t> out(frame);
        if (strip) out.erase(out.begin() + hl + 12, out.begin() + hl + 16);
        if (out.size() > c.total) {
          m.used.push_back({c.head, 0, {}, m.next});
          pc[pair].rx_too_big++;
        } else {
          if (strip && vnet && (out[0] & 1)) {  // VIRTIO_NET_HDR_F_NEEDS_CSUM: csum_start (LE) moves
            const uint16_t cs = model_le16(&out[6]);
            if (cs >= 4) model_put_le16(&out[6], static_cast<uint16_t>(cs - 4));
          }
          if (strip && vnet && out[1] != 0) {  // a GSO frame's hdr_len moves too (0: not given)
            const uint16_t h = model_le16(&out[2]);
            if (h >= 4) model_put_le16(&out[2], static_cast<uint16_t>(h - 4));
          }
          if (vnet && !guest_all) {  // 5.1.6.3: flags 0 and a fully checksummed frame
            if (out[0] & 1) {
              const size_t start = hl + model_le16(&out[6]);
              const size_t field = start + model_le16(&out[8]);
              if (field + 2 <= out.size()) {
                uint16_t sum = model_checksum(out, start, out.size());
                if (sum == 0 && model_le16(&out[8]) == 6) sum = 0xffff;  // UDP
                out[field] = static_cast<uint8_t>(sum >> 8);
                out[field + 1] = static_cast<uint8_t>(sum & 0xff);
                want_csum_completed++;
              }
            }
            out[0] = 0;
          }
          const uint32_t n = static_cast<uint32_t>(out.size());
          m.used.push_back({c.head, n, std::move(out), m.next});
          pc[pair].rx_frames++;
          pc[pair].rx_bytes += n - hl;
          want = Deliver::kDone;
        }
        m.next++;
      }
    }

    for (uint32_t p = 0; p < pairs; p++)
      ASAN_POISON_MEMORY_REGION(region + kHeaderBytes + size_t{2 * p + 1} * ql.stride, ql.stride);
    uint32_t rxq = 0xdead;
    const Deliver got = DeviceTestAccess::deliver(*dev, iov.data(), static_cast<int>(iov.size()), flen, &rxq);
    for (uint32_t p = 0; p < pairs; p++)
      ASAN_UNPOISON_MEMORY_REGION(region + kHeaderBytes + size_t{2 * p + 1} * ql.stride, ql.stride);
    if (got != want) die("deliver verdict", static_cast<long>(got), static_cast<long>(want));
    if (got == Deliver::kNoBuffer && static_cast<int>(rxq) != want_rxq) die("receive queue", rxq, want_rxq);
  }
  DeviceTestAccess::publish_rx(*dev);

  // Used rings and buffers.
  for (uint32_t p = 0; p < pairs; p++) {
    drv::RawQueue raw(region, 2 * p);
    const RxQueueModel& m = rq[p];
    if (raw.used_idx() != m.used.size()) die("used.idx", raw.used_idx(), static_cast<long>(m.used.size()));
    for (size_t k = 0; k < m.used.size(); k++) {
      const VirtqUsedElem e = raw.used(static_cast<uint16_t>(k));
      if (e.id != m.used[k].head) die("used id", e.id, m.used[k].head);
      if (e.len != m.used[k].len) die("used len", e.len, m.used[k].len);
    }
    for (size_t ci = 0; ci < m.chains.size(); ci++) {
      const std::vector<uint8_t>* want = nullptr;
      for (const auto& u : m.used)
        if (u.chain == ci) want = &u.bytes;
      uint32_t pos = 0;
      for (const Buffer& b : m.chains[ci].segs) {
        for (uint32_t i = 0; i < b.len; i++, pos++) {
          const uint8_t expect = (want != nullptr && pos < want->size()) ? (*want)[pos] : kFill;
          if (region[b.off + i] != expect) {
            std::fprintf(stderr, "rx_parser: pair %u chain %zu byte %u (segment of %u bytes at %u)\n", p, ci, pos,
                         b.len, b.off);
            die("buffer byte", region[b.off + i], expect);
          }
        }
      }
    }
  }
  DeviceStats st;
  dev->stats(&st);
  if (st.rx_malformed != want_malformed) die("rx_malformed", st.rx_malformed, want_malformed);
  if (st.rx_unbound_vid != want_unbound) die("rx_unbound_vid", st.rx_unbound_vid, want_unbound);
  if (st.ring_errors != want_ring_errors) die("ring_errors", st.ring_errors, want_ring_errors);
  if (st.csum_completed != want_csum_completed) die("csum_completed", st.csum_completed, want_csum_completed);
  for (uint32_t p = 0; p < pairs; p++) {
    const PairStats& s = st.pairs[p];
    if (s.rx_frames != pc[p].rx_frames) die("rx_frames", s.rx_frames, pc[p].rx_frames);
    if (s.rx_bytes != pc[p].rx_bytes) die("rx_bytes", s.rx_bytes, pc[p].rx_bytes);
    if (s.rx_no_buffer != pc[p].rx_no_buffer) die("rx_no_buffer", s.rx_no_buffer, pc[p].rx_no_buffer);
    if (s.rx_too_big != pc[p].rx_too_big) die("rx_too_big", s.rx_too_big, pc[p].rx_too_big);
    if (s.rx_gso_dropped != pc[p].rx_gso_dropped) die("rx_gso_dropped", s.rx_gso_dropped, pc[p].rx_gso_dropped);
  }

  dev.reset();  // closes it; the region must outlive the device
  ASAN_UNPOISON_MEMORY_REGION(region, len);
  std::free(region);
  return 0;
}
