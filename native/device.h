// device.h — the NIC: the rings in one shared region, a frame backend (TAP or wire), and the one
// I/O thread that services them. Plain C++ (no napi.h); device_wrap.cc is its N-API face.
//
// Threads and locks:
//   - the JS thread calls the control path (bind/unbind/reset/stats/close) and kick();
//   - the device's I/O thread (io_loop.cc) services its transmit queues and, for a TAP, fills its
//     receive queues; on a wire, the *peer's* I/O thread fills this device's receive queues.
//   - tx_mu_ guards the transmit DeviceQueues; rx_mu_ guards the receive DeviceQueues and the VID
//     table. Lock order is always tx_mu_ (any device) before rx_mu_ (any device), never the
//     reverse, so the two threads of a wire cannot deadlock.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "ether.h"
#include "metrics.h"
#include "tap.h"
#include "tap_rx.h"
#include "uring.h"
#include "virtio_net.h"
#include "virtq.h"

namespace condis {

enum class BackendKind { kTap, kWire };

constexpr uint32_t kMaxBatch = 256;  // frames per queue per service pass, at most (DeviceConfig.batch)
// Device::vid_to_pair_: no queue pair is bound to this VID (its frames are dropped and counted).
constexpr uint8_t kNoPair = 0xff;
static_assert(kMaxQueuePairs <= kNoPair, "a pair number must never read as kNoPair");

struct DeviceConfig {
  BackendKind backend = BackendKind::kWire;
  TapOptions tap;               // for kTap
  uint32_t batch = 64;          // frames per queue per service pass (1..kMaxBatch)
  bool use_uring = true;        // TAP writes in io_uring batches when the kernel allows
  uint32_t wire_max_frame = max_frame_for_mtu(9216);  // largest frame a wire carries (no MTU to ask)
  uint32_t spin_ns = 0;  // busy-poll this long for more work before sleeping (0 = never; pollUs)
  std::vector<uint32_t> cpus;  // the CPUs the I/O thread may run on (empty = any; cpus)
  // The virtio-net features the driver accepts (5.1.3; needs a vnet header). Not given: the
  // defaults (kDefaultNetFeatures). The device negotiates what it offers of them.
  bool features_given = false;
  uint64_t features = 0;
};

// Restricts the calling thread to `cpus` (empty = every CPU the process may use). EINVAL when
// none of them is available. Used for the I/O thread (see Device::start) and by JS for its own.
Error set_thread_cpus(const std::vector<uint32_t>& cpus);

struct PairStats {
  uint32_t vid;
  uint64_t tx_frames, tx_bytes, tx_unbound, tx_malformed, tx_errors;
  uint64_t rx_frames, rx_bytes, rx_no_buffer, rx_too_big, rx_gso_dropped, interrupts;
  uint32_t rx_state, tx_state;
};

struct DeviceStats {
  uint64_t rx_unbound_vid, rx_malformed, rx_read_errors, rx_deferred, kicks, wakeups, batches;
  uint64_t irq_raised, irq_coalesced, ring_errors, thread_failures, csum_completed, rx_direct;
  bool uring;     // transmit batches through io_uring
  bool rx_uring;  // TAP receive through an armed multishot read (tap_rx.h), not read() per frame
  std::vector<PairStats> pairs;
};

// What became of one frame offered to a receive side.
enum class Deliver { kDone, kNoBuffer, kDropped };

class Device : public std::enable_shared_from_this<Device> {
 public:
  // Called on the I/O thread (possibly the peer's) when the driver asked for an interrupt and
  // none is in flight. Must not block. device_wrap.cc posts to a ThreadSafeFunction.
  using InterruptFn = std::function<void()>;

  // The region must stay mapped until close() returns (device_wrap pins the SharedArrayBuffer).
  static std::shared_ptr<Device> create(uint8_t* region, size_t len, const DeviceConfig& cfg, Error* err);
  ~Device();

  // Joins two wire devices (before start). Each becomes the other's receive filler.
  static Error join_wire(const std::shared_ptr<Device>& a, const std::shared_ptr<Device>& b);

