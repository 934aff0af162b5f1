// device.cc — the device's control path: create, wire pairing, queue pair binding, queue reset,
// link, stats, close. The data path is in io_loop.cc.
#include "device.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace condis {

namespace {

// With a HOST_ GSO feature a frame may carry a 64 KiB packet whatever the MTU: the kernel (or
// the wire's far end) segments it. Without, the MTU's frame is the limit.
uint32_t tx_frame_limit(uint32_t mtu_frame, uint64_t features) {
  return (features & kHostGsoFeatures) ? std::max(mtu_frame, kGsoMaxFrame) : mtu_frame;
}

// Virtio 5.1.3 negotiation: the features the driver accepted that the device offers. A driver
// that accepts a feature without one it depends on (5.1.3.1) is refused: that is its bug.
Error negotiate(const DeviceConfig& cfg, bool vnet, uint64_t offered, uint64_t* out) {
  if (cfg.features_given && cfg.features != 0 && !vnet)
    return Error::condis(codes::kInvalidArg, "features need a virtio_net_hdr in the ring: open with vnetHdr: true");
  const uint64_t accepted = cfg.features_given ? cfg.features : (vnet ? kDefaultNetFeatures : 0);
  const char* needs = nullptr;
  if (const char* f = missing_feature_dependency(accepted, &needs))
    return Error::condis(codes::kInvalidArg, std::string("feature ") + f + " needs " + needs +
                                                 " (virtio 1.2, 5.1.3.1): accept both, or neither");
  *out = accepted & offered;
  return Error();
}

}  // namespace

uint32_t Device::max_frame() const { return max_frame_; }

