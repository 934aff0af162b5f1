// uring.cc — io_uring on the raw syscalls; see uring.h.
//
// Layout (io_uring_setup(2)): the kernel shares three regions with us.
//   SQ ring:  head (kernel writes), tail (we write), mask, entries, flags, array[entries]
//   CQ ring:  head (we write), tail (kernel writes), mask, entries, cqes[entries]
//   SQEs:     io_uring_sqe[entries], indexed through the SQ array
// With IORING_FEAT_SINGLE_MMAP the SQ and CQ rings are one mapping.
//
// Memory ordering follows the kernel's contract (io_uring.h / liburing): we publish SQEs with a
// store-release of the SQ tail and read the SQ head with a load-acquire; we read the CQ tail with
// a load-acquire before reading CQEs, and hand CQE slots back with a store-release of the CQ
// head. Ring indices are free-running u32 counters; `index & mask` picks the slot, and unsigned
// subtraction gives the distance even across the 2^32 wrap.
#include "uring.h"

#include <linux/io_uring.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace condis {

namespace {

static_assert(sizeof(io_uring_sqe) == 64, "io_uring_sqe must be the 64-byte SQE (no SQE128)");
static_assert(sizeof(io_uring_cqe) == 16, "io_uring_cqe must be the 16-byte CQE (no CQE32)");

// The user_data of the cancel request ~Uring() submits; only used to tell its completion apart.
constexpr uint64_t kCancelTag = ~uint64_t{0};
// How long ~Uring() waits for cancelled operations to complete.
constexpr long kDrainTimeoutMs = 1000;

// ORDERING: acquire — pairs with the kernel's smp_store_release of this index (SQ head / CQ
// tail), so everything the kernel wrote before moving it (consumed SQEs, posted CQEs) is visible.
inline unsigned load_acquire(const unsigned* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

// ORDERING: release — our earlier writes (SQE contents / our reads of CQE slots) happen-before
// the kernel's smp_load_acquire of this index (SQ tail / CQ head).
inline void store_release(unsigned* p, unsigned v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

long sys_setup(unsigned entries, io_uring_params* p) {
  return syscall(__NR_io_uring_setup, entries, p);
}

long sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, nullptr, 0);
}

long sys_register(int fd, unsigned opcode, const void* arg, unsigned nr_args) {
  return syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
}

// Value of /proc/sys/kernel/io_uring_disabled (Linux 6.6+), or -1 if absent/unreadable.
int io_uring_disabled_sysctl() {
  FILE* f = std::fopen("/proc/sys/kernel/io_uring_disabled", "re");
  if (f == nullptr) return -1;
  int v = -1;
  if (std::fscanf(f, "%d", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

std::string setup_failure_message(int e, unsigned entries) {
  switch (e) {
    case ENOSYS:
      return "io_uring is not available (kernel built without it, or a seccomp filter hides "
             "it); falling back to readv/writev";
    case EPERM: {
      const int d = io_uring_disabled_sysctl();
      if (d > 0) {
        return "io_uring is disabled by sysctl kernel.io_uring_disabled=" + std::to_string(d) +
               "; falling back to readv/writev";
      }
      return "io_uring_setup was denied (seccomp / container policy?); falling back to "
             "readv/writev";
    }
    case ENOMEM:
      return "io_uring_setup could not allocate or lock ring memory (RLIMIT_MEMLOCK?)";
    case EINVAL:
      return "io_uring_setup rejected " + std::to_string(entries) +
             " entries (must be 1..32768)";
    default:
      return "io_uring_setup failed";
  }
}

long now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

struct Uring::Impl {
  int ring_fd = -1;

  // Mappings (sq_ring may also hold the CQ ring: IORING_FEAT_SINGLE_MMAP).
  void* sq_ring = MAP_FAILED;
  size_t sq_ring_size = 0;
  void* cq_ring = MAP_FAILED;  // == sq_ring when single_mmap
  size_t cq_ring_size = 0;
  bool single_mmap = false;
  io_uring_sqe* sqes = nullptr;  // nullptr until mapped
  size_t sqes_size = 0;

  // SQ: kernel-shared fields, and our private copy of the tail (published on submit()).
  unsigned* sq_khead = nullptr;
  unsigned* sq_ktail = nullptr;
  unsigned* sq_kflags = nullptr;  // IORING_SQ_TASKRUN (coop_taskrun), IORING_SQ_CQ_OVERFLOW
  unsigned sq_mask = 0;
  unsigned sq_entries = 0;
  unsigned sq_tail = 0;  // next slot to fill; kernel sees it at the next submit()

  // CQ: kernel-shared fields, and our private copy of the head (we are its only writer).
  unsigned* cq_khead = nullptr;
  unsigned* cq_ktail = nullptr;
  unsigned cq_mask = 0;
  unsigned cq_entries = 0;
  io_uring_cqe* cqes = nullptr;
  unsigned cq_head = 0;

  unsigned outstanding = 0;  // consumed by the kernel, completion not harvested yet
  uint64_t rw_offset = 0;    // -1 (current position) when the kernel supports it
  int fixed_fd = -1;         // the fd registered as fixed file 0 (register_file), or -1

  ~Impl() {
    if (cqes != nullptr) drain();  // only once fully mapped
    if (sqes != nullptr) munmap(sqes, sqes_size);
    if (cq_ring != MAP_FAILED && !single_mmap) munmap(cq_ring, cq_ring_size);
    if (sq_ring != MAP_FAILED) munmap(sq_ring, sq_ring_size);
    // The ring's reference to its fixed file is dropped here, synchronously: closing the ring
    // alone frees it later, from a kernel worker, and a TAP would stay attached (EBUSY to the
    // next open of its name) for a while after the device closed.
    if (fixed_fd >= 0) sys_register(ring_fd, IORING_UNREGISTER_FILES, nullptr, 0);
    if (ring_fd >= 0) close(ring_fd);
  }

  unsigned sq_pending() const {
    // ORDERING: acquire of the SQ head: once the kernel has moved past a slot it is done
    // reading that SQE, so the slot may be overwritten.
    return sq_tail - load_acquire(sq_khead);
  }

  unsigned space() const {
    const unsigned pending = sq_pending();
    const unsigned sq_free = sq_entries - pending;
    // Every consumed single-shot SQE posts exactly one CQE (no CQE_SKIP), so bounding queued +
    // outstanding by the CQ size means the CQ ring can never overflow from them. A multishot op
    // posts more: its owner sizes the CQ for them (UringSetup::cq_entries).
    const unsigned cq_free = cq_entries - outstanding - pending;
    return sq_free < cq_free ? sq_free : cq_free;
  }

  unsigned ready() const {
    // ORDERING: acquire of the CQ tail: the CQEs below it are fully written before we read them.
    return load_acquire(cq_ktail) - cq_head;
  }

  io_uring_sqe* next_sqe() {
    if (space() == 0) return nullptr;
    // SAFETY: (sq_tail & sq_mask) < sq_entries, and sqes maps sq_entries SQEs; space() > 0 means
    // the kernel has consumed this slot's previous contents (it is behind the SQ head).
    io_uring_sqe* sqe = sqes + (sq_tail & sq_mask);
    std::memset(sqe, 0, sizeof(*sqe));
    return sqe;
  }

  // addr/len: an iovec array and its count (READV/WRITEV), or a buffer and its size (READ/WRITE).
  bool prep_rw(uint8_t opcode, int fd, const void* addr, unsigned len, uint64_t user_data) {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return false;
    sqe->opcode = opcode;
    if (fd == fixed_fd) {
      // The registered file: no fget/fput per operation.
      sqe->fd = 0;
      sqe->flags = IOSQE_FIXED_FILE;
    } else {
      sqe->fd = fd;
    }
    sqe->off = rw_offset;
    // SAFETY: only the address is stored; the kernel reads there (the iovecs, and the buffers
    // they name) until the completion, which the caller keeps valid (see uring.h).
    sqe->addr = reinterpret_cast<uintptr_t>(addr);
    sqe->len = len;
    sqe->user_data = user_data;
    // Plain increment of our private tail; published by the store-release in submit().
    ++sq_tail;
    return true;
  }

  int submit(unsigned min_complete) {
    unsigned submitted = 0;
    for (;;) {
      // ORDERING: acquire of the SQ head (see sq_pending); also the baseline for how many SQEs
      // the coming enter consumes (without SQPOLL the head only moves inside io_uring_enter).
      const unsigned head_before = load_acquire(sq_khead);
      const unsigned to_submit = sq_tail - head_before;
      // What can ever complete: everything outstanding plus what we are about to submit.
      const unsigned reachable = outstanding + to_submit;
      unsigned wait = min_complete < reachable ? min_complete : reachable;
      if (wait <= ready()) wait = 0;  // already satisfied: no need to wait
      if (to_submit == 0 && wait == 0) return static_cast<int>(submitted);

      // ORDERING: release of the SQ tail — the SQE contents written in prep_* (and the SQ array,
      // filled at setup) happen-before the kernel's acquire of the tail inside io_uring_enter.
      if (to_submit != 0) store_release(sq_ktail, sq_tail);

      const long r =
          sys_enter(ring_fd, to_submit, wait, wait != 0 ? IORING_ENTER_GETEVENTS : 0u);
      const int e = errno;
      // ORDERING: acquire of the SQ head after the enter: count what the kernel consumed (each
      // consumed SQE will post one CQE, even if it failed), whatever enter returned.
      const unsigned consumed = load_acquire(sq_khead) - head_before;
      outstanding += consumed;
      submitted += consumed;
      if (r < 0) {
        if (e == EINTR) continue;
        if (submitted != 0) return static_cast<int>(submitted);
        return -e;
      }
      // Old kernels stop at an SQE that fails early (after posting its CQE); submit the rest.
      // A wait cut short (e.g. by a signal after submitting) is resumed the same way.
      if (consumed == 0 && to_submit != 0 && wait == 0) {
        return static_cast<int>(submitted);  // no progress and nothing to wait for: give up
      }
    }
  }

  unsigned harvest(UringCompletion* out, unsigned max) {
    if (out == nullptr || max == 0) return 0;
    unsigned n = ready();
    if (n > max) n = max;
    if (n == 0) return 0;
    for (unsigned i = 0; i < n; ++i) {
      // SAFETY: ((cq_head + i) & cq_mask) < cq_entries and cqes maps cq_entries CQEs; the slot
      // is below the tail we load-acquired in ready(), so the kernel has finished writing it.
      const io_uring_cqe* cqe = cqes + ((cq_head + i) & cq_mask);
      // SAFETY: i < n <= max, the caller's array holds max completions.
      out[i].user_data = cqe->user_data;
      out[i].res = cqe->res;
      out[i].flags = cqe->flags;
      // A multishot op's completions with F_MORE are not its last: it is still in flight.
      if ((cqe->flags & IORING_CQE_F_MORE) == 0) --outstanding;
    }
    cq_head += n;
    // ORDERING: release of the CQ head — our reads of these CQE slots happen-before the kernel
    // (acquire of the head) reuses them.
    store_release(cq_khead, cq_head);
    return n;
  }

  // Best effort: discard queued SQEs, cancel everything in flight, wait for the completions.
  void drain() {
    // Unpublished SQEs are simply forgotten: the kernel never saw them.
    // ORDERING: acquire of the SQ head (see sq_pending).
    sq_tail = load_acquire(sq_khead);
    UringCompletion scratch[64];
    while (harvest(scratch, 64) != 0) {
    }
    if (outstanding == 0) return;

    if (io_uring_sqe* sqe = next_sqe()) {  // no room only if the CQ is full of in-flight ops
      sqe->opcode = IORING_OP_ASYNC_CANCEL;
      sqe->fd = -1;
      sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY;  // Linux 5.19+; else the cancel gets -EINVAL
      sqe->user_data = kCancelTag;
      ++sq_tail;
      if (submit(0) < 0) sq_tail = load_acquire(sq_khead);  // ORDERING: as in sq_pending
    }

    const long deadline = now_ms() + kDrainTimeoutMs;
    while (outstanding != 0) {
      bool cancel_unsupported = false;
      unsigned n;
      while ((n = harvest(scratch, 64)) != 0) {
        for (unsigned i = 0; i < n; ++i) {
          if (scratch[i].user_data == kCancelTag && scratch[i].res == -EINVAL) {
            cancel_unsupported = true;
          }
        }
      }
      // Without IORING_ASYNC_CANCEL_ANY nothing will complete on its own; close() cancels.
      if (outstanding == 0 || cancel_unsupported) return;
      const long left = deadline - now_ms();
      if (left <= 0) return;
      // The ring fd polls readable when CQEs are ready; entering the kernel also runs the task
      // work that posts completions of parked requests.
      pollfd pfd{ring_fd, POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(left)) < 0 && errno != EINTR) return;
    }
  }

  Error map_rings(const io_uring_params& p) {
    sq_ring_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cq_ring_size = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    single_mmap = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single_mmap) {
      if (cq_ring_size > sq_ring_size) sq_ring_size = cq_ring_size;
      cq_ring_size = sq_ring_size;
    }
    sq_ring = mmap(nullptr, sq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                   ring_fd, IORING_OFF_SQ_RING);
    if (sq_ring == MAP_FAILED) return Error::os(errno, "mmap", "mapping the io_uring SQ ring");
    if (single_mmap) {
      cq_ring = sq_ring;
    } else {
      cq_ring = mmap(nullptr, cq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                     ring_fd, IORING_OFF_CQ_RING);
      if (cq_ring == MAP_FAILED) return Error::os(errno, "mmap", "mapping the io_uring CQ ring");
    }
    sqes_size = p.sq_entries * sizeof(io_uring_sqe);
    void* s = mmap(nullptr, sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd,
                   IORING_OFF_SQES);
    if (s == MAP_FAILED) return Error::os(errno, "mmap", "mapping the io_uring SQE array");
    sqes = static_cast<io_uring_sqe*>(s);

    // The kernel's offsets are trusted, but checked to lie inside what we mapped, so that the
    // SAFETY arguments below do not depend on a kernel/header mismatch.
    const io_sqring_offsets& so = p.sq_off;
    const io_cqring_offsets& co = p.cq_off;
    const size_t sq_array_end = so.array + size_t{p.sq_entries} * sizeof(unsigned);
    const size_t cqes_end = co.cqes + size_t{p.cq_entries} * sizeof(io_uring_cqe);
    const bool offsets_ok =
        so.head + 4 <= sq_ring_size && so.tail + 4 <= sq_ring_size &&
        so.ring_mask + 4 <= sq_ring_size && so.ring_entries + 4 <= sq_ring_size &&
        so.flags + 4 <= sq_ring_size && so.flags % 4 == 0 &&
        sq_array_end <= sq_ring_size && so.array % 4 == 0 && so.head % 4 == 0 &&
        so.tail % 4 == 0 && co.head + 4 <= cq_ring_size && co.tail + 4 <= cq_ring_size &&
        co.ring_mask + 4 <= cq_ring_size && co.ring_entries + 4 <= cq_ring_size &&
        cqes_end <= cq_ring_size && co.cqes % alignof(io_uring_cqe) == 0 && co.head % 4 == 0 &&
        co.tail % 4 == 0;
    if (!offsets_ok) {
      return Error::condis(codes::kUringLayout,
                           "io_uring_setup returned ring offsets outside the mapped rings");
    }

    // SAFETY: the sq_off.* offsets were checked above to lie inside the sq_ring_size bytes
    // mapped at sq_ring (page aligned), with 4-byte alignment for the u32 fields.
    char* sq = static_cast<char*>(sq_ring);
    sq_khead = reinterpret_cast<unsigned*>(sq + so.head);
    sq_ktail = reinterpret_cast<unsigned*>(sq + so.tail);
    sq_kflags = reinterpret_cast<unsigned*>(sq + so.flags);
    sq_mask = *reinterpret_cast<const unsigned*>(sq + so.ring_mask);
    sq_entries = *reinterpret_cast<const unsigned*>(sq + so.ring_entries);
    unsigned* sq_array = reinterpret_cast<unsigned*>(sq + so.array);

    // SAFETY: the cq_off.* offsets were checked above to lie inside the cq_ring_size bytes
    // mapped at cq_ring, u32 fields 4-byte aligned and the CQE array 8-byte aligned.
    char* cq = static_cast<char*>(cq_ring);
    cq_khead = reinterpret_cast<unsigned*>(cq + co.head);
    cq_ktail = reinterpret_cast<unsigned*>(cq + co.tail);
    cq_mask = *reinterpret_cast<const unsigned*>(cq + co.ring_mask);
    cq_entries = *reinterpret_cast<const unsigned*>(cq + co.ring_entries);
    cqes = reinterpret_cast<io_uring_cqe*>(cq + co.cqes);

    // Every `index & mask` below relies on these: power-of-two rings matching the mappings.
    if (sq_entries != p.sq_entries || cq_entries != p.cq_entries || sq_entries == 0 ||
        cq_entries == 0 || (sq_entries & (sq_entries - 1)) != 0 ||
        (cq_entries & (cq_entries - 1)) != 0 || sq_mask != sq_entries - 1 ||
        cq_mask != cq_entries - 1) {
      cqes = nullptr;  // not usable: ~Impl must not drain it
      return Error::condis(codes::kUringLayout, "io_uring rings have an unexpected geometry");
    }

    // Slot i of the SQ array always names SQE i, so prep_* never touches the array. Plain
    // stores: nothing is submitted yet.
    // ORDERING: published to the kernel by the first store-release of the SQ tail in submit().
    for (unsigned i = 0; i < sq_entries; ++i) {
      // SAFETY: i < sq_entries; the array holds sq_entries u32 (inside the mapping, see above).
      sq_array[i] = i;
    }
    // ORDERING: relaxed suffices for these initial reads — nothing has been submitted, the
    // kernel will not move them until we enter; they are our starting indices.
    sq_tail = __atomic_load_n(sq_ktail, __ATOMIC_RELAXED);
    // ORDERING: relaxed, as above (the CQ is empty and we are its head's only writer).
    cq_head = __atomic_load_n(cq_khead, __ATOMIC_RELAXED);
    rw_offset = (p.features & IORING_FEAT_RW_CUR_POS) != 0 ? ~uint64_t{0} : 0;
    return Error{};
  }
};

std::unique_ptr<Uring> Uring::create(unsigned entries, Error* err, const UringSetup& setup) {
  auto impl = std::make_unique<Impl>();

  // IORING_SETUP_SUBMIT_ALL (5.18+): keep submitting past an SQE that fails early, so one bad
  // request cannot stall the batch. Retry without it on older kernels (EINVAL).
  // Not SINGLE_ISSUER/DEFER_TASKRUN: they tie the ring to the creating thread (the JS thread
  // creates it, the I/O thread uses it). COOP_TASKRUN only when asked (setup.coop_taskrun): a
  // thread asleep in epoll_wait is still woken through the registered eventfd (checked on 6.18:
  // each frame into an armed multishot read woke it with its completion posted), and a busy one
  // is not interrupted per completion.
  unsigned base = 0;
  if (setup.cq_entries != 0) base |= IORING_SETUP_CQSIZE;
  if (setup.coop_taskrun) base |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  const unsigned flag_sets[] = {base | IORING_SETUP_SUBMIT_ALL, base};
  io_uring_params p{};
  long fd = -1;
  int e = 0;
  for (unsigned flags : flag_sets) {
    p = io_uring_params{};
    p.flags = flags;
    p.cq_entries = setup.cq_entries;
    fd = sys_setup(entries, &p);
    if (fd >= 0) break;
    e = errno;
    if (e != EINVAL || flags == base) break;
  }
  if (fd < 0) {
    if (err != nullptr) *err = Error::os(e, "io_uring_setup", setup_failure_message(e, entries));
    return nullptr;
  }
  impl->ring_fd = static_cast<int>(fd);  // io_uring fds are O_CLOEXEC already

  Error m = impl->map_rings(p);
  if (m) {
    if (err != nullptr) *err = std::move(m);
    return nullptr;  // ~Impl unmaps what was mapped and closes the fd
  }

  std::unique_ptr<Uring> u(new Uring());
  u->impl_ = std::move(impl);
  return u;
}

Uring::~Uring() = default;

unsigned Uring::capacity() const { return impl_->sq_entries; }
unsigned Uring::sq_space() const { return impl_->space(); }

bool Uring::prep_writev(int fd, const iovec* iov, unsigned iovcnt, uint64_t user_data) {
  return impl_->prep_rw(IORING_OP_WRITEV, fd, iov, iovcnt, user_data);
}

bool Uring::prep_readv(int fd, const iovec* iov, unsigned iovcnt, uint64_t user_data) {
  return impl_->prep_rw(IORING_OP_READV, fd, iov, iovcnt, user_data);
}

bool Uring::prep_write(int fd, const void* buf, unsigned len, uint64_t user_data) {
  return impl_->prep_rw(IORING_OP_WRITE, fd, buf, len, user_data);
}

bool Uring::prep_read_multishot(int fd, uint16_t bgid, uint64_t user_data) {
  // IORING_OP_READ_MULTISHOT (enum io_uring_op, Linux 6.7): defined here because the build
  // host's headers may predate it; the value is kernel ABI.
  constexpr uint8_t kOpReadMultishot = 49;
  // No buffer of our own: addr and len stay 0 (the kernel refuses them), the group gives them.
  if (!impl_->prep_rw(kOpReadMultishot, fd, nullptr, 0, user_data)) return false;
  // SAFETY: prep_rw filled the slot just below the private tail; it is unpublished until submit.
  io_uring_sqe* sqe = impl_->sqes + ((impl_->sq_tail - 1) & impl_->sq_mask);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = bgid;
  return true;
}

int Uring::submit(unsigned min_complete) { return impl_->submit(min_complete); }

bool Uring::taskrun_pending() const {
  // ORDERING: relaxed — a hint; a flag set just after this read is seen at the next pass, and
  // the registered eventfd wakes a thread that went to sleep meanwhile.
  return (__atomic_load_n(impl_->sq_kflags, __ATOMIC_RELAXED) & IORING_SQ_TASKRUN) != 0;
}

int Uring::run_task_work() {
  for (;;) {
    if (sys_enter(impl_->ring_fd, 0, 0, IORING_ENTER_GETEVENTS) >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

unsigned Uring::harvest(UringCompletion* out, unsigned max) { return impl_->harvest(out, max); }

unsigned Uring::cq_ready() const { return impl_->ready(); }

unsigned Uring::in_flight() const { return impl_->outstanding; }

Error Uring::register_file(int fd) {
  if (impl_->fixed_fd >= 0) return Error::os(EBUSY, "io_uring_register(IORING_REGISTER_FILES)", "a file is already registered");
  if (sys_register(impl_->ring_fd, IORING_REGISTER_FILES, &fd, 1) < 0) {
    return Error::os(errno, "io_uring_register(IORING_REGISTER_FILES)", "registering a file with the io_uring");
  }
  impl_->fixed_fd = fd;
  return Error{};
}

Error Uring::register_buf_ring(void* ring, unsigned entries, uint16_t bgid) {
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(ring);
  reg.ring_entries = entries;
  reg.bgid = bgid;
  if (sys_register(impl_->ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
    return Error::os(errno, "io_uring_register(IORING_REGISTER_PBUF_RING)",
                     "registering provided buffers with the io_uring");
  }
  return Error{};
}

Error Uring::register_eventfd(int efd) {
  if (sys_register(impl_->ring_fd, IORING_REGISTER_EVENTFD, &efd, 1) < 0) {
    return Error::os(errno, "io_uring_register(IORING_REGISTER_EVENTFD)",
                     "registering an eventfd with the io_uring");
  }
  return Error{};
}

}  // namespace condis
