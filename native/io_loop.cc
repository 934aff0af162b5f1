// io_loop.cc — the device's I/O thread: the data path.
//
// One thread per device. It sleeps in epoll on {kick eventfd, stop eventfd, TAP fd} and, when
// woken, services rings in passes until a pass moves nothing; then it re-arms kicks (virtio
// event index, 2.7.10) and re-checks before sleeping, so no notification is lost.
//
// Each frame goes through named stages (as Firecracker's net/device.rs process_tx); the loops
// below read as these lists, and every frame the device refuses or drops bumps a named counter
// (metrics.h):
//
//   transmit (service_tx), per frame of transmitq k:
//     take and validate  pop a chain; refuse a malformed frame, an unbound pair, a down link or a
//                        closed peer (completed at once with its TxStatus)
//     route and tag      TAP untagged one-segment frames go as they lie; else the head is
//                        gathered and the 802.1Q tag of pair k's VID inserted (csum_start moved)
//     stage              the iovec over the rest of the chain; a TAP frame that fits is flattened
//     write              wire: straight into the peer's receive ring (deliver); TAP: the batch in
//                        one io_uring_enter, then a plain write / writev for what the ring did not
//     complete           used ring entry with the TxStatus (our extension, virtq.h), counters
//
//   receive (deliver: a TAP read, or a wire peer's transmit), per frame:
//     take and validate  classify: an Ethernet header, an 802.1Q tag and its VID
//     route              the pair bound to the VID (pair 0 for untagged; unbound VID dropped)
//     take a buffer      pop a chain from that pair's receiveq
//     stage              strip the tag, scatter into the chain, move csum_start
//     complete           used ring entry with the length, counters; published per batch
//
// Interrupts into JS are coalesced: RegionHeader.irq_pending is 1 while a call is in flight,
// so there is at most one call per device in flight, never one per packet.
//
// Locks (device.h): tx_mu_ (any device) before rx_mu_ (any device), never the reverse.
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cpu_relax.h"
#include "device.h"

namespace condis {

namespace {

// Copies `len` bytes at frame offset `off` out of an iovec list. Returns false if short.
bool gather(const iovec* iov, int n, uint32_t off, uint8_t* out, uint32_t len) {
  for (int i = 0; i < n && len > 0; i++) {
    if (off >= iov[i].iov_len) {
      off -= static_cast<uint32_t>(iov[i].iov_len);
      continue;
    }
    const uint32_t take = std::min<uint32_t>(len, static_cast<uint32_t>(iov[i].iov_len) - off);
    // SAFETY: off + take <= iov[i].iov_len; every iovec points into checked pool memory or staging.
    std::memcpy(out, static_cast<const uint8_t*>(iov[i].iov_base) + off, take);
    out += take;
    len -= take;
    off = 0;
  }
  return len == 0;
}

// Copies the frame in `src` into the receive chain, leaving out bytes [skip_off, skip_off+skip_len).
uint32_t scatter_frame(const iovec* src, int n, uint32_t skip_off, uint32_t skip_len, const Chain& dst) {
  uint32_t pos = 0;  // position in the source frame
  uint32_t written = 0;
  uint32_t di = 0, doff = 0;
  for (int i = 0; i < n; i++) {
    const uint8_t* p = static_cast<const uint8_t*>(src[i].iov_base);
    uint32_t left = static_cast<uint32_t>(src[i].iov_len);
    while (left > 0) {
      uint32_t take = left;
      if (pos < skip_off) {
        take = std::min(take, skip_off - pos);
      } else if (pos < skip_off + skip_len) {
        take = std::min(take, skip_off + skip_len - pos);
        p += take;
        pos += take;
        left -= take;
        continue;
      }
      while (take > 0 && di < dst.nseg) {
        const uint32_t room = dst.seg[di].len - doff;
        const uint32_t c = std::min(take, room);
        // SAFETY: doff + c <= seg.len, and the segment was checked to lie inside the pool.
        std::memcpy(dst.seg[di].ptr + doff, p, c);
        p += c;
        pos += c;
        left -= c;
        take -= c;
        written += c;
        doff += c;
        if (doff == dst.seg[di].len) {
          di++;
          doff = 0;
        }
      }
      if (di == dst.nseg && take > 0) return written;  // caller checked capacity; defensive
    }
  }
  return written;
}

// Copies `len` bytes at chain offset `off` out of the chain, across segments. The caller checked
// off + len <= c.total.
void read_chain(const Chain& c, uint32_t off, uint8_t* out, uint32_t len) {
  for (uint32_t i = 0; i < c.nseg && len > 0; i++) {
    if (off >= c.seg[i].len) {
      off -= c.seg[i].len;
      continue;
    }
    const uint32_t n = std::min(len, c.seg[i].len - off);
    // SAFETY: off + n <= seg.len, and the segment was checked to lie inside the pool.
    std::memcpy(out, c.seg[i].ptr + off, n);
    out += n;
    len -= n;
    off = 0;
  }
}

// The Internet checksum of chain bytes [off, end), folded: a 16-bit word may straddle two
// segments (the driver splits buffers anywhere), so an odd byte left at a segment's end is
// paired with the next segment's first.
uint16_t chain_checksum(const Chain& c, uint32_t off, uint32_t end) {
  uint64_t sum = 0;
  bool odd = false;  // the last byte summed was the high byte of a word still open
  uint32_t at = 0;   // chain offset of segment i
  for (uint32_t i = 0; i < c.nseg && at < end; at += c.seg[i].len, i++) {
    const uint32_t lo = std::max(off, at), hi = std::min(end, at + c.seg[i].len);
    if (lo >= hi) continue;
    // SAFETY: [lo - at, hi - at) lies inside segment i, which lies inside the pool.
    const uint8_t* p = c.seg[i].ptr + (lo - at);
    uint32_t len = hi - lo;
    if (odd) {
      sum += *p++;
      len--;
      odd = false;
    }
    sum = csum_add(sum, p, len & ~1u);
    if (len & 1) {
      sum += uint32_t{p[len - 1]} << 8;
      odd = true;
    }
  }
  return csum_fold(sum);
}

// Copies `len` bytes to chain offset `off`, across segments: the driver may split a buffer
// anywhere (virtio 1.2, 2.7.4), even inside the vnet header. The caller checked off + len fits.
void write_chain(const Chain& dst, uint32_t off, const uint8_t* p, uint32_t len) {
  for (uint32_t i = 0; i < dst.nseg && len > 0; i++) {
    if (off >= dst.seg[i].len) {
      off -= dst.seg[i].len;
      continue;
    }
    const uint32_t c = std::min(len, dst.seg[i].len - off);
    // SAFETY: off + c <= seg.len, and the segment was checked to lie inside the pool.
    std::memcpy(dst.seg[i].ptr + off, p, c);
    p += c;
    len -= c;
    off = 0;
  }
}

// errno values that mean the TAP itself is gone (ip link del, the netns went away), not one frame.
inline bool tap_gone(int err) { return err == EBADFD || err == ENODEV || err == ENXIO; }

}  // namespace

// The stages of the data path (see the file comment), one function each. IoLoop is Device's
// friend (device.h): the stages work on the device's own state with no accessor in between.
// They run per frame, so each is always inlined into its loop (no call, no allocation, no
// indirection: the loops compile to what they were as one function) and takes the pass's state
// by reference.
class IoLoop {
 public:
  // ---- transmit ----------------------------------------------------------------------------------