std::shared_ptr<Device> Device::create(uint8_t* region, size_t len, const DeviceConfig& cfg, Error* err) {
  const char* why = nullptr;
  if (!validate_region(region, len, &why)) {
    *err = Error::condis(codes::kBadRegion, why);
    return nullptr;
  }
  if (cfg.batch < 1 || cfg.batch > kMaxBatch) {
    *err = Error::condis(codes::kInvalidArg, "batch must be from 1 to " + std::to_string(kMaxBatch));
    return nullptr;
  }
  std::shared_ptr<Device> d(new Device());
  d->cfg_ = cfg;
  d->region_ = region;
  d->region_len_ = len;
  d->hdr_ = reinterpret_cast<RegionHeader*>(region);
  RegionHeader h;
  // SAFETY: validate_region proved len >= sizeof h. One snapshot; JS may rewrite the header later
  // and the device must not care.
  std::memcpy(&h, region, sizeof h);
  d->num_queues_ = h.num_queues;
  d->queue_size_ = h.queue_size;
  d->backend_ = cfg.backend;
  d->queues_.resize(h.num_queues);
  for (uint32_t i = 0; i < h.num_queues; i++) d->queues_[i].init(region, len, h, i, is_tx_queue(i));
  for (auto& v : d->pair_vid_) v.store(0, std::memory_order_relaxed);  // ORDERING: before the thread exists
  std::memset(d->vid_to_pair_, kNoPair, sizeof d->vid_to_pair_);
  d->rx_dirty_.assign(h.num_queues / 2, 0);
  d->tx_stalled_.assign(h.num_queues / 2, 0);
  d->stalled_on_.assign(h.num_queues / 2, 0);
  d->pm_.reset(new PairMetrics[h.num_queues / 2]);

  if (cfg.backend == BackendKind::kTap) {
    Error e = d->tap_.open(cfg.tap);
    if (e) {
      *err = e;
      return nullptr;
    }
    d->vnet_ = d->tap_.vnet_hdr();
    d->offered_ = d->vnet_ ? tap_offered_features(d->tap_.probe_offloads()) : 0;
    Error ne = negotiate(cfg, d->vnet_, d->offered_, &d->features_);
    // Receive offloads: the kernel may now hand over partial checksums and GSO frames.
    if (!ne && d->vnet_) ne = d->tap_.set_offload(tun_offload_for(d->features_));
    if (ne) {
      *err = ne;
      return nullptr;  // ~Device closes the TAP it opened
    }
    uint32_t mtu = 1500;
    d->tap_.get_mtu(&mtu);
    d->max_frame_ = tx_frame_limit(max_frame_for_mtu(mtu), d->features_);
  } else {
    d->vnet_ = cfg.tap.vnet_hdr;  // the wire carries the header through when both ends use it
    d->offered_ = d->vnet_ ? kAllNetFeatures : 0;  // it moves headers and never segments
    if (Error ne = negotiate(cfg, d->vnet_, d->offered_, &d->features_)) {
      *err = ne;
      return nullptr;
    }
    d->max_frame_ = tx_frame_limit(cfg.wire_max_frame, d->features_);
  }
  d->kick_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  d->stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  d->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (d->kick_fd_ < 0 || d->stop_fd_ < 0 || d->epoll_fd_ < 0) {
    *err = Error::os(errno, "eventfd", "cannot create the device's event descriptors");
    d->close(false, 0);
    return nullptr;
  }
  // Scratch for the I/O thread, sized once: the hot path allocates nothing.
  d->tx_slots_.resize(cfg.batch);
  if (cfg.backend == BackendKind::kTap) {
    d->tx_flat_.resize(size_t(cfg.batch) * kTxFlatMax);
    if (cfg.use_uring) {
      Error ue;
      // One submission slot per frame of the largest batch. nullptr: fall back to writev (stats).
      d->uring_ = Uring::create(kMaxBatch, &ue);
      // The TAP as the ring's fixed file: no fget/fput per write. Optional: without it (an old
      // kernel, a limit) writes name the fd as usual.
      if (d->uring_) (void)d->uring_->register_file(d->tap_.fd());
    }
    // Receive: one multishot read armed on the TAP (tap_rx.h says why). Its buffers: twice a
    // batch, so the kernel reads on while a pass delivers the last batch. nullptr (no io_uring,
    // no provided buffer rings before 5.19): read() per frame into staging slots. A driver that
    // takes GSO frames gets read() per frame straight into its buffers instead (direct_rx_): the
    // multishot read can only fill the ring's own buffers, which then have to be copied.
    d->direct_rx_ = d->vnet_ && (d->features_ & kGuestGsoFeatures) != 0;
    if (cfg.use_uring && !d->direct_rx_) {
      Error re;
      unsigned nbufs = 64;
      while (nbufs < 2 * cfg.batch) nbufs *= 2;
      d->rx_ring_ = TapRxRing::create(d->tap_.fd(), nbufs, kRxStageSlot, &re);
      d->rx_uring_on_.store(d->rx_ring_ != nullptr, std::memory_order_relaxed);  // ORDERING: before the thread exists
    }
    d->rx_frames_.resize(cfg.batch);
    if (!d->rx_ring_) d->alloc_rx_stage();
  }
  return d;
}

Device::~Device() { close(false, 0); }

void Device::alloc_rx_stage() {
  // Room for the largest frame the TAP can hand us at any MTU it accepts.
  rx_stage_.resize(size_t(cfg_.batch) * kRxStageSlot);
  rx_stage_len_.resize(cfg_.batch);
}

Error Device::join_wire(const std::shared_ptr<Device>& a, const std::shared_ptr<Device>& b) {
  if (a->backend_ != BackendKind::kWire || b->backend_ != BackendKind::kWire)
    return Error::condis(codes::kInvalidArg, "only wire devices can be joined");
  if (a.get() == b.get()) return Error::condis(codes::kInvalidArg, "a device cannot be wired to itself");
  if (a->started_ || b->started_ || a->peer_ || b->peer_)
    return Error::condis(codes::kInvalidState, "wire ends must be joined once, before start");
  if (a->vnet_ != b->vnet_)
    return Error::condis(codes::kInvalidArg, "both wire ends must agree on vnetHdr");
  a->peer_ = b;
  b->peer_ = a;
  return Error();
}

