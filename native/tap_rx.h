// tap_rx.h — TAP receive through io_uring: one multishot read kept armed on the TAP fd, filling a
// ring of provided buffers, so frames arrive with no system call per frame.
//
// Why (measured; README "Performance"): a TAP hands over one frame per read(), and on a guest
// with page-table isolation a system call costs ~1 us of entry and exit alone (scripts/bench:
// 1.06 us per getppid on the 2-core VM). At 64 bytes read() per frame kept the receive thread at
// 100% of a core for ~450 kpps. With the read armed once (IORING_OP_READ_MULTISHOT, Linux 6.7)
// the kernel reads each frame as it arrives into the next provided buffer
// (IORING_REGISTER_PBUF_RING, 5.19) and posts a completion; the ring runs COOP_TASKRUN, so that
// work waits for the thread's next entry into the kernel (one per pass, for the whole batch)
// instead of interrupting it per frame. Single-shot reads re-armed per frame were measured
// slower than read() on another machine (each re-arm polls; each frame interrupted the thread).
//
// Waking: nothing to watch. A thread asleep in epoll_wait when the kernel queues it completion
// work is woken by the kernel's task-work notification (epoll_wait returns EINTR, the work runs
// on the way out, the completion is then in the ring: checked on Linux 6.18 with the writer in
// another process). A registered eventfd would only add a second wakeup per sleep.
//
// Plain C++, I/O thread only after create() (no locks). Frames stay in their buffer until
// recycle(): the caller copies each into a receive chain, then hands the buffer back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "errors.h"
#include "uring.h"

namespace condis {

class TapRxRing {
 public:
  struct Frame {
    uint8_t* data;
    uint32_t len;
    uint16_t bid;  // give it back with recycle(bid)
  };
  enum class Status { kOk, kUnsupported, kFailed };

  // nbufs: buffers the kernel may fill ahead of us (a power of two, <= 32768); slot: bytes per
  // buffer (the largest frame the TAP can hand over, vnet header included). nullptr + *err
  // when io_uring or provided buffer rings are unavailable: the caller reads with read().
  static std::unique_ptr<TapRxRing> create(int tap_fd, unsigned nbufs, size_t slot, Error* err);
  ~TapRxRing();
  TapRxRing(const TapRxRing&) = delete;
  TapRxRing& operator=(const TapRxRing&) = delete;

  // Arms the read unless it is armed or no buffer is free: after create(), and after every
  // recycle()+publish() (a read that ran dry ends, and nothing else would wake the thread for
  // the frames the kernel then keeps). False if the ring refused it (kFailed, EIO).
  bool ensure_armed();

  // Up to `max` frames read since the last call, oldest first. *status: kUnsupported (no READ_MULTISHOT: use read()), kFailed
  // (*err_out = the errno of a failed read: the TAP is gone, or the ring broke) or kOk.
  unsigned collect(Frame* out, unsigned max, Status* status, int* err_out);
  // Gives frame buffers back to the kernel; publish() makes them visible (once per batch).
  void recycle(uint16_t bid);
  void publish();

  // Frames read by the kernel and not yet collected (a hint for the scheduler of passes).
  bool ready() const { return uring_->cq_ready() != 0 || uring_->taskrun_pending(); }

 private:
  TapRxRing() = default;

  std::unique_ptr<Uring> uring_;
  int fd_ = -1;  // the TAP (not ours)
  void* ring_mem_ = nullptr;  // io_uring_buf[nbufs_], page aligned, shared with the kernel
  size_t ring_bytes_ = 0;
  uint8_t* slots_ = nullptr;  // nbufs_ x slot_ bytes; pages are only touched as frames land
  size_t slots_bytes_ = 0;
  size_t slot_ = 0;
  unsigned nbufs_ = 0;
  uint16_t tail_ = 0;  // our private copy of the buffer ring's tail
  bool armed_ = false;
  unsigned free_ = 0;  // buffers the kernel may use (published) — arms only when > 0
};

}  // namespace condis