  // What a transmit pass knows for all its pairs, fixed when it starts under its locks.
  struct TxPass {
    Device* peer;     // wire: the other end, its rx_mu_ held for the pass; TAP: nullptr
    bool peer_open;   // wire: the other end still takes frames (its rx_open_)
    uint32_t hl;      // vnet header bytes in front of every frame: 0 or kVnetHdrLen
    bool link;        // link up (advisory)
    bool moved;       // a chain was taken: the pass did work
    bool want_irq;    // raise an interrupt once the locks are dropped
  };

  // One transmit queue's turn in a pass.
  struct TxTurn {
    DeviceQueue& q;
    PairMetrics& pm;
    uint32_t pair;
    uint16_t vid;     // the VID pair `pair` is bound to: 0 = untagged (pair 0) or unbound
    uint32_t nslots;  // TAP: frames staged for the batch write
    bool pushed;      // used entries written: publish them at the end of the turn
  };

  // Whether pair p is still stalled on the peer's receive queue (wire flow control) and stays out
  // of this pass. It comes back when the peer is gone, posted buffers, broke or reset the queue
  // it waits on, or when routing changed (the peer unbound or re-bound the VID): its next frame
  // is then decided afresh.
  [[gnu::always_inline]] static bool still_stalled(Device& d, const TxPass& pass, uint32_t p) {
    if (!d.tx_stalled_[p]) return false;
    Device* peer = pass.peer;  // tx_stalled_ is only ever set on a wire
    const uint16_t sv = d.pair_vid_[p].load(std::memory_order_relaxed);  // ORDERING: written under tx_mu_
    const bool rerouted =
        sv != 0 && (peer->vid_to_pair_[sv] == kNoPair || rx_queue_of(peer->vid_to_pair_[sv]) != d.stalled_on_[p]);
    // A closed peer's region may already be freed: !peer_open short-circuits before its queues.
    if (!pass.peer_open || rerouted || peer->queues_[d.stalled_on_[p]].pending() != 0 ||
        !peer->queues_[d.stalled_on_[p]].ready()) {
      d.tx_stalled_[p] = 0;
      return false;
    }
    return true;
  }

  // One transmit queue's turn: up to a batch of frames, each through the stages.
  [[gnu::always_inline]] static void transmit_turn(Device& d, TxPass& pass, TxTurn& t) {
    while (t.nslots < d.cfg_.batch) {
      const Take took = take_and_validate(d, pass, t);
      if (took == Take::kStop) break;
      if (took == Take::kCompleted) continue;  // refused, and completed with the TxStatus that says why
      Device::TxSlot& s = d.tx_slots_[t.nslots];
      route_tag_and_stage(d, pass, t, s);
      if (pass.peer == nullptr) {
        t.nslots++;  // TAP: written and completed with the batch, below
        continue;
      }
      if (!write_to_peer_and_complete(d, pass, t, s)) break;  // the peer's queue is full: stalled
    }
    if (t.nslots > 0) write_and_complete_tap_batch(d, pass, t);
  }

  // -- take and validate --
  enum class Take { kFrame, kCompleted, kStop };

  // Pops the next chain into d.chain_. kStop: the queue is empty or broke (NEEDS_RESET, counted,
  // the driver interrupted). kCompleted: the frame is refused and already completed.
  [[gnu::always_inline]] static Take take_and_validate(Device& d, TxPass& pass, TxTurn& t) {
    const PopResult pr = t.q.pop(&d.chain_);
    if (pr == PopResult::kEmpty) return Take::kStop;
    if (pr == PopResult::kBroken) {
      d.m_.ring_errors.add();
      pass.want_irq = true;
      return Take::kStop;
    }
    pass.moved = true;
    const Chain& c = d.chain_;
    if (c.total < pass.hl + kEthHdrLen || c.total - pass.hl > d.max_frame_) {
      complete_refused(t, c.head, kTxMalformed, t.pm.tx_malformed);
      return Take::kCompleted;
    }
    if (pass.hl != 0 && !header_ok(d, pass, t, c)) return Take::kStop;
    if (t.pair != 0 && t.vid == 0) {
      complete_refused(t, c.head, kTxUnbound, t.pm.tx_unbound);
      return Take::kCompleted;
    }
    if (!pass.link || d.backend_lost_.load(std::memory_order_relaxed)) {  // ORDERING: advisory
      complete_refused(t, c.head, kTxBackendError, t.pm.tx_errors);
      return Take::kCompleted;
    }
    if (pass.peer != nullptr && !pass.peer_open) {
      complete_refused(t, c.head, kTxPeerGone, t.pm.tx_errors);
      return Take::kCompleted;
    }
    return Take::kFrame;
  }

  // The virtio_net_hdr check (5.1.6.2): a header that asks for what was not negotiated, or names
  // offsets outside its frame, is a driver bug the device must not act on. Like a malformed
  // descriptor it stops this transmit queue (NEEDS_RESET, kRingBadVnetHdr, detail = the fault),
  // and only this one. A plain frame (flags 0, gso_type 0) has nothing to check.
  [[gnu::always_inline]] static bool header_ok(Device& d, TxPass& pass, TxTurn& t, const Chain& c) {
    uint8_t copy[kVnetHdrLen];
    const uint8_t* h = c.seg[0].ptr;
    if (c.seg[0].len < kVnetHdrLen) {  // the driver split the header (2.7.4 allows it)
      read_chain(c, 0, copy, kVnetHdrLen);
      h = copy;
    }
    if ((h[kVnetFlagsOff] | h[kVnetGsoTypeOff]) == 0) return true;
    const VnetHdrFault why = check_tx_vnet_hdr(h, c.total - pass.hl, d.features_);
    if (why == kHdrOk) return true;
    t.q.fail(kRingBadVnetHdr, why);
    d.m_.ring_errors.add();
    pass.want_irq = true;
    return false;
  }