  Error start(InterruptFn irq, const std::string& thread_name);

  // Driver notification for queue q (one per batch, never per packet; see DriverQueue.publish()).
  // On a failed device (its I/O thread gone) a transmit queue's kick completes what the driver
  // posted there itself, with kTxDeviceFailed, on the caller's thread.
  void kick(uint32_t q);

  // Control path (virtio-net: VLAN filter + queue pair steering, our own control queue stand-in).
  Error bind_pair(uint32_t pair, uint32_t vid);
  Error unbind_pair(uint32_t pair);
  // Virtio 1.2 queue reset (2.6.1): the device stops using queue q and forgets its buffers;
  // indices return to 0; the queue is enabled again on return unless `disable`. *used (optional)
  // gets the queue's published used index as it stopped (see quiesce_pair).
  Error reset_queue(uint32_t q, bool disable, uint16_t* used = nullptr);
  // Stops pair `pair` at once, for a deactivation: unbinds its VID and disables both its queues
  // (virtio 1.2 queue reset) under the device's locks, with no syscall and no kick unless a TAP
  // thread paused for this pair's buffers must now read and drop instead. The driver
  // then reclaims both rings; bind_pair enables them again.
  // *rx_used gets the receive queue's published used index at the moment it stopped, so the
  // driver can count frames it was handed but never harvested (the reset discards them).
  Error quiesce_pair(uint32_t pair, uint16_t* rx_used);
  Error set_link(bool up);
  Error set_mtu(uint32_t mtu);
  void stats(DeviceStats* out) const;

  // close(drain=true) transmits what was posted first (bounded by timeout_ms); drain=false
  // abandons it. Both stop the thread, release the backend and are idempotent.
  void close(bool drain, uint32_t timeout_ms);
  bool closed() const { return closed_.load(std::memory_order_acquire); }  // ORDERING: pairs with close()'s release
  // The I/O thread had to stop (kDeviceFailed in the region header; see fail_io).
  bool failed() const { return failed_.load(std::memory_order_acquire); }  // ORDERING: pairs with fail_io's release fence

  // TEST ONLY (lib/native.ts testBreakEpoll): makes the I/O thread's next epoll call fail for
  // real — an ordinary descriptor (/dev/null) is put where its epoll descriptor was — and kicks
  // it, so the thread takes its failure path (fail_io) as it would for a real epoll failure.
  Error break_epoll_for_test();
  // TEST ONLY (lib/native.ts testHoldTx): while held, the I/O thread takes nothing from any
  // transmit queue (a NIC whose transmitter is stuck), so a test can have sends in flight for as
  // long as it needs, whatever the scheduler does. Releasing kicks the thread.
  void hold_tx_for_test(bool hold);

  const Tap* tap() const { return backend_ == BackendKind::kTap ? &tap_ : nullptr; }
  uint32_t num_pairs() const { return num_queues_ / 2; }
  bool vnet_hdr() const { return vnet_; }
  uint64_t offered_features() const { return offered_; }
  uint64_t features() const { return features_; }  // negotiated
  uint32_t max_frame() const;  // the largest frame (after the vnet header) transmit takes

 private:
  Device() = default;
  friend class IoLoop;  // io_loop.cc: the data path's stages, one function each
  friend struct DeviceTestAccess;  // native/test/device_access.h: the receive path without a thread