Error set_thread_cpus(const std::vector<uint32_t>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpus.empty()) {
    for (int c = 0; c < CPU_SETSIZE; c++) CPU_SET(c, &set);  // the kernel keeps the allowed ones
  } else {
    for (uint32_t c : cpus) {
      if (c >= CPU_SETSIZE) return Error::condis(codes::kInvalidArg, "CPU numbers go from 0 to 1023");
      CPU_SET(c, &set);
    }
  }
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    std::string list;
    for (uint32_t c : cpus) list += (list.empty() ? "" : ",") + std::to_string(c);
    return Error::os(errno, "sched_setaffinity",
                     "cannot run on CPUs [" + list + "]: none of them is online and allowed to this process");
  }
  return Error();
}

Error Device::start(InterruptFn irq, const std::string& thread_name) {
  if (started_.exchange(true)) return Error::condis(codes::kInvalidState, "device already started");
  irq_ = std::move(irq);
  if (backend_ == BackendKind::kWire && !peer_)
    return Error::condis(codes::kInvalidState, "a wire device needs its other end before start");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = kick_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, kick_fd_, &ev);
  ev.data.fd = stop_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
  if (backend_ == BackendKind::kTap) {
    ev.data.fd = tap_.fd();
    // With the armed read the TAP is watched for errors only (EPOLLERR/EPOLLHUP come anyway):
    // frames arrive as completions, which wake the thread themselves (tap_rx.h).
    ev.events = rx_ring_ ? 0u : static_cast<uint32_t>(EPOLLIN);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, ev.data.fd, &ev) != 0)
      return Error::os(errno, "epoll_ctl", "cannot watch the TAP descriptor");
  }
  // Every queue starts enabled; the driver has zeroed the rings when it built the region.
  {
    std::lock_guard<std::mutex> t(tx_mu_);
    std::lock_guard<std::mutex> r(rx_mu_);
    for (auto& q : queues_) q.reset(true);
  }
  // A thread starts with its creator's CPUs: narrow ours for the creation, then restore them, so
  // a bad CPU list fails here, with nothing started.
  cpu_set_t mine;
  const bool pin = !cfg_.cpus.empty();
  if (pin) {
    if (sched_getaffinity(0, sizeof mine, &mine) != 0)
      return Error::os(errno, "sched_getaffinity", "cannot read this thread's CPUs");
    Error e = set_thread_cpus(cfg_.cpus);
    if (e) return e;
  }
  try {
    thread_ = std::thread([self = shared_from_this()] {
      self->run();
      // The armed read is the I/O thread's request: cancelled here, its cancellation completes in
      // this thread's own wait, and the TAP is free when close() returns. From another thread
      // (or after this one ended) the kernel would finish it later from a worker, and the next
      // open of the TAP's name would get EBUSY meanwhile.
      self->rx_ring_.reset();
    });
  } catch (const std::system_error& e) {
    if (pin) sched_setaffinity(0, sizeof mine, &mine);
    return Error::os(e.code().value(), "pthread_create", "cannot start the device's I/O thread");
  }
  if (pin) sched_setaffinity(0, sizeof mine, &mine);
  std::string n = thread_name.substr(0, 15);  // the kernel keeps 15 characters
  pthread_setname_np(thread_.native_handle(), n.c_str());
  return Error();
}

void Device::kick(uint32_t q) {
  if (q >= num_queues_) return;
  m_.kicks.add();
  if (is_tx_queue(q) && failed()) {
    // The I/O thread is gone and nobody else takes this queue's chains: complete them here, so a
    // send posted after the failure still completes (fail_io armed the kick that brought us here).
    bool irq = false;
    {
      std::lock_guard<std::mutex> t(tx_mu_);
      if (!closed()) irq = fail_tx_locked();
    }
    if (irq) raise_interrupt();
    return;
  }
  uint64_t one = 1;
  int fd = kick_fd_;
  if (!is_tx_queue(q) && backend_ == BackendKind::kWire) {
    // A receive queue on a wire is filled by the other end's thread: wake that one.
    // peer_ is only written before start and after our thread stops, both on this (JS) thread.
    if (!peer_) return;
    fd = peer_->kick_fd_;
  }
  if (fd >= 0) (void)!write(fd, &one, sizeof one);
}