  // -- route and tag, stage --
  // Lays out d.chain_'s frame in slot s as it goes on the wire:
  // [vnet hdr][dst src][802.1Q tag if the pair has a VID][type ... payload].
  [[gnu::always_inline]] static void route_tag_and_stage(Device& d, const TxPass& pass, const TxTurn& t,
                                                         Device::TxSlot& s) {
    const Chain& c = d.chain_;
    s.queue = static_cast<uint16_t>(tx_queue_of(t.pair));
    s.head = c.head;
    s.result = Device::TxSlot::kPending;
    if (pass.peer == nullptr && t.vid == 0 && c.nseg == 1) {
      // TAP, untagged, one segment: the frame goes out as it lies in the driver's buffer, with
      // one plain write (no header gather, no iovec).
      s.buf = c.seg[0].ptr;
      s.len = c.total;
      return;
    }
    const ChainPos rest = gather_head_and_tag(c, pass.hl, t.vid, s);
    stage_iovec(c, rest, s);
    s.len = c.total + (t.vid != 0 ? kVlanTagLen : 0);
    s.buf = nullptr;
    if (pass.peer == nullptr && s.len <= Device::kTxFlatMax) {
      // TAP, tagged (or several segments): flattened into the slot, then one plain write.
      // SAFETY: slot nslots < batch; tx_flat_ holds batch x kTxFlatMax bytes.
      flatten(s, d.tx_flat_.data() + size_t(t.nslots) * Device::kTxFlatMax);
    }
  }

  // Where the rest of a chain starts once its head was gathered: segment and offset in it.
  struct ChainPos {
    uint32_t seg;
    uint32_t off;
  };

  // Route and tag: gathers the frame's head, [vnet hdr][dst src], into s.hdr (it may span
  // segments), then inserts the 802.1Q tag of `vid` after the MACs, moving csum_start with it.
  // Sets s.iov[0] to the head. The caller checked c.total >= hl + kEthHdrLen.
  [[gnu::always_inline]] static ChainPos gather_head_and_tag(const Chain& c, uint32_t hl, uint16_t vid,
                                                             Device::TxSlot& s) {
    uint32_t lead = hl + kEthTypeOff;
    uint32_t si = 0, soff = 0, got = 0;
    while (got < lead) {
      const uint32_t take = std::min(lead - got, c.seg[si].len - soff);
      // SAFETY: take <= remaining bytes of segment si; s.hdr has room for hl + MACs + tag.
      std::memcpy(s.hdr + got, c.seg[si].ptr + soff, take);
      got += take;
      soff += take;
      if (soff == c.seg[si].len) {
        si++;
        soff = 0;
      }
    }
    if (vid != 0) {
      s.hdr[lead + 0] = static_cast<uint8_t>(kEthP8021Q >> 8);
      s.hdr[lead + 1] = static_cast<uint8_t>(kEthP8021Q & 0xff);
      s.hdr[lead + 2] = static_cast<uint8_t>(vid >> 8);  // TCI: PCP 0, DEI 0, VID
      s.hdr[lead + 3] = static_cast<uint8_t>(vid & 0xff);
      if (hl != 0) vnet_offsets_across_tag(s.hdr, static_cast<int32_t>(kVlanTagLen));
      lead += kVlanTagLen;
    }
    s.iov[0] = iovec{s.hdr, lead};
    return ChainPos{si, soff};
  }

  // Stage: an iovec over the rest of the chain, after the head in s.iov[0].
  [[gnu::always_inline]] static void stage_iovec(const Chain& c, ChainPos at, Device::TxSlot& s) {
    int k = 1;
    for (uint32_t si = at.seg, soff = at.off; si < c.nseg; si++) {
      // SAFETY: soff < seg.len here; the rest of the segment lies inside the pool.
      s.iov[k++] = iovec{c.seg[si].ptr + soff, c.seg[si].len - soff};
      soff = 0;
    }
    s.iovcnt = k;
  }

  // Stage (TAP): copies the frame's iovecs into `flat` (kTxFlatMax bytes), for one plain write.
  [[gnu::always_inline]] static void flatten(Device::TxSlot& s, uint8_t* flat) {
    uint32_t at = 0;
    for (int i = 0; i < s.iovcnt; i++) {
      // SAFETY: the iovecs add up to s.len <= kTxFlatMax, the size of this slot's area.
      std::memcpy(flat + at, s.iov[i].iov_base, s.iov[i].iov_len);
      at += static_cast<uint32_t>(s.iov[i].iov_len);
    }
    s.buf = flat;
  }

  // -- write and complete: wire --
  // Hands the frame straight to the other end's receive ring. false: no buffer there (flow
  // control per queue pair): the chain goes back to the ring and the pair stalls until the peer
  // posts buffers. A frame the peer drops (unbound VID, too big) is still sent, as on a cable.
  [[gnu::always_inline]] static bool write_to_peer_and_complete(Device& d, const TxPass& pass, TxTurn& t,
                                                                const Device::TxSlot& s) {
    uint32_t rxq = 0;
    if (Device::deliver(*pass.peer, s.iov, s.iovcnt, s.len, &rxq) == Deliver::kNoBuffer) {
      t.q.unpop();
      d.tx_stalled_[t.pair] = 1;
      d.stalled_on_[t.pair] = rxq;
      return false;
    }
    complete_sent(t, s.head, s.len - pass.hl);
    return true;
  }

  // -- write and complete: TAP --
  // Write: one io_uring_enter for the whole batch; without io_uring (or for what the ring did not
  // take) one plain write, or writev, per frame. Each slot is written exactly once: kPending until
  // the ring or the plain write settles it. Then complete each slot with what became of it.
  [[gnu::always_inline]] static void write_and_complete_tap_batch(Device& d, const TxPass& pass, TxTurn& t) {
    const int fd = d.tap_.fd();
    if (d.uring_) write_batch_uring(d, fd, t.nslots);
    for (uint32_t i = 0; i < t.nslots; i++) {
      Device::TxSlot& s = d.tx_slots_[i];
      if (s.result == Device::TxSlot::kPending) write_plain(fd, s);
      if (s.result != Device::TxSlot::kWritten) {
        const int err = static_cast<int>(s.result & ~Device::TxSlot::kFailed);
        complete_refused(t, s.head, kTxBackendError, t.pm.tx_errors);
        if (tap_gone(err)) d.set_backend_lost(err);
      } else {
        complete_sent(t, s.head, s.len - pass.hl);
      }
    }
  }

  // Write (TAP, io_uring): prepares as many slots as the ring takes, submits them with one
  // io_uring_enter and harvests every completion, waiting for stragglers.
  [[gnu::always_inline]] static void write_batch_uring(Device& d, int fd, uint32_t nslots) {
    unsigned queued = 0;
    while (queued < nslots) {
      const Device::TxSlot& s = d.tx_slots_[queued];
      const bool ok = s.buf != nullptr ? d.uring_->prep_write(fd, s.buf, s.len, queued)
                                       : d.uring_->prep_writev(fd, s.iov, s.iovcnt, queued);
      if (!ok) break;
      queued++;
    }
    bool ring_ok = d.uring_->submit(queued) >= 0;
    unsigned got = 0;
    UringCompletion cqe[kMaxBatch];
    while (ring_ok && got < queued) {
      const unsigned h = d.uring_->harvest(cqe, queued - got);
      if (h == 0) {
        ring_ok = d.uring_->submit(1) >= 0;
        continue;
      }
      for (unsigned i = 0; i < h; i++) {
        Device::TxSlot& s = d.tx_slots_[cqe[i].user_data];
        s.result = cqe[i].res < 0 ? (Device::TxSlot::kFailed | static_cast<uint32_t>(-cqe[i].res))
                                  : Device::TxSlot::kWritten;
      }
      got += h;
    }
    if (!ring_ok) {
      // The ring misbehaved: frames it may or may not have written are failed, never resent
      // (a duplicate is worse than a loss the driver sees); writev from now on.
      for (uint32_t i = 0; i < queued; i++)
        if (d.tx_slots_[i].result == Device::TxSlot::kPending) d.tx_slots_[i].result = Device::TxSlot::kFailed | EIO;
      d.uring_.reset();
    }
  }