  // --- I/O thread (io_loop.cc) ---
  void run();
  bool service_tx();                   // true if any frame moved
  bool service_tap_rx();
  // Under rx_mu_: whether some enabled receive queue has a driver that will post buffers (a pair
  // bound to a VID, or pair 0 used since its reset): TAP reading then waits for them.
  bool rx_receiver_waits_locked();
  // After a control call removed a receiver: a TAP thread paused for buffers is woken if no
  // receiver is left (it must read and drop now); others waiting keep it paused.
  void repoll_tap_rx_locked();
  bool arm_and_check();                // before sleeping; true = more work, don't sleep
  bool spin_for_work(uint64_t* idle_since);
  void raise_interrupt();              // coalesced: at most one call in flight
  void publish_rx_locked(Device& rx);  // rx.rx_mu_ held: publish used + interrupt
  // The receive path for one frame (a TAP read, or a wire peer's transmit): classifies it by its
  // 802.1Q tag, routes it to the pair bound to the VID, strips the tag and copies it into a
  // receive chain of `rx`. rx.rx_mu_ must be held. *rxq_out names the receive queue chosen (for
  // arming a kick on kNoBuffer).
  static Deliver deliver(Device& rx, const iovec* iov, int iovcnt, uint32_t total, uint32_t* rxq_out);
  void pause_tap_rx(bool pause);
  void alloc_rx_stage();         // the read() path's staging slots
  void rx_uring_turned_down();   // I/O thread: the kernel refused the armed read; read() from now
  void set_backend_lost(int err);
  // The I/O thread's last act when it must stop (run() failed): says so in the region header
  // (kDeviceFailed, errno, fault) and the counters, completes every transmit chain it can see
  // with kTxDeviceFailed, closes the receive side to a wire peer, and raises an interrupt.
  void fail_io(int err, DeviceFault fault);
  // tx_mu_ held: completes every chain on the ready transmit queues with kTxDeviceFailed and
  // arms their kicks, so the driver's next publish kicks (and kick() completes those too).
  // Returns true if the driver asked for an interrupt.
  bool fail_tx_locked();
  void wake_stalled_peer(uint32_t rxq);  // JS thread, no locks held
  void unbind_locked(uint32_t pair);     // tx_mu_ and rx_mu_ held
  bool drained_tx_locked();

  // --- shared state ---
  uint8_t* region_ = nullptr;
  size_t region_len_ = 0;
  RegionHeader* hdr_ = nullptr;
  uint32_t num_queues_ = 0;
  uint32_t queue_size_ = 0;
  bool vnet_ = false;
  uint64_t offered_ = 0;   // virtio-net features the backend can serve
  uint64_t features_ = 0;  // negotiated: offered_ and accepted by the driver (fixed at create)
  BackendKind backend_ = BackendKind::kWire;
  DeviceConfig cfg_;

  mutable std::mutex tx_mu_;
  mutable std::mutex rx_mu_;
  std::vector<DeviceQueue> queues_;                 // index = virtio queue number
  std::atomic<uint16_t> pair_vid_[kMaxQueuePairs];  // 0 = untagged (pair 0) / unbound
  uint8_t vid_to_pair_[kVlanVidCount];              // under rx_mu_; kNoPair = none bound
  std::vector<uint8_t> rx_dirty_;                   // under rx_mu_: receive queues with unpublished used entries

  Tap tap_;
  uint32_t max_frame_ = 0;  // largest frame (after the vnet header) the device moves
  std::unique_ptr<Uring> uring_;     // TAP writes: one io_uring_enter per transmit batch
  // TAP reads: an armed multishot read (tap_rx.h); nullptr = read() per frame. rx_uring_on_ goes
  // false (I/O thread) if the kernel turns the read down; stats() reads it from the JS thread.
  std::unique_ptr<TapRxRing> rx_ring_;
  std::atomic<bool> rx_uring_on_{false};
  std::vector<TapRxRing::Frame> rx_frames_;  // batch entries, I/O thread only
  // I/O thread: receive goes through the armed read (made, and not turned down by the kernel).
  // ORDERING: relaxed — rx_uring_on_ is written by this same thread (or before it started).
  bool rx_ring_on() const { return rx_ring_ && rx_uring_on_.load(std::memory_order_relaxed); }

  // Wire: the peer fills our receive queues, we fill theirs. peer_ is set before start() and
  // cleared after our thread has stopped.
  std::shared_ptr<Device> peer_;
  std::atomic<bool> rx_open_{true};  // false once closing: fillers drop instead of touching the region

