// uring.h — a minimal io_uring on the raw kernel interface (no liburing: a prebuilt addon must run
// on a machine without it). Only what the device needs: batches of writes and reads on one fd,
// submitted with one io_uring_enter, completions harvested in bulk.
//
// Plain C++ (no napi.h). Not thread-safe: one Uring per I/O thread. It has no thread affinity
// (no IORING_SETUP_SINGLE_ISSUER), so it may be created on one thread and then handed to the
// I/O thread, as long as only one thread uses it at a time.
//
// Ordering: operations are started in prep order, but the kernel does not promise to finish
// them in that order. Ops that complete inline (writes to a TAP, reads of data already queued)
// complete in prep order; an op that would block is parked and may finish after later ones.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>

#include "errors.h"

namespace condis {

struct UringCompletion {
  uint64_t user_data;
  int32_t res;     // bytes, or -errno
  uint32_t flags;  // IORING_CQE_F_*: F_MORE (a multishot op goes on), F_BUFFER (+ buffer id << 16)
};

// Setup options beyond the defaults (uring.cc says why each is off unless asked for).
struct UringSetup {
  // Completion slots (IORING_SETUP_CQSIZE); 0 = twice the submission slots. A ring with
  // multishot operations sizes this for every completion they can post before a harvest.
  unsigned cq_entries = 0;
  // IORING_SETUP_COOP_TASKRUN | TASKRUN_FLAG (5.19): the kernel does not interrupt this thread
  // to run completion work; it runs at the thread's next entry into the kernel, and
  // taskrun_pending() says when some is waiting.
  bool coop_taskrun = false;
};

class Uring {
 public:
  // Sets up a ring with `entries` submission slots (the kernel rounds up to a power of two;
  // 1..32768) and twice as many completion slots. Returns nullptr and sets *err (if err is not
  // null) when io_uring is unavailable (ENOSYS, EPERM under seccomp or the
  // kernel.io_uring_disabled sysctl, ENOMEM from RLIMIT_MEMLOCK on old kernels...) or `entries`
  // is out of range (EINVAL), so the caller falls back to readv/writev.
  static std::unique_ptr<Uring> create(unsigned entries, Error* err, const UringSetup& setup = {});

  // Discards queued-but-unsubmitted operations, asks the kernel to cancel everything still in
  // flight and waits (at most ~1 s) for those completions, so that in the common case the
  // caller's iovecs and buffers are no longer referenced once this returns. Completions are
  // discarded. Harvest first if you care about them.
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  unsigned capacity() const;  // submission slots (after the kernel's rounding)

  // How many prep_* calls succeed right now: free submission slots, further limited so that
  // queued + in flight never exceeds the completion ring (2 * capacity). The completion ring
  // therefore cannot overflow and harvest() never needs a syscall. When this is 0 with nothing
  // queued, harvest (waiting with submit(1) if needed) to make room.
  unsigned sq_space() const;

  // Queue one operation (not yet submitted). Returns false if there is no space (sq_space() == 0).
  // Only fills a submission slot: no syscall, no allocation. Reads/writes at the file's current
  // position (offset -1), i.e. like readv(2)/writev(2).
  // The iovec array and the buffers must stay valid until the completion is harvested.
  bool prep_writev(int fd, const iovec* iov, unsigned iovcnt, uint64_t user_data);
  bool prep_readv(int fd, const iovec* iov, unsigned iovcnt, uint64_t user_data);
  // One contiguous buffer (IORING_OP_WRITE): no iovec for the kernel to import, as write(2).
  bool prep_write(int fd, const void* buf, unsigned len, uint64_t user_data);

  // A read that stays armed (IORING_OP_READ_MULTISHOT, Linux 6.7): each time the file has data
  // the kernel reads into the next buffer of provided-buffer group `bgid` (register_buf_ring) and
  // posts a completion with IORING_CQE_F_BUFFER and the buffer id; F_MORE says it goes on. It ends
  // (a completion without F_MORE) when the group runs dry (-ENOBUFS), on an error, or on cancel.
  // A kernel without the opcode ends it at once with -EINVAL.
  bool prep_read_multishot(int fd, uint16_t bgid, uint64_t user_data);

  // Submits everything queued with one io_uring_enter (IORING_ENTER_GETEVENTS when it has to
  // wait) and waits until at least min_complete completions are ready to harvest. min_complete
  // is capped at what can ever arrive (in_flight() after submitting), so it cannot hang on a
  // wait nothing will satisfy. Makes no syscall when nothing is queued and the wait is already
  // satisfied. Returns the number submitted (>= 0), or -errno (e.g. -EAGAIN, -EBUSY) if nothing
  // could be submitted; queued ops that were not submitted stay queued. EINTR is retried.
  int submit(unsigned min_complete);

  // Copies up to max completions out (oldest first) and consumes them, advancing the kernel's
  // completion head once. Never makes a syscall. Returns how many.
  unsigned harvest(UringCompletion* out, unsigned max);

  // Completions ready but not yet harvested.
  unsigned cq_ready() const;

  // coop_taskrun rings: true when completion work waits for this thread to enter the kernel
  // (IORING_SQ_TASKRUN); run_task_work() runs it. Always false on other rings. No syscall.
  bool taskrun_pending() const;
  // One io_uring_enter(GETEVENTS) that waits for nothing: runs pending completion work, so its
  // completions become ready to harvest. Returns 0 or -errno.
  int run_task_work();

  // Operations submitted whose final completion has not been harvested yet (a multishot op counts
  // once, until its completion without F_MORE).
  unsigned in_flight() const;

  // Registers fd as the ring's one fixed file (IORING_REGISTER_FILES): later prep_* calls on that
  // fd use it by index (IOSQE_FIXED_FILE), sparing the kernel an fget/fput per operation. The fd
  // must stay open as long as the ring may use it. At most one (EBUSY).
  Error register_file(int fd);
  // Registers an eventfd the kernel signals on every completion (IORING_REGISTER_EVENTFD).
  // At most one per ring (a second one fails with EBUSY). The caller keeps ownership of efd.
  Error register_eventfd(int efd);
  // Registers a ring of provided buffers (IORING_REGISTER_PBUF_RING, 5.19) as group `bgid`:
  // `ring` is `entries` (a power of two, <= 32768) io_uring_buf slots, page aligned, that the
  // caller fills and publishes (ProvidedBuffers in tap_rx.cc). EINVAL from kernels without it.
  Error register_buf_ring(void* ring, unsigned entries, uint16_t bgid);

 private:
  Uring() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace condis