  // Write (TAP, no ring): one plain write of the flat frame, or one writev of its iovec.
  [[gnu::always_inline]] static void write_plain(int fd, Device::TxSlot& s) {
    const ssize_t w = s.buf != nullptr ? write(fd, s.buf, s.len) : writev(fd, s.iov, s.iovcnt);
    s.result = w < 0 ? (Device::TxSlot::kFailed | static_cast<uint32_t>(errno)) : Device::TxSlot::kWritten;
  }

  // -- complete --
  // The chain goes back to the driver (used ring, published at the end of the turn) with what
  // became of its frame, in its TxStatus, and the pair's counters say it too.
  [[gnu::always_inline]] static void complete_sent(TxTurn& t, uint16_t head, uint32_t bytes) {
    t.q.push_used(head, kTxSent);
    t.pm.tx_frames.add();
    t.pm.tx_bytes.add(bytes);
    t.pushed = true;
  }
  [[gnu::always_inline]] static void complete_refused(TxTurn& t, uint16_t head, TxStatus why, Counter& counter) {
    t.q.push_used(head, why);
    counter.add();
    t.pushed = true;
  }

  // ---- receive -----------------------------------------------------------------------------------

  // A received frame as classified: where its Ethernet header starts, and its tag.
  struct RxFrame {
    uint32_t hl;     // vnet header bytes in front of the frame: 0 or kVnetHdrLen
    uint32_t vid;    // 802.1Q VID, 0 for an untagged or priority-tagged frame
    bool tagged;     // an 802.1Q tag follows the MACs: stripped on delivery
    uint8_t vflags;  // the header's flags and gso_type (0 without a header)
    uint8_t vgso;
  };

  // Take and validate: the frame holds an Ethernet header and, if its TPID says 802.1Q, a TCI.
  [[gnu::always_inline]] static bool classify(const Device& rx, const iovec* iov, int iovcnt, uint32_t total,
                                              RxFrame* f) {
    f->hl = rx.vnet_ ? kVnetHdrLen : 0;
    f->vid = 0;
    f->tagged = false;
    f->vflags = 0;
    f->vgso = 0;
    uint8_t eth[2];  // the ethertype only: a 14-byte untagged frame has nothing after it
    if (total < f->hl + kEthHdrLen || !gather(iov, iovcnt, f->hl + kEthTypeOff, eth, 2)) return false;
    if (f->hl != 0) {
      uint8_t fg[2];  // flags, gso_type
      if (!gather(iov, iovcnt, kVnetFlagsOff, fg, 2)) return false;
      f->vflags = fg[0];
      f->vgso = fg[1];
    }
    if (be16(eth) == kEthP8021Q) {
      uint8_t tci[2];
      if (total < f->hl + kVlanHdrLen || !gather(iov, iovcnt, f->hl + kVlanTciOff, tci, 2)) return false;
      f->vid = be16(tci) & kVlanVidMask;
      f->tagged = true;  // VID 0 (priority tag only) goes to pair 0 untagged
    }
    return true;
  }

  // Route: the pair bound to the frame's VID (pair 0 for VID 0). false: no pair has it.
  [[gnu::always_inline]] static bool route(const Device& rx, uint32_t vid, uint32_t* pair) {
    *pair = 0;
    if (vid == 0) return true;
    *pair = rx.vid_to_pair_[vid];
    return *pair != kNoPair;
  }

  // Take a buffer: pops a chain from receive queue q into rx.rx_chain_. kDone: got one.
  [[gnu::always_inline]] static Deliver take_buffer(Device& rx, DeviceQueue& q, PairMetrics& pm) {
    if (!q.ready()) {
      pm.rx_no_buffer.add();  // disabled or broken queue: nobody to give the frame to
      return Deliver::kDropped;
    }
    switch (q.pop(&rx.rx_chain_)) {
      case PopResult::kEmpty:
        return Deliver::kNoBuffer;
      case PopResult::kBroken:
        rx.m_.ring_errors.add();
        rx.raise_interrupt();
        return Deliver::kDropped;
      case PopResult::kChain:
        break;
    }
    return Deliver::kDone;
  }

  // Offloads: whether the receiving driver takes this frame. A GSO frame goes only to a driver
  // that accepted its GUEST_ feature: a TAP's kernel sends none other (TUNSETOFFLOAD), a wire
  // peer may, and this device does not segment. Such a frame is dropped and counted.
  [[gnu::always_inline]] static bool offload_accepted(const Device& rx, const RxFrame& f, PairMetrics& pm) {
    if (f.vgso == kGsoNone) return true;
    bool known = false;
    const uint64_t need = guest_feature_for_gso(f.vgso, &known);
    if (known && (rx.features_ & need) == need) return true;
    pm.rx_gso_dropped.add();
    return false;
  }

  // Stage: scatters the frame into chain c without its tag. Then the header, for a frame that
  // has one that says something: its offsets move with the stripped tag, and a driver that did
  // not accept GUEST_CSUM gets flags 0 and a complete checksum (5.1.6.3: the device "MUST set
  // flags to zero and SHOULD supply a fully checksummed packet"; a wire peer may have sent
  // NEEDS_CSUM, which the device then completes here). Returns bytes written.
  [[gnu::always_inline]] static uint32_t strip_and_scatter(Device& rx, const RxFrame& f, const iovec* iov,
                                                           int iovcnt, const Chain& c) {
    const uint32_t n = scatter_frame(iov, iovcnt, f.hl + kEthTypeOff, f.tagged ? kVlanTagLen : 0, c);
    if (f.hl == 0 || (f.vflags | f.vgso) == 0) return n;  // a plain frame's header passes as is
    uint8_t h[kVnetHdrLen];
    read_chain(c, 0, h, kVnetHdrLen);
    if (f.tagged) vnet_offsets_across_tag(h, -static_cast<int32_t>(kVlanTagLen));
    if (!(rx.features_ & feat(VIRTIO_NET_F_GUEST_CSUM))) {
      if (h[kVnetFlagsOff] & kVnetHdrFNeedsCsum) complete_checksum(rx, h, c, n);
      h[kVnetFlagsOff] = 0;
    }
    write_chain(c, 0, h, kVnetHdrLen);
    return n;
  }

