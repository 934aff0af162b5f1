// tap_rx.cc — see tap_rx.h.
//
// The provided-buffer ring (IORING_REGISTER_PBUF_RING): an array of io_uring_buf {addr, len,
// bid} whose tail we own (it overlays bufs[0].resv) and whose head only the kernel knows; it
// takes buffers from head to tail. Each completion names the buffer it filled (the id in the
// upper 16 bits of cqe->flags), and we put that buffer back at the tail once the frame is copied
// out. Buffer ids are slot numbers.
#include "tap_rx.h"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace condis {

namespace {
constexpr uint16_t kGroup = 0;    // the one buffer group of this ring
constexpr uint64_t kReadTag = 1;  // user_data of the multishot read

// The ring is an array of io_uring_buf; its tail overlays bufs[0].resv. Not through the header's
// io_uring_buf_ring: its flexible array is declared for C, and in C++ the empty struct in front
// of it takes a byte, which moves `bufs` to offset 8 (every entry half a slot off).
static_assert(sizeof(io_uring_buf) == 16, "io_uring_buf is the kernel's 16-byte entry");
static_assert(offsetof(io_uring_buf, resv) == 14, "the ring tail overlays bufs[0].resv at byte 14");

inline io_uring_buf* entries(void* ring) { return static_cast<io_uring_buf*>(ring); }
}  // namespace

std::unique_ptr<TapRxRing> TapRxRing::create(int tap_fd, unsigned nbufs, size_t slot, Error* err) {
  if (nbufs == 0 || (nbufs & (nbufs - 1)) != 0 || nbufs > 32768) {
    *err = Error::condis(codes::kInvalidArg, "TAP receive buffers must be a power of two up to 32768");
    return nullptr;
  }
  std::unique_ptr<TapRxRing> r(new TapRxRing());
  r->fd_ = tap_fd;
  r->nbufs_ = nbufs;
  r->slot_ = (slot + 63) & ~size_t{63};  // cache-line aligned starts
  UringSetup s;
  // One completion per buffer at most before we harvest, plus the read's last one.
  s.cq_entries = nbufs * 2;
  s.coop_taskrun = true;
  r->uring_ = Uring::create(4, err, s);
  if (!r->uring_) return nullptr;
  r->ring_bytes_ = (sizeof(io_uring_buf) * nbufs + 4095) & ~size_t{4095};
  r->ring_mem_ = mmap(nullptr, r->ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  // Reserved, not committed: a 64-byte frame touches one page of its 64 KiB slot.
  r->slots_bytes_ = r->slot_ * nbufs;
  r->slots_ = static_cast<uint8_t*>(
      mmap(nullptr, r->slots_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (r->ring_mem_ == MAP_FAILED || r->slots_ == MAP_FAILED) {
    const int e = errno;
    if (r->ring_mem_ == MAP_FAILED) r->ring_mem_ = nullptr;
    if (r->slots_ == MAP_FAILED) r->slots_ = nullptr;
    *err = Error::os(e, "mmap", "cannot map the TAP receive buffers");
    return nullptr;
  }
  if (Error e = r->uring_->register_buf_ring(r->ring_mem_, nbufs, kGroup)) {
    *err = e;
    return nullptr;
  }
  for (unsigned i = 0; i < nbufs; i++) r->recycle(static_cast<uint16_t>(i));
  r->publish();
  return r;
}

TapRxRing::~TapRxRing() {
  // The ring first: its teardown cancels the armed read and waits for it, so the kernel writes
  // into no buffer after the unmaps below.
  uring_.reset();
  if (slots_ != nullptr) munmap(slots_, slots_bytes_);
  if (ring_mem_ != nullptr) munmap(ring_mem_, ring_bytes_);
}

void TapRxRing::recycle(uint16_t bid) {
  // SAFETY: (tail_ & (nbufs_ - 1)) < nbufs_, the entries mapped at ring_mem_; bid < nbufs_ (a
  // slot we handed out), so the buffer lies inside slots_.
  io_uring_buf& b = entries(ring_mem_)[tail_ & (nbufs_ - 1)];
  b.addr = reinterpret_cast<uintptr_t>(slots_ + size_t{bid} * slot_);
  b.len = static_cast<uint32_t>(slot_);
  b.bid = bid;
  ++tail_;
  ++free_;
}

void TapRxRing::publish() {
  // ORDERING: release — the entries written by recycle() happen-before the kernel's acquire of
  // the tail when it picks a buffer. (Entry 0's resv field is not written by recycle().)
  __atomic_store_n(&entries(ring_mem_)[0].resv, tail_, __ATOMIC_RELEASE);
}

bool TapRxRing::ensure_armed() {
  // Not armed: the read ended (its buffers ran out, or an error) or never started. With no free
  // buffer it would end again at once (-ENOBUFS); the recycle of the next frame re-arms it.
  if (armed_ || free_ == 0) return true;
  if (!uring_->prep_read_multishot(fd_, kGroup, kReadTag)) return false;
  if (uring_->submit(0) < 0) return false;
  armed_ = true;
  return true;
}

unsigned TapRxRing::collect(Frame* out, unsigned max, Status* status, int* err_out) {
  *status = Status::kOk;
  // COOP_TASKRUN: the reads the kernel owes us run when we enter it; one enter for the batch.
  if (uring_->taskrun_pending()) (void)uring_->run_task_work();
  UringCompletion cqe[64];
  unsigned got = 0;
  while (got < max) {
    const unsigned want = max - got < 64 ? max - got : 64;
    // Never harvest more than `max` buffer completions: those past it stay in the CQ for the
    // next pass (the caller has room for max frames now).
    const unsigned n = uring_->harvest(cqe, want);
    if (n == 0) break;
    for (unsigned i = 0; i < n; i++) {
      const UringCompletion& c = cqe[i];
      if ((c.flags & IORING_CQE_F_MORE) == 0) armed_ = false;
      if (c.res < 0) {
        if (c.res == -ENOBUFS) continue;  // ran dry: re-armed once buffers come back
        if (c.res == -EINVAL) {
          *status = Status::kUnsupported;  // no IORING_OP_READ_MULTISHOT (Linux < 6.7)
        } else if (c.res != -EAGAIN && c.res != -EINTR && c.res != -ECANCELED) {
          *status = Status::kFailed;
          *err_out = -c.res;
        }
        continue;
      }
      if ((c.flags & IORING_CQE_F_BUFFER) == 0) continue;  // a 0-byte read takes no buffer
      const uint16_t bid = static_cast<uint16_t>(c.flags >> IORING_CQE_BUFFER_SHIFT);
      --free_;
      if (bid >= nbufs_) continue;  // never from this kernel; never trust it into our memory
      // SAFETY: bid < nbufs_, so the slot lies inside slots_; res <= slot_ (the buffer's length).
      out[got++] = Frame{slots_ + size_t{bid} * slot_, static_cast<uint32_t>(c.res), bid};
    }
  }
  return got;
}

}  // namespace condis
