// io_loop.cc — the device's I/O thread: the data path.
//
// One thread per device. It sleeps in epoll on {kick eventfd, stop eventfd, TAP fd} and, when
// woken, services rings in passes until a pass moves nothing; then it re-arms kicks (virtio
// event index, 2.7.10) and re-checks before sleeping, so no notification is lost.
//
//   transmit: avail chains of transmitq k -> (802.1Q tag inserted if pair k is bound) -> TAP
//             write (io_uring batch, or writev) / wire: straight into the peer's receive ring
//   receive:  TAP read -> tag classified and stripped -> receiveq of the pair bound to the VID
//             (pair 0 for untagged; unbound VID dropped and counted)
//
// Interrupts into JS are coalesced: RegionHeader.irq_pending is 1 while a call is in flight,
// so there is at most one call per device in flight, never one per packet.
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

}  // namespace

Deliver Device::deliver(Device& rx, const iovec* iov, int iovcnt, uint32_t total, uint32_t* rxq_out) {
  const uint32_t hl = rx.vnet_ ? kVnetHdrLen : 0;
  uint8_t eth[2];  // the ethertype only: a 14-byte untagged frame has nothing after it
  if (total < hl + kEthHdrLen || !gather(iov, iovcnt, hl + kEthTypeOff, eth, 2)) {
    rx.m_.rx_malformed.add();
    return Deliver::kDropped;
  }
  uint32_t vid = 0;
  bool strip = false;
  if (be16(eth) == kEthP8021Q) {
    uint8_t tci[2];
    if (total < hl + kVlanHdrLen || !gather(iov, iovcnt, hl + kVlanTciOff, tci, 2)) {
      rx.m_.rx_malformed.add();
      return Deliver::kDropped;
    }
    vid = be16(tci) & kVlanVidMask;
    strip = true;  // VID 0 (priority tag only) goes to pair 0 untagged
  }
  uint32_t pair = 0;
  if (vid != 0) {
    pair = rx.vid_to_pair_[vid];
    if (pair == kNoPair) {
      rx.m_.rx_unbound_vid.add();
      return Deliver::kDropped;
    }
  }
  const uint32_t qi = 2 * pair;
  *rxq_out = qi;
  DeviceQueue& q = rx.queues_[qi];
  PairMetrics& pm = rx.pm_[pair];
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
  const Chain& c = rx.rx_chain_;
  const uint32_t out_len = total - (strip ? kVlanTagLen : 0);
  rx.rx_dirty_[pair] = 1;
  if (out_len > c.total) {
    q.push_used(c.head, 0);  // the buffer goes back empty: the driver sees len 0
    pm.rx_too_big.add();
    return Deliver::kDropped;
  }
  const uint32_t n = scatter_frame(iov, iovcnt, hl + kEthTypeOff, strip ? kVlanTagLen : 0, c);
  uint8_t h[kVnetCsumStartEnd];  // virtio_net_hdr up to csum_start, read from the source: it lies before the tag
  if (strip && hl != 0 && gather(iov, iovcnt, 0, h, sizeof h) && vnet_needs_csum(h)) {
    uint16_t cs;
    std::memcpy(&cs, h + kVnetCsumStartOff, 2);
    if (csum_start_across_tag(cs, -static_cast<int32_t>(kVlanTagLen), &cs))
      write_chain(c, kVnetCsumStartOff, reinterpret_cast<const uint8_t*>(&cs), 2);
  }
  q.push_used(c.head, n);
  pm.rx_frames.add();
  pm.rx_bytes.add(n - hl);
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
  for (uint32_t p = 0; p < rx.num_queues_ / 2; p++) {
    if (!rx.rx_dirty_[p]) continue;
    rx.rx_dirty_[p] = 0;
    if (rx.queues_[2 * p].publish_used()) {
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

bool Device::service_tx() {
  std::lock_guard<std::mutex> t(tx_mu_);
  Device* peer = backend_ == BackendKind::kWire ? peer_.get() : nullptr;
  std::unique_lock<std::mutex> r;
  if (peer != nullptr) r = std::unique_lock<std::mutex>(peer->rx_mu_);  // lock order: tx before rx
  const bool peer_open = peer != nullptr && peer->rx_open_.load(std::memory_order_acquire);  // ORDERING: set under peer rx_mu_
  const uint32_t hl = vnet_ ? kVnetHdrLen : 0;
  const bool link = link_up_.load(std::memory_order_relaxed);  // ORDERING: advisory
  bool moved = false;
  bool want_irq = false;

  for (uint32_t p = 0; p < num_queues_ / 2; p++) {
    DeviceQueue& q = queues_[2 * p + 1];
    if (!q.ready()) continue;
    if (tx_stalled_[p]) {
      // Unstall when the peer is gone, posted buffers, broke or reset the queue, or when routing
      // changed (the peer unbound or re-bound the VID): the next attempt re-decides the frame.
      const uint16_t sv = pair_vid_[p].load(std::memory_order_relaxed);  // ORDERING: written under tx_mu_
      const bool rerouted = sv != 0 && (peer->vid_to_pair_[sv] == kNoPair || 2u * peer->vid_to_pair_[sv] != stalled_on_[p]);
      if (!peer_open || rerouted || peer->queues_[stalled_on_[p]].pending() != 0 ||
          !peer->queues_[stalled_on_[p]].ready())
        tx_stalled_[p] = 0;
      else
        continue;
    }
    PairMetrics& pm = pm_[p];
    const uint16_t vid = pair_vid_[p].load(std::memory_order_relaxed);  // ORDERING: written under tx_mu_
    uint32_t nslots = 0;
    bool pushed = false;
    while (nslots < cfg_.batch) {
      const PopResult pr = q.pop(&chain_);
      if (pr == PopResult::kEmpty) break;
      if (pr == PopResult::kBroken) {
        m_.ring_errors.add();
        want_irq = true;
        break;
      }
      moved = true;
      const Chain& c = chain_;
      if (c.total < hl + kEthHdrLen || c.total - hl > max_frame_) {
        q.push_used(c.head, kTxMalformed);
        pm.tx_malformed.add();
        pushed = true;
        continue;
      }
      if (p != 0 && vid == 0) {
        q.push_used(c.head, kTxUnbound);
        pm.tx_unbound.add();
        pushed = true;
        continue;
      }
      if (!link || backend_lost_.load(std::memory_order_relaxed)) {  // ORDERING: advisory
        q.push_used(c.head, kTxBackendError);
        pm.tx_errors.add();
        pushed = true;
        continue;
      }
      TxSlot& s = tx_slots_[nslots];
      s.queue = static_cast<uint16_t>(2 * p + 1);
      s.head = c.head;
      if (peer == nullptr && vid == 0 && c.nseg == 1) {
        // TAP, untagged, one segment: the frame goes out as it lies in the driver's buffer, with
        // one plain write (no header gather, no iovec).
        s.buf = c.seg[0].ptr;
        s.len = c.total;
        nslots++;
        continue;
      }
      // Build the frame as it goes on the wire: [vnet hdr][dst src][802.1Q tag?][type ... payload].
      uint32_t lead = hl + kEthTypeOff;
      // Gather the lead bytes (they may span segments) into the slot's header scratch.
      uint32_t si = 0, soff = 0, got = 0;
      while (got < lead) {
        const uint32_t take = std::min(lead - got, c.seg[si].len - soff);
        // SAFETY: take <= remaining bytes of segment si; s.hdr has room for hl + 16 bytes.
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
        s.hdr[lead + 2] = static_cast<uint8_t>(vid >> 8);
        s.hdr[lead + 3] = static_cast<uint8_t>(vid & 0xff);
        if (hl != 0 && vnet_needs_csum(s.hdr)) {
          uint16_t cs;
          std::memcpy(&cs, s.hdr + kVnetCsumStartOff, 2);
          if (csum_start_across_tag(cs, static_cast<int32_t>(kVlanTagLen), &cs))
            std::memcpy(s.hdr + kVnetCsumStartOff, &cs, 2);
        }
        lead += kVlanTagLen;
      }
      s.iov[0] = iovec{s.hdr, lead};
      int k = 1;
      for (; si < c.nseg; si++) {
        // SAFETY: soff < seg.len here; the rest of the segment lies inside the pool.
        s.iov[k++] = iovec{c.seg[si].ptr + soff, c.seg[si].len - soff};
        soff = 0;
      }
      s.iovcnt = k;
      s.len = c.total + (vid != 0 ? kVlanTagLen : 0);
      s.buf = nullptr;
      if (peer == nullptr && s.len <= kTxFlatMax) {
        // TAP, tagged (or several segments): flattened into the slot, then one plain write.
        uint8_t* flat = tx_flat_.data() + size_t(nslots) * kTxFlatMax;
        uint32_t at = 0;
        for (int i = 0; i < k; i++) {
          // SAFETY: the iovecs add up to s.len <= kTxFlatMax, the size of this slot's area.
          std::memcpy(flat + at, s.iov[i].iov_base, s.iov[i].iov_len);
          at += static_cast<uint32_t>(s.iov[i].iov_len);
        }
        s.buf = flat;
      }

      if (peer != nullptr) {
        // Wire: hand the frame straight to the other end's receive ring.
        if (!peer_open) {
          q.push_used(c.head, kTxPeerGone);
          pm.tx_errors.add();
          pushed = true;
          continue;
        }
        uint32_t rxq = 0;
        const Deliver d = deliver(*peer, s.iov, s.iovcnt, s.len, &rxq);
        if (d == Deliver::kNoBuffer) {
          // Flow control per queue pair: keep the frame, wait for the peer to post buffers.
          q.unpop();
          tx_stalled_[p] = 1;
          stalled_on_[p] = rxq;
          break;
        }
        q.push_used(c.head, kTxSent);
        pm.tx_frames.add();
        pm.tx_bytes.add(s.len - hl);
        pushed = true;
        continue;
      }
      nslots++;
    }

    if (nslots > 0) {
      // TAP: one io_uring_enter for the whole batch, or one writev per frame without io_uring.
      // Each slot is written exactly once: kSlotPending until the ring (or writev) settles it.
      constexpr uint32_t kSlotPending = TxSlot::kPending;
      const int fd = tap_.fd();
      for (uint32_t i = 0; i < nslots; i++) tx_slots_[i].result = kSlotPending;
      if (uring_) {
        unsigned queued = 0;
        while (queued < nslots) {
          const TxSlot& s = tx_slots_[queued];
          const bool ok = s.buf != nullptr ? uring_->prep_write(fd, s.buf, s.len, queued)
                                           : uring_->prep_writev(fd, s.iov, s.iovcnt, queued);
          if (!ok) break;
          queued++;
        }
        bool ring_ok = uring_->submit(queued) >= 0;
        unsigned got = 0;
        UringCompletion cqe[kMaxBatch];
        while (ring_ok && got < queued) {
          const unsigned h = uring_->harvest(cqe, queued - got);
          if (h == 0) {
            ring_ok = uring_->submit(1) >= 0;
            continue;
          }
          for (unsigned i = 0; i < h; i++) {
            TxSlot& s = tx_slots_[cqe[i].user_data];
            s.result = cqe[i].res < 0 ? (TxSlot::kFailed | static_cast<uint32_t>(-cqe[i].res)) : TxSlot::kWritten;
          }
          got += h;
        }
        if (!ring_ok) {
          // The ring misbehaved: frames it may or may not have written are failed, never resent
          // (a duplicate is worse than a loss the driver sees); writev from now on.
          for (uint32_t i = 0; i < queued; i++)
            if (tx_slots_[i].result == kSlotPending) tx_slots_[i].result = TxSlot::kFailed | EIO;
          uring_.reset();
        }
      }
      for (uint32_t i = 0; i < nslots; i++) {
        TxSlot& s = tx_slots_[i];
        if (s.result == kSlotPending) {
          const ssize_t w = s.buf != nullptr ? write(fd, s.buf, s.len) : writev(fd, s.iov, s.iovcnt);
          s.result = w < 0 ? (TxSlot::kFailed | static_cast<uint32_t>(errno)) : TxSlot::kWritten;
        }
        if (s.result != TxSlot::kWritten) {
          const int err = static_cast<int>(s.result & ~TxSlot::kFailed);
          q.push_used(s.head, kTxBackendError);
          pm.tx_errors.add();
          if (err == EBADFD || err == ENODEV || err == ENXIO) set_backend_lost(err);
        } else {
          q.push_used(s.head, kTxSent);
          pm.tx_frames.add();
          pm.tx_bytes.add(s.len - hl);
        }
      }
      pushed = true;
    }
    if (pushed && q.publish_used()) {
      pm.interrupts.add();
      want_irq = true;
    }
  }
  if (peer != nullptr && peer_open) publish_rx_locked(*peer);
  if (r.owns_lock()) r.unlock();
  if (want_irq) raise_interrupt();
  return moved;
}

void Device::pause_tap_rx(bool pause) {
  if (pause == tap_rx_paused_ || backend_lost_.load(std::memory_order_relaxed)) return;  // ORDERING: advisory
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
  for (uint32_t p = 0; p < num_queues_ / 2; p++) {
    const DeviceQueue& q = queues_[2 * p];
    if (!q.ready()) continue;
    // ORDERING: pair_vid_ is written under rx_mu_, which we hold.
    if (p == 0 ? q.taken_since_reset() : pair_vid_[p].load(std::memory_order_relaxed) != 0) return true;
  }
  return false;
}

bool Device::service_tap_rx() {
  if (backend_lost_.load(std::memory_order_relaxed)) return false;  // ORDERING: advisory
  // Read only while some receive queue has a buffer: the kernel keeps frames meanwhile (as
  // Firecracker defers RX), for a driver that will post more. A frame for one full queue while
  // others have room is dropped and counted, so one VC that holds its buffers cannot stall the
  // others. With no receiver at all (no pair bound to a VID, pair 0 unused since its reset) the
  // device reads on and drops what comes, counted: a frame for a VC that is not active is dropped
  // on arrival, never kept in the kernel to be indicated after a reactivation.
  uint32_t want = cfg_.batch;
  {
    std::lock_guard<std::mutex> r(rx_mu_);
    uint32_t posted = 0;
    for (uint32_t p = 0; p < num_queues_ / 2; p++) {
      const int k = queues_[2 * p].pending();
      if (k > 0) posted += static_cast<uint32_t>(k);
    }
    const bool wait_for_buffers = posted == 0 && rx_receiver_waits_locked();
    pause_tap_rx(wait_for_buffers);
    if (wait_for_buffers) return false;
    if (posted != 0 && posted < want) want = posted;  // no more than can be placed; look again next pass
  }
  // The reads run without rx_mu_: the staging slots are this thread's own, and a control call
  // (unbind, queue reset, quiesce: a deactivation's last step) must not wait behind up to a batch
  // of read() syscalls (~1.5 us each here) while frames stream in. Frames are steered below, under
  // the lock, by the bindings and buffers of that moment.
  const size_t slot = kRxStageSlot;
  uint32_t got = 0;
  for (; got < want; got++) {
    // SAFETY: slot `got` < batch lies inside rx_stage_ (batch x slot bytes).
    const ssize_t n = read(tap_.fd(), rx_stage_.data() + size_t(got) * slot, slot);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      m_.rx_read_errors.add();
      if (errno == EBADFD || errno == ENODEV || errno == ENXIO) set_backend_lost(errno);
      break;
    }
    rx_stage_len_[got] = static_cast<uint32_t>(n);
  }
  if (got == 0) return false;
  std::lock_guard<std::mutex> r(rx_mu_);
  for (uint32_t i = 0; i < got; i++) {
    iovec iov{rx_stage_.data() + size_t(i) * slot, rx_stage_len_[i]};
    uint32_t rxq = 0;
    if (deliver(*this, &iov, 1, rx_stage_len_[i], &rxq) == Deliver::kNoBuffer) pm_[rxq / 2].rx_no_buffer.add();
  }
  publish_rx_locked(*this);
  return true;
}

bool Device::arm_and_check() {
  bool more = false;
  {
    std::lock_guard<std::mutex> t(tx_mu_);
    Device* peer = backend_ == BackendKind::kWire ? peer_.get() : nullptr;
    for (uint32_t p = 0; p < num_queues_ / 2; p++) {
      DeviceQueue& q = queues_[2 * p + 1];
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
  if (backend_ == BackendKind::kTap && tap_rx_paused_) {
    // Reading is paused for want of buffers: ask for a kick when any receive queue gets one.
    std::lock_guard<std::mutex> r(rx_mu_);
    for (uint32_t p = 0; p < num_queues_ / 2; p++) {
      if (queues_[2 * p].enable_kick()) more = true;
    }
  }
  return more;
}

// Busy-polls for up to cfg_.spin_ns before the thread goes to sleep: a sleep and the wakeup a kick
// then costs are far dearer (above all in a VM) than a few microseconds of looking. Returns true
// if new work showed up. `*idle_since` is when this idle spell began (0 = not yet).
bool Device::spin_for_work(uint64_t* idle_since) {
  for (;;) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const uint64_t now = uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
    if (*idle_since == 0) *idle_since = now;
    if (now - *idle_since > cfg_.spin_ns) return false;
    for (int i = 0; i < 64; i++) cpu_relax();
    if (stop_.load(std::memory_order_relaxed)) return false;  // ORDERING: re-checked with acquire by run()
    {
      std::lock_guard<std::mutex> t(tx_mu_);
      Device* peer = backend_ == BackendKind::kWire ? peer_.get() : nullptr;
      for (uint32_t p = 0; p < num_queues_ / 2; p++) {
        if (!queues_[2 * p + 1].ready()) continue;
        if (tx_stalled_[p]) {
          // Stalled for want of the peer's receive buffers: those are what we wait for. A closed
          // peer's region may already be freed: never touch it; let service_tx complete the sends.
          if (peer == nullptr) continue;
          std::lock_guard<std::mutex> r(peer->rx_mu_);
          if (!peer->rx_open_.load(std::memory_order_acquire)) return true;  // ORDERING: set under rx_mu_
          if (peer->queues_[stalled_on_[p]].pending() != 0) return true;
          continue;
        }
        if (queues_[2 * p + 1].pending() > 0) return true;
      }
    }
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
  for (uint32_t p = 0; p < num_queues_ / 2; p++) {
    DeviceQueue& q = queues_[2 * p + 1];
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