Error Device::bind_pair(uint32_t pair, uint32_t vid) {
  if (pair == 0 || pair >= num_pairs())
    return Error::condis(codes::kInvalidArg, "pair must be from 1 to queuePairs-1 (pair 0 is untagged)");
  if (vid < 1 || vid > kVlanMaxVid)
    return Error::condis(codes::kInvalidArg, "VID must be from 1 to " + std::to_string(kVlanMaxVid));
  std::lock_guard<std::mutex> t(tx_mu_);
  std::lock_guard<std::mutex> r(rx_mu_);
  if (vid_to_pair_[vid] != kNoPair && vid_to_pair_[vid] != pair)
    return Error::condis(codes::kVidInUse, "VID " + std::to_string(vid) + " is already bound to pair " +
                                                      std::to_string(vid_to_pair_[vid]));
  const uint16_t old = pair_vid_[pair].load(std::memory_order_relaxed);  // ORDERING: under both locks
  if (old != 0 && old != vid)
    return Error::condis(codes::kPairInUse, "pair " + std::to_string(pair) + " is bound to VID " +
                                                       std::to_string(old) + "; unbind it first");
  vid_to_pair_[vid] = static_cast<uint8_t>(pair);
  pair_vid_[pair].store(static_cast<uint16_t>(vid), std::memory_order_relaxed);  // ORDERING: readers hold a lock
  // A pair quiesced by a deactivation comes back to service here, its rings empty (indices 0).
  for (uint32_t q : {rx_queue_of(pair), tx_queue_of(pair)})
    if (queues_[q].state() == kQueueDisabled) queues_[q].reset(true);
  queues_[rx_queue_of(pair)].set_vid(vid);
  queues_[tx_queue_of(pair)].set_vid(vid);
  return Error();
}

void Device::unbind_locked(uint32_t pair) {
  const uint16_t vid = pair_vid_[pair].load(std::memory_order_relaxed);  // ORDERING: under both locks
  if (vid != 0) vid_to_pair_[vid] = kNoPair;
  pair_vid_[pair].store(0, std::memory_order_relaxed);  // ORDERING: readers hold a lock
  queues_[rx_queue_of(pair)].set_vid(0);
  queues_[tx_queue_of(pair)].set_vid(0);
}

Error Device::unbind_pair(uint32_t pair) {
  if (pair == 0 || pair >= num_pairs())
    return Error::condis(codes::kInvalidArg, "pair must be from 1 to queuePairs-1 (pair 0 is untagged)");
  {
    std::lock_guard<std::mutex> t(tx_mu_);
    std::lock_guard<std::mutex> r(rx_mu_);
    unbind_locked(pair);
    repoll_tap_rx_locked();
  }
  // A wire peer stalled on our (now unbound) VID must re-route: its frames now drop. Its thread
  // fills our receive queues, so a receive-queue kick is what wakes it.
  if (peer_) kick(0);
  return Error();
}

Error Device::reset_queue(uint32_t q, bool disable, uint16_t* used) {
  if (q >= num_queues_) return Error::condis(codes::kInvalidArg, "no such queue");
  if (is_tx_queue(q)) {
    std::lock_guard<std::mutex> t(tx_mu_);
    if (used != nullptr) *used = queues_[q].used_published();
    queues_[q].reset(!disable);
    tx_stalled_[pair_of(q)] = 0;  // I/O thread state, but it only reads it under tx_mu_ too
  } else {
    std::lock_guard<std::mutex> r(rx_mu_);
    if (used != nullptr) *used = queues_[q].used_published();
    queues_[q].reset(!disable);
    rx_dirty_[pair_of(q)] = 0;
    repoll_tap_rx_locked();
  }
  // A queue just emptied has nothing for the device to do; the driver's next publish kicks (the
  // reset zeroed avail_event). Only a wire peer stalled on this receive queue must re-decide.
  if (!is_tx_queue(q)) wake_stalled_peer(q);
  return Error();
}