  // The checksum a NEEDS_CSUM frame left partial, completed in the receive chain as the kernel's
  // skb_checksum_help does: the sum from csum_start to the end (the field holds the pseudo-header
  // seed), folded, stored at csum_start + csum_offset; a UDP sum of 0 is sent as 0xffff.
  // Offsets that do not fit the frame are left alone (the sender's device checked them).
  static void complete_checksum(Device& rx, const uint8_t* h, const Chain& c, uint32_t n) {
    const uint32_t start = kVnetHdrLen + le16(h + kVnetCsumStartOff);
    const uint32_t field = start + le16(h + kVnetCsumOffsetOff);
    if (field + 2 > n) return;
    uint16_t sum = chain_checksum(c, start, n);
    if (sum == 0 && le16(h + kVnetCsumOffsetOff) == 6) sum = 0xffff;  // UDP: 0 means "no checksum"
    const uint8_t out[2] = {static_cast<uint8_t>(sum >> 8), static_cast<uint8_t>(sum & 0xff)};
    write_chain(c, field, out, 2);
    rx.m_.csum_completed.add();
  }

  // Complete: the chain goes back with the frame's length (published per batch, by the filler).
  [[gnu::always_inline]] static void complete_received(DeviceQueue& q, PairMetrics& pm, uint16_t head,
                                                       uint32_t n, uint32_t hl) {
    q.push_used(head, n);
    pm.rx_frames.add();
    pm.rx_bytes.add(n - hl);
  }

  // ---- TAP receive -------------------------------------------------------------------------------

  // Under rx_mu_: how many frames to read now (0 = none: reading pauses for buffers).
  // Read only while some receive queue has a buffer: the kernel keeps frames meanwhile (as
  // Firecracker defers RX), for a driver that will post more. A frame for one full queue while
  // others have room is dropped and counted, so one VC that holds its buffers cannot stall the
  // others. With no receiver at all (no pair bound to a VID, pair 0 unused since its reset) the
  // device reads on and drops what comes, counted: a frame for a VC that is not active is dropped
  // on arrival, never kept in the kernel to be indicated after a reactivation.
  static uint32_t tap_rx_budget(Device& d) {
    std::lock_guard<std::mutex> r(d.rx_mu_);
    uint32_t posted = 0;
    for (uint32_t p = 0; p < d.num_pairs(); p++) {
      const int k = d.queues_[rx_queue_of(p)].pending();
      if (k > 0) posted += static_cast<uint32_t>(k);
    }
    const bool wait_for_buffers = posted == 0 && d.rx_receiver_waits_locked();
    d.pause_tap_rx(wait_for_buffers);
    if (wait_for_buffers) return 0;
    // No more than can be placed; look again next pass.
    return posted != 0 && posted < d.cfg_.batch ? posted : d.cfg_.batch;
  }

  // Reads up to `want` frames into the staging slots, without rx_mu_: the slots are this
  // thread's own, and a control call (unbind, queue reset, quiesce: a deactivation's last step)
  // must not wait behind up to a batch of read() syscalls (~1.5 us each here) while frames stream
  // in. Returns how many were read.
  [[gnu::always_inline]] static uint32_t read_tap_batch(Device& d, uint32_t want) {
    uint32_t got = 0;
    for (; got < want; got++) {
      // SAFETY: slot `got` < batch lies inside rx_stage_ (batch x kRxStageSlot bytes).
      const ssize_t n = read(d.tap_.fd(), d.rx_stage_.data() + size_t(got) * Device::kRxStageSlot,
                             Device::kRxStageSlot);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        d.m_.rx_read_errors.add();
        if (tap_gone(errno)) d.set_backend_lost(errno);
        break;
      }
      d.rx_stage_len_[got] = static_cast<uint32_t>(n);
    }
    return got;
  }

  // The armed read's frames (tap_rx.h): up to `want` collected without rx_mu_ (the ring and its
  // buffers are this thread's own), steered under rx_mu_ like read()'s, then their buffers go
  // back to the kernel. Returns true if a frame came.
  [[gnu::always_inline]] static bool ring_tap_rx(Device& d, uint32_t want) {
    TapRxRing::Status st = TapRxRing::Status::kOk;
    int err = 0;
    const uint32_t got = d.rx_ring_->collect(d.rx_frames_.data(), want, &st, &err);
    if (got > 0) {
      std::lock_guard<std::mutex> r(d.rx_mu_);
      for (uint32_t i = 0; i < got; i++) {
        const TapRxRing::Frame& f = d.rx_frames_[i];
        iovec iov{f.data, f.len};
        uint32_t rxq = 0;
        if (Device::deliver(d, &iov, 1, f.len, &rxq) == Deliver::kNoBuffer) d.pm_[pair_of(rxq)].rx_no_buffer.add();
      }
      d.publish_rx_locked(d);
    }
    // After the copies: the kernel may fill these buffers again.
    for (uint32_t i = 0; i < got; i++) d.rx_ring_->recycle(d.rx_frames_[i].bid);
    if (got > 0) d.rx_ring_->publish();
    if (st == TapRxRing::Status::kOk && !d.rx_ring_->ensure_armed()) {
      st = TapRxRing::Status::kFailed;
      err = EIO;
    }
    if (st == TapRxRing::Status::kUnsupported) {
      d.rx_uring_turned_down();
    } else if (st == TapRxRing::Status::kFailed) {
      d.m_.rx_read_errors.add();
      if (tap_gone(err)) d.set_backend_lost(err);
    }
    return got > 0;
  }

  // Reads up to `want` frames, each straight into pair 0's next receive buffer when that is one
  // descriptor of at least kDirectRxMin bytes (no truncation possible), so a 64 KiB GSO frame is
  // copied once, by the kernel, not twice. Under rx_mu_ per frame (one read() at a time, so a
  // control call waits for one frame at most, never a batch). A frame the buffer cannot keep --
  // tagged (it belongs to another pair, or needs its tag stripped), malformed, or a GSO type the
  // driver did not accept -- gives the buffer back (unpop) and takes the ordinary stages from a
  // staging copy, counted as they count it. Without such a buffer: read() into staging, as
  // read_tap_batch. Returns true if a frame was read.
  static bool direct_tap_rx(Device& d, uint32_t want) {
    uint32_t got = 0;
    // The rest goes the read() path's way: pair 0 has no big buffer now, or the last frame read
    // straight into it was another pair's (direct_hint_: a copy into pair 0's buffer and another
    // out of it would cost more than staging; the hint comes back once staging sees pair-0 frames).
    bool staging = !d.direct_hint_;
    while (!staging && got < want) {
      std::lock_guard<std::mutex> r(d.rx_mu_);
      DeviceQueue& q = d.queues_[rx_queue_of(0)];
      Chain& c = d.rx_chain_;
      const PopResult pr = q.ready() ? q.pop(&c) : PopResult::kEmpty;
      if (pr == PopResult::kBroken) {
        d.m_.ring_errors.add();
        d.raise_interrupt();
      }
      if (pr != PopResult::kChain) {
        staging = true;
        break;
      }
      if (c.nseg != 1 || c.total < Device::kDirectRxMin) {
        q.unpop();
        staging = true;
        break;
      }
      // SAFETY: the chain's one segment lies inside the pool (pop checked it), len bytes long.
      const ssize_t n = read(d.tap_.fd(), c.seg[0].ptr, c.seg[0].len);
      if (n < 0) {
        q.unpop();
        if (errno != EAGAIN && errno != EINTR) {
          d.m_.rx_read_errors.add();
          if (tap_gone(errno)) d.set_backend_lost(errno);
        }
        break;
      }
      got++;
      if (!place_direct(d, q, c, static_cast<uint32_t>(n))) {
        d.direct_hint_ = false;  // another pair's frame: stage the next ones
        staging = true;
      }
    }
    if (got > 0) {
      std::lock_guard<std::mutex> r(d.rx_mu_);
      d.publish_rx_locked(d);
    }
    if (!staging || got == want) return got > 0;
    const uint32_t more = read_tap_batch(d, want - got);
    if (more > 0 && deliver_tap_batch(d, more) > 0) d.direct_hint_ = true;
    return got + more > 0;
  }