  int kick_fd_ = -1;
  int stop_fd_ = -1;
  int epoll_fd_ = -1;
  std::thread thread_;
  InterruptFn irq_;
  std::atomic<bool> started_{false};
  std::atomic<bool> closed_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> backend_lost_{false};
  std::atomic<bool> failed_{false};  // set once by fail_io, on the I/O thread's way out
  // A failure found where the thread cannot act on it at once (pause_tap_rx runs under rx_mu_):
  // run() takes the failure path after the pass. I/O thread only.
  int fault_errno_ = 0;
  DeviceFault fault_ = kFaultNone;
  std::atomic<bool> link_up_{true};
  std::atomic<bool> tx_held_for_test_{false};  // hold_tx_for_test; false outside tests
  bool tap_rx_paused_ = false;         // written by the I/O thread under rx_mu_
  std::vector<uint8_t> tx_stalled_;    // I/O thread only: per tx pair, 1 = waiting for peer rx buffers
  std::vector<uint32_t> stalled_on_;   // I/O thread only: which peer rx queue

  // I/O thread scratch, sized at create(): no allocation on the hot path.
  // One frame of a TAP transmit batch, from its staging to its completion (io_loop.cc).
  struct TxSlot {
    // result: kPending until io_uring or a plain write settles it, then kWritten or kFailed | errno.
    static constexpr uint32_t kWritten = 0;
    static constexpr uint32_t kFailed = 0x80000000u;
    static constexpr uint32_t kPending = 0xffffffffu;
    uint16_t queue;
    uint16_t head;
    uint32_t len;
    uint32_t result;
    int iovcnt;
    uint8_t hdr[kVnetHdrLen + kEthTypeOff + kVlanTagLen];  // vnet header + MACs + inserted 802.1Q tag
    iovec iov[kMaxChainSegments + 2];
    const uint8_t* buf;  // TAP: the whole frame in one buffer (write, not writev), or nullptr
  };
  std::vector<TxSlot> tx_slots_;
  // TAP: a tagged or multi-segment frame up to kTxFlatMax bytes is flattened into its slot here,
  // so it goes out with one plain write: the kernel's iovec import cost more than the copy.
  static constexpr uint32_t kTxFlatMax = 2048;
  std::vector<uint8_t> tx_flat_;  // batch x kTxFlatMax, I/O thread only
  // TAP reads: one staging slot per frame of a batch, behind the vnet header: room for a GSO
  // frame (kGsoMaxFrame, a 64 KiB packet behind a tagged Ethernet header) and for a tagged frame
  // at the largest MTU a TAP takes (65521 + 18).
  static constexpr uint32_t kTapFrameMax = 65600;
  static_assert(kTapFrameMax >= kGsoMaxFrame && kTapFrameMax >= max_frame_for_mtu(65521), "staging fits any frame");
  static constexpr size_t kRxStageSlot = kTapFrameMax + kVnetHdrLen;
  // The largest frame a TAP hands a driver that accepted GSO: the header, an Ethernet header with
  // an 802.1Q tag, and a 64 KiB GSO packet (the tun device's gso_max_size, GSO_LEGACY_MAX_SIZE).
  // A receive buffer at least this big cannot truncate a read, so the read may go straight into it.
  static constexpr uint32_t kDirectRxMin = kVnetHdrLen + 18 + 65536;
  // TAP receive reads straight into pair 0's next buffer when it is big enough (direct_tap_rx):
  // set at open for a driver that accepted a GUEST_ GSO feature, whose buffers are "big packets"
  // (virtio 1.2, 5.1.6.3.1). There the staging copy costs most: 4.3% of all CPU for 64 KiB
  // frames in `condis bench tcp` (issue 13), and a read per frame costs little beside 64 KiB.
  bool direct_rx_ = false;
  bool direct_hint_ = true;  // I/O thread: the last frames were pair 0's (direct_tap_rx)
  std::vector<uint8_t> rx_stage_;  // batch x kRxStageSlot bytes, I/O thread only; read() path only
  std::vector<uint32_t> rx_stage_len_;  // bytes read into each staging slot (I/O thread only)
  Chain chain_;     // transmit pops, under tx_mu_ (the I/O thread's; kick() on a failed device)
  Chain rx_chain_;  // receive pops, under rx_mu_ (by whichever thread fills us)

  mutable DeviceMetrics m_;
  std::unique_ptr<PairMetrics[]> pm_;
};

}  // namespace condis