Error Device::quiesce_pair(uint32_t pair, uint16_t* rx_used) {
  if (pair == 0 || pair >= num_pairs())
    return Error::condis(codes::kInvalidArg, "pair must be from 1 to queuePairs-1 (pair 0 is untagged)");
  {
    std::lock_guard<std::mutex> t(tx_mu_);
    std::lock_guard<std::mutex> r(rx_mu_);
    unbind_locked(pair);
    *rx_used = queues_[rx_queue_of(pair)].used_published();
    queues_[rx_queue_of(pair)].reset(false);
    queues_[tx_queue_of(pair)].reset(false);
    tx_stalled_[pair] = 0;
    rx_dirty_[pair] = 0;
    repoll_tap_rx_locked();
  }
  wake_stalled_peer(rx_queue_of(pair));
  return Error();
}

void Device::repoll_tap_rx_locked() {
  // A thread that paused TAP reading for want of buffers waits for a receive-queue kick; with the
  // last receiver gone it must read (and drop) instead. One syscall (and a wakeup, several us in
  // a VM), only then: while other receivers wait, the frames stay in the kernel for them.
  if (backend_ != BackendKind::kTap || !tap_rx_paused_ || kick_fd_ < 0 || rx_receiver_waits_locked()) return;
  uint64_t one = 1;
  (void)!write(kick_fd_, &one, sizeof one);
}

void Device::wake_stalled_peer(uint32_t rxq) {
  if (backend_ != BackendKind::kWire || !peer_) return;
  bool stalled = false;
  {
    // The peer's thread fills our receive queues; if it holds sends for this one, it must
    // re-decide them (drop, or deliver once buffers come). A syscall only when it does.
    std::lock_guard<std::mutex> t(peer_->tx_mu_);
    for (uint32_t p = 0; p < peer_->num_pairs() && !stalled; p++)
      stalled = peer_->tx_stalled_[p] && peer_->stalled_on_[p] == rxq;
  }
  if (stalled) kick(rxq);
}

Error Device::set_link(bool up) {
  link_up_.store(up, std::memory_order_relaxed);  // ORDERING: advisory; the thread re-reads each pass
  if (backend_ == BackendKind::kTap) return tap_.set_link(up);
  return Error();
}

Error Device::set_mtu(uint32_t mtu) {
  if (backend_ != BackendKind::kTap) return Error::condis(codes::kInvalidState, "only a TAP has an MTU");
  Error e = tap_.set_mtu(mtu);
  if (e) return e;
  std::lock_guard<std::mutex> t(tx_mu_);
  max_frame_ = tx_frame_limit(max_frame_for_mtu(mtu), features_);
  return Error();
}

void Device::stats(DeviceStats* out) const {
  out->rx_unbound_vid = m_.rx_unbound_vid.get();
  out->rx_malformed = m_.rx_malformed.get();
  out->rx_read_errors = m_.rx_read_errors.get();
  out->rx_deferred = m_.rx_deferred.get();
  out->kicks = m_.kicks.get();
  out->wakeups = m_.wakeups.get();
  out->batches = m_.batches.get();
  out->irq_raised = m_.irq_raised.get();
  out->irq_coalesced = m_.irq_coalesced.get();
  out->ring_errors = m_.ring_errors.get();
  out->thread_failures = m_.thread_failures.get();
  out->csum_completed = m_.csum_completed.get();
  out->rx_direct = m_.rx_direct.get();
  out->uring = uring_ != nullptr;
  out->rx_uring = rx_uring_on_.load(std::memory_order_relaxed);  // ORDERING: a snapshot for reporting
  out->pairs.clear();
  for (uint32_t p = 0; p < num_pairs(); p++) {
    const PairMetrics& m = pm_[p];
    PairStats s{};
    s.vid = pair_vid_[p].load(std::memory_order_relaxed);  // ORDERING: a snapshot for reporting
    s.tx_frames = m.tx_frames.get();
    s.tx_bytes = m.tx_bytes.get();
    s.tx_unbound = m.tx_unbound.get();
    s.tx_malformed = m.tx_malformed.get();
    s.tx_errors = m.tx_errors.get();
    s.rx_frames = m.rx_frames.get();
    s.rx_bytes = m.rx_bytes.get();
    s.rx_no_buffer = m.rx_no_buffer.get();
    s.rx_too_big = m.rx_too_big.get();
    s.rx_gso_dropped = m.rx_gso_dropped.get();
    s.interrupts = m.interrupts.get();
    s.rx_state = queues_[rx_queue_of(p)].state();
    s.tx_state = queues_[tx_queue_of(p)].state();
    out->pairs.push_back(s);
  }
}