  // Under rx_mu_: a frame read into pair 0's chain c (popped, not yet used). Kept in place if it
  // is pair 0's as it stands; otherwise the chain goes back and the frame takes deliver's stages.
  // Returns false for a tagged frame (it had to be moved).
  static bool place_direct(Device& d, DeviceQueue& q, const Chain& c, uint32_t len) {
    PairMetrics& pm = d.pm_[0];
    iovec iov{c.seg[0].ptr, len};
    RxFrame f;
    if (!classify(d, &iov, 1, len, &f)) {
      q.unpop();
      d.m_.rx_malformed.add();
      return true;
    }
    if (!f.tagged) {
      if (!offload_accepted(d, f, pm)) {
        q.unpop();  // dropped, and counted by offload_accepted
        return true;
      }
      // Where deliver would have put it: an untagged frame's header needs no change (the driver
      // took GUEST_CSUM with its GSO feature, so a partial checksum stays partial).
      d.rx_dirty_[0] = 1;
      complete_received(q, pm, c.head, len, f.hl);
      d.m_.rx_direct.add();
      return true;
    }
    // Tagged: another pair's, or a priority tag to strip. The chain goes back first (deliver pops
    // again), and deliver routes and strips from a copy.
    // SAFETY: len <= c.seg[0].len; the staging slot holds kRxStageSlot bytes, and a frame the
    // kernel hands over is at most kDirectRxMin <= kRxStageSlot (the min() only bounds the copy).
    const uint32_t keep = len < Device::kRxStageSlot ? len : static_cast<uint32_t>(Device::kRxStageSlot);
    std::memcpy(d.rx_stage_.data(), c.seg[0].ptr, keep);
    q.unpop();
    iovec s{d.rx_stage_.data(), keep};
    uint32_t rxq = 0;
    if (Device::deliver(d, &s, 1, keep, &rxq) == Deliver::kNoBuffer) d.pm_[pair_of(rxq)].rx_no_buffer.add();
    return false;
  }

  // Steers the frames read, under rx_mu_, by the bindings and buffers of this moment, then
  // publishes the used entries. A frame whose queue has no buffer is dropped and counted.
  // Returns how many of them went to pair 0 (direct_tap_rx's hint).
  [[gnu::always_inline]] static uint32_t deliver_tap_batch(Device& d, uint32_t got) {
    std::lock_guard<std::mutex> r(d.rx_mu_);
    uint32_t to_pair0 = 0;
    for (uint32_t i = 0; i < got; i++) {
      // SAFETY: slot i < got <= batch lies inside rx_stage_, and holds rx_stage_len_[i] bytes read.
      iovec iov{d.rx_stage_.data() + size_t(i) * Device::kRxStageSlot, d.rx_stage_len_[i]};
      uint32_t rxq = UINT32_MAX;
      if (Device::deliver(d, &iov, 1, d.rx_stage_len_[i], &rxq) == Deliver::kNoBuffer)
        d.pm_[pair_of(rxq)].rx_no_buffer.add();
      if (rxq == rx_queue_of(0)) to_pair0++;
    }
    d.publish_rx_locked(d);
    return to_pair0;
  }
};

Deliver Device::deliver(Device& rx, const iovec* iov, int iovcnt, uint32_t total, uint32_t* rxq_out) {
  IoLoop::RxFrame f;
  if (!IoLoop::classify(rx, iov, iovcnt, total, &f)) {  // take and validate
    rx.m_.rx_malformed.add();
    return Deliver::kDropped;
  }
  uint32_t pair = 0;
  if (!IoLoop::route(rx, f.vid, &pair)) {
    rx.m_.rx_unbound_vid.add();
    return Deliver::kDropped;
  }
  const uint32_t qi = rx_queue_of(pair);
  *rxq_out = qi;
  DeviceQueue& q = rx.queues_[qi];
  PairMetrics& pm = rx.pm_[pair];
  if (!IoLoop::offload_accepted(rx, f, pm)) return Deliver::kDropped;
  const Deliver took = IoLoop::take_buffer(rx, q, pm);
  if (took != Deliver::kDone) return took;
  const Chain& c = rx.rx_chain_;
  rx.rx_dirty_[pair] = 1;
  if (total - (f.tagged ? kVlanTagLen : 0) > c.total) {
    q.push_used(c.head, 0);  // the buffer goes back empty: the driver sees len 0
    pm.rx_too_big.add();
    return Deliver::kDropped;
  }
  const uint32_t n = IoLoop::strip_and_scatter(rx, f, iov, iovcnt, c);  // stage
  IoLoop::complete_received(q, pm, c.head, n, f.hl);
  return Deliver::kDone;
}

void Device::raise_interrupt() {
  if (hdr_ == nullptr) return;
  // ORDERING: acq_rel exchange: the used.idx stores before it are visible to the JS thread that
  // clears the flag (device_wrap.cc) before it harvests, and only one caller sees 0 -> 1.
  if (__atomic_exchange_n(&hdr_->irq_pending, 1u, __ATOMIC_ACQ_REL) == 0) {
    m_.irq_raised.add();
    if (irq_) irq_();
  } else {
    m_.irq_coalesced.add();
  }
}

void Device::publish_rx_locked(Device& rx) {
  bool want = false;
  for (uint32_t p = 0; p < rx.num_pairs(); p++) {
    if (!rx.rx_dirty_[p]) continue;
    rx.rx_dirty_[p] = 0;
    if (rx.queues_[rx_queue_of(p)].publish_used()) {
      rx.pm_[p].interrupts.add();
      want = true;
    }
  }
  if (want) rx.raise_interrupt();
}

void Device::set_backend_lost(int err) {
  if (backend_lost_.exchange(true)) return;
  // ORDERING: release: errno first, then the status JS acts on.
  __atomic_store_n(&hdr_->device_errno, static_cast<uint32_t>(err), __ATOMIC_RELAXED);
  __atomic_store_n(&hdr_->device_status, static_cast<uint32_t>(kDeviceBackendLost), __ATOMIC_RELEASE);
  // ORDERING: seq_cst bump so JS re-reads statuses on the interrupt that follows.
  __atomic_add_fetch(&hdr_->config_generation, 1u, __ATOMIC_SEQ_CST);
  if (backend_ == BackendKind::kTap && tap_.fd() >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, tap_.fd(), nullptr);
  raise_interrupt();
}

// One transmit pass over every ready transmit queue: take and validate -> route and tag ->
// stage -> write -> complete for each frame (IoLoop::transmit_turn), then the used entries and
// the interrupt. Returns true if any chain was taken.
bool Device::service_tx() {
  std::lock_guard<std::mutex> t(tx_mu_);
  Device* peer = backend_ == BackendKind::kWire ? peer_.get() : nullptr;
  std::unique_lock<std::mutex> r;
  if (peer != nullptr) r = std::unique_lock<std::mutex>(peer->rx_mu_);  // lock order: tx before rx
  IoLoop::TxPass pass{};
  pass.peer = peer;
  pass.peer_open = peer != nullptr && peer->rx_open_.load(std::memory_order_acquire);  // ORDERING: set under peer rx_mu_
  pass.hl = vnet_ ? kVnetHdrLen : 0;
  pass.link = link_up_.load(std::memory_order_relaxed);  // ORDERING: advisory
  // ORDERING: seq_cst load pairs with hold_tx_for_test's store; a test-only hold takes nothing.
  if (tx_held_for_test_.load()) return false;

  for (uint32_t p = 0; p < num_pairs(); p++) {
    DeviceQueue& q = queues_[tx_queue_of(p)];
    if (!q.ready() || IoLoop::still_stalled(*this, pass, p)) continue;
    const uint16_t vid = pair_vid_[p].load(std::memory_order_relaxed);  // ORDERING: written under tx_mu_
    IoLoop::TxTurn turn{q, pm_[p], p, vid, 0, false};
    IoLoop::transmit_turn(*this, pass, turn);
    if (turn.pushed && q.publish_used()) {
      turn.pm.interrupts.add();
      pass.want_irq = true;
    }
  }
  if (peer != nullptr && pass.peer_open) publish_rx_locked(*peer);
  if (r.owns_lock()) r.unlock();
  if (pass.want_irq) raise_interrupt();
  return pass.moved;
}

void Device::pause_tap_rx(bool pause) {
  if (pause == tap_rx_paused_ || backend_lost_.load(std::memory_order_relaxed)) return;  // ORDERING: advisory
  if (rx_ring_on()) {
    // The armed read is paused by not collecting: its completions wait in the ring and, once
    // its buffers are spent, it ends (-ENOBUFS) and the kernel keeps the frames.
    tap_rx_paused_ = pause;
    if (pause) m_.rx_deferred.add();
    return;
  }
  epoll_event ev{};
  ev.events = pause ? 0u : static_cast<uint32_t>(EPOLLIN);
  ev.data.fd = tap_.fd();
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, tap_.fd(), &ev) != 0) {
    // Reading could never resume (or stop) as the buffers say: the thread must stop. rx_mu_ is
    // held here; run() takes the failure path after this pass.
    if (fault_ == kFaultNone) {
      fault_errno_ = errno;
      fault_ = kFaultEpollCtl;
    }
    return;
  }
  tap_rx_paused_ = pause;
  if (pause) m_.rx_deferred.add();
}

bool Device::rx_receiver_waits_locked() {
  for (uint32_t p = 0; p < num_pairs(); p++) {
    const DeviceQueue& q = queues_[rx_queue_of(p)];
    if (!q.ready()) continue;
    // ORDERING: pair_vid_ is written under rx_mu_, which we hold.
    if (p == 0 ? q.taken_since_reset() : pair_vid_[p].load(std::memory_order_relaxed) != 0) return true;
  }
  return false;
}

// The TAP's receive pass: how many frames there is room for -> read them (no lock) -> each one
// through the receive stages (deliver) under rx_mu_ -> publish. Returns true if a frame was read.
bool Device::service_tap_rx() {
  if (backend_lost_.load(std::memory_order_relaxed)) return false;  // ORDERING: advisory
  const uint32_t want = IoLoop::tap_rx_budget(*this);
  if (want == 0) return false;  // paused until a receive queue gets a buffer
  if (rx_ring_on()) return IoLoop::ring_tap_rx(*this, want);
  if (direct_rx_) return IoLoop::direct_tap_rx(*this, want);
  const uint32_t got = IoLoop::read_tap_batch(*this, want);
  if (got == 0) return false;
  IoLoop::deliver_tap_batch(*this, got);
  return true;
}

void Device::rx_uring_turned_down() {
  rx_uring_on_.store(false, std::memory_order_relaxed);  // ORDERING: stats() reads a snapshot
  alloc_rx_stage();  // once, on the way to the read() path
  std::lock_guard<std::mutex> r(rx_mu_);
  epoll_event ev{};
  ev.events = tap_rx_paused_ ? 0u : static_cast<uint32_t>(EPOLLIN);
  ev.data.fd = tap_.fd();
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, tap_.fd(), &ev) != 0 && fault_ == kFaultNone) {
    fault_errno_ = errno;
    fault_ = kFaultEpollCtl;
  }
}

bool Device::arm_and_check() {
  bool more = false;
  {
    std::lock_guard<std::mutex> t(tx_mu_);
    Device* peer = backend_ == BackendKind::kWire ? peer_.get() : nullptr;
    // ORDERING: seq_cst load pairs with hold_tx_for_test; held, no kick is armed (the release kicks).
    const bool held = tx_held_for_test_.load();
    for (uint32_t p = 0; p < num_pairs() && !held; p++) {
      DeviceQueue& q = queues_[tx_queue_of(p)];
      if (!q.ready()) continue;
      if (tx_stalled_[p] && peer != nullptr) {
        std::lock_guard<std::mutex> r(peer->rx_mu_);
        // A closed peer's region may already be freed: never touch it; the next pass completes
        // the stalled sends with kTxPeerGone.
        if (!peer->rx_open_.load(std::memory_order_acquire) || peer->queues_[stalled_on_[p]].enable_kick())  // ORDERING: set under rx_mu_
          more = true;
        continue;
      }
      if (q.enable_kick()) more = true;
    }
  }
  // Completions of the armed read that came after the last pass: take them before sleeping.
  if (rx_ring_on() && !tap_rx_paused_ && rx_ring_->ready()) more = true;
  if (backend_ == BackendKind::kTap && tap_rx_paused_) {
    // Reading is paused for want of buffers: ask for a kick when any receive queue gets one.
    std::lock_guard<std::mutex> r(rx_mu_);
    for (uint32_t p = 0; p < num_pairs(); p++) {
      if (queues_[rx_queue_of(p)].enable_kick()) more = true;
    }
  }
  return more;
}