void Device::close(bool drain, uint32_t timeout_ms) {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;  // ORDERING: one closer wins
  if (thread_.joinable()) {
    if (drain && failed()) {
      // No thread to transmit them: what was posted completes with kTxDeviceFailed instead.
      std::lock_guard<std::mutex> t(tx_mu_);
      fail_tx_locked();
    } else if (drain) {
      draining_.store(true, std::memory_order_release);  // ORDERING: the thread acquires it
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
      // The thread exits by itself once every ready transmit queue is empty; give it until the deadline.
      uint64_t one = 1;
      (void)!write(kick_fd_, &one, sizeof one);
      while (std::chrono::steady_clock::now() < deadline) {
        {
          std::lock_guard<std::mutex> t(tx_mu_);
          if (drained_tx_locked()) break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    stop_.store(true, std::memory_order_release);  // ORDERING: the thread acquires it each pass
    uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  {
    // From here on no filler (our thread or the peer's) touches our receive queues or region.
    std::lock_guard<std::mutex> r(rx_mu_);
    rx_open_.store(false, std::memory_order_release);  // ORDERING: fillers check it under rx_mu_
  }
  if (peer_ && peer_->kick_fd_ >= 0) {
    // The other end may hold sends stalled on our receive queues: wake it so they complete
    // (kTxPeerGone) now rather than on its next kick.
    uint64_t one = 1;
    (void)!write(peer_->kick_fd_, &one, sizeof one);
  }
  if (hdr_ != nullptr) {
    // ORDERING: release so JS reading device_status sees the final state.
    __atomic_store_n(&hdr_->device_status, static_cast<uint32_t>(kDeviceClosed), __ATOMIC_RELEASE);
  }
  peer_.reset();
  uring_.reset();
  rx_ring_.reset();  // never armed unless the thread ran, which released it already
  tap_.close();
  for (int* fd : {&kick_fd_, &stop_fd_, &epoll_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  irq_ = nullptr;
}

Error Device::break_epoll_for_test() {
  // ORDERING: seq_cst loads on the JS thread that wrote them (start, close) or after fail_io's
  // fence: only whether a thread was started and is still there.
  if (!started_.load() || closed() || failed() || epoll_fd_ < 0)
    return Error::condis(codes::kInvalidState, "the device's I/O thread is not running");
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::os(errno, "open", "cannot open /dev/null");
  // The thread may sit in epoll_wait on the old instance (that call keeps it alive and returns on
  // the kick below); every epoll call after that names /dev/null and fails with EINVAL.
  const int r = dup3(fd, epoll_fd_, O_CLOEXEC);
  const int err = errno;
  ::close(fd);
  if (r < 0) return Error::os(err, "dup3", "cannot replace the epoll descriptor");
  uint64_t one = 1;
  (void)!write(kick_fd_, &one, sizeof one);
  return Error();
}

void Device::hold_tx_for_test(bool hold) {
  // ORDERING: seq_cst store; the thread re-reads it each pass, and the kick below makes a
  // release seen by a thread asleep in epoll_wait.
  tx_held_for_test_.store(hold);
  if (hold || kick_fd_ < 0) return;
  uint64_t one = 1;
  (void)!write(kick_fd_, &one, sizeof one);
}

bool Device::drained_tx_locked() {
  for (uint32_t q = 1; q < num_queues_; q += 2) {
    if (!queues_[q].ready()) continue;
    if (queues_[q].pending() > 0) return false;
  }
  return true;
}

}  // namespace condis