// Busy-polls for up to cfg_.spin_ns before the thread goes to sleep: a sleep and the wakeup a kick
// then costs are far dearer (above all in a VM) than a few microseconds of looking. Returns true
// if new work showed up. `*idle_since` is when this idle spell began (0 = not yet).
bool Device::spin_for_work(uint64_t* idle_since) {
  // Spin hints between two looks at the rings (each look takes the locks). PAUSE costs 10-140
  // cycles by x86 generation, YIELD about one on most arm64 cores, so arm64 looks more often;
  // spin_ns, not this count, bounds the spell.
  constexpr int kRelaxesPerLook = 64;
  for (;;) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const uint64_t now = uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
    if (*idle_since == 0) *idle_since = now;
    if (now - *idle_since > cfg_.spin_ns) return false;
    for (int i = 0; i < kRelaxesPerLook; i++) cpu_relax();
    if (stop_.load(std::memory_order_relaxed)) return false;  // ORDERING: re-checked with acquire by run()
    {
      std::lock_guard<std::mutex> t(tx_mu_);
      Device* peer = backend_ == BackendKind::kWire ? peer_.get() : nullptr;
      // ORDERING: seq_cst load pairs with hold_tx_for_test; held queues are not work.
      const bool held = tx_held_for_test_.load();
      for (uint32_t p = 0; p < num_pairs() && !held; p++) {
        if (!queues_[tx_queue_of(p)].ready()) continue;
        if (tx_stalled_[p]) {
          // Stalled for want of the peer's receive buffers: those are what we wait for. A closed
          // peer's region may already be freed: never touch it; let service_tx complete the sends.
          if (peer == nullptr) continue;
          std::lock_guard<std::mutex> r(peer->rx_mu_);
          if (!peer->rx_open_.load(std::memory_order_acquire)) return true;  // ORDERING: set under rx_mu_
          if (peer->queues_[stalled_on_[p]].pending() != 0) return true;
          continue;
        }
        if (queues_[tx_queue_of(p)].pending() > 0) return true;
      }
    }
    if (rx_ring_on() && !tap_rx_paused_ && rx_ring_->ready()) return true;
  }
}

void Device::run() {
  epoll_event evs[4];
  uint64_t idle_since = 0;
  for (;;) {
    bool more = true;
    while (more) {
      if (stop_.load(std::memory_order_acquire)) return;  // ORDERING: pairs with close()
      more = service_tx();
      if (backend_ == BackendKind::kTap) more = service_tap_rx() || more;
      if (fault_ != kFaultNone) {
        fail_io(fault_errno_, fault_);
        return;
      }
      if (more) {
        m_.batches.add();
        idle_since = 0;
      } else if (cfg_.spin_ns > 0 && spin_for_work(&idle_since)) {
        more = true;  // work arrived while spinning: no sleep, no kick, no wakeup
      } else {
        idle_since = 0;
        more = arm_and_check();
      }
    }
    const int n = epoll_wait(epoll_fd_, evs, 4, -1);
    m_.wakeups.add();
    if (n < 0 && errno != EINTR) {
      // Without epoll the thread can never learn of a kick, a stop or a TAP frame again. Never
      // stop in silence: a device that looks alive and moves nothing hangs every send.
      if (stop_.load(std::memory_order_acquire)) return;  // ORDERING: pairs with close(); closing anyway
      fail_io(errno, kFaultEpollWait);
      return;
    }
    for (int i = 0; i < n; i++) {
      const int fd = evs[i].data.fd;
      if (fd == stop_fd_) return;
      if (fd == kick_fd_) {
        // Reset the eventfd only when it fired: kicks are level information, and a kick that
        // lands while we service is still counted, so the next epoll_wait returns at once.
        // (Reading both every pass cost two syscalls a pass.)
        uint64_t v;
        (void)!read(fd, &v, sizeof v);
      }
      if (fd == tap_.fd() && (evs[i].events & (EPOLLERR | EPOLLHUP))) set_backend_lost(EIO);
    }
  }
}

void Device::fail_io(int err, DeviceFault fault) {
  // ORDERING: relaxed store, then a release fence before the stores below (the header, and each
  // transmit queue's avail_event in fail_tx_locked): a driver whose acquire read sees the armed
  // kick, and so kicks, finds failed_ set in kick() and completes its sends there.
  failed_.store(true, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  m_.thread_failures.add();
  // ORDERING: errno and fault first, then the status (release) JS acts on; seq_cst generation
  // bump so JS re-reads statuses on the interrupt raised below.
  __atomic_store_n(&hdr_->device_errno, static_cast<uint32_t>(err), __ATOMIC_RELAXED);
  __atomic_store_n(&hdr_->device_fault, static_cast<uint32_t>(fault), __ATOMIC_RELAXED);
  __atomic_store_n(&hdr_->device_status, static_cast<uint32_t>(kDeviceFailed), __ATOMIC_RELEASE);
  __atomic_add_fetch(&hdr_->config_generation, 1u, __ATOMIC_SEQ_CST);
  {
    std::lock_guard<std::mutex> t(tx_mu_);
    fail_tx_locked();
  }
  {
    // Nothing fills our receive queues any more: our own thread is going, and a wire peer's
    // completes what it sends us with kTxPeerGone (as for a closed device) instead of filling
    // buffers nobody is watching for it.
    std::lock_guard<std::mutex> r(rx_mu_);
    rx_open_.store(false, std::memory_order_release);  // ORDERING: fillers check it under rx_mu_
  }
  if (peer_) {
    // A peer stalled on our receive queues learns it now (kTxPeerGone), not on its next kick.
    // peer_ is only reset after this thread is joined. The peer's close() runs on the JS thread
    // meanwhile: it clears its rx_open_ under its rx_mu_ before it closes its descriptors, so
    // under that lock, with rx_open_ still set, its kick descriptor is open and still its own.
    std::lock_guard<std::mutex> r(peer_->rx_mu_);
    if (peer_->rx_open_.load(std::memory_order_acquire) && peer_->kick_fd_ >= 0) {  // ORDERING: set under rx_mu_
      uint64_t one = 1;
      (void)!write(peer_->kick_fd_, &one, sizeof one);
    }
  }
  // Always: the status changed, whether or not a completion asked for an interrupt.
  raise_interrupt();
}

bool Device::fail_tx_locked() {
  bool want = false;
  for (uint32_t p = 0; p < num_pairs(); p++) {
    DeviceQueue& q = queues_[tx_queue_of(p)];
    tx_stalled_[p] = 0;
    // Until the arm below finds nothing new: a chain published meanwhile is either seen here or
    // its publish sees the armed avail_event and kicks (virtio 2.7.10; kick() then completes it).
    do {
      for (;;) {
        const PopResult pr = q.pop(&chain_);
        if (pr == PopResult::kEmpty) break;
        if (pr == PopResult::kBroken) {
          m_.ring_errors.add();
          want = true;
          break;
        }
        q.push_used(chain_.head, kTxDeviceFailed);
        pm_[p].tx_errors.add();
      }
      if (q.publish_used()) {
        pm_[p].interrupts.add();
        want = true;
      }
    } while (q.enable_kick());
  }
  return want;
}

}  // namespace condis
