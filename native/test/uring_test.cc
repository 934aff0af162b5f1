// uring_test.cc — Uring against real kernel objects (pipes, eventfds), no root needed.
#include "../uring.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_main.h"

using condis::Error;
using condis::Uring;
using condis::UringCompletion;

namespace {

struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == 0) {
      r = fds[0];
      w = fds[1];
      // 1 MiB (the unprivileged maximum by default) so big batches never fill the pipe: a write
      // that would block is parked by io_uring and may then finish out of order.
      (void)fcntl(w, F_SETPIPE_SZ, 1 << 20);
    }
  }
  ~Pipe() {
    if (r >= 0) close(r);
    if (w >= 0) close(w);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  bool ok() const { return r >= 0 && w >= 0; }
  bool readable() const {
    pollfd p{r, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }
};

std::unique_ptr<Uring> make_ring(unsigned entries) {
  Error err;
  std::unique_ptr<Uring> u = Uring::create(entries, &err);
  if (!u) std::fprintf(stderr, "    Uring::create(%u): %s\n", entries, err.message.c_str());
  return u;
}

uint8_t pattern(unsigned msg, unsigned byte) {
  return static_cast<uint8_t>(msg * 131u + byte * 7u + (byte >> 8));
}

// Waits for and harvests exactly n completions (appended to out). False on error/short.
bool collect(Uring& u, unsigned n, std::vector<UringCompletion>* out) {
  std::vector<UringCompletion> buf(n == 0 ? 1 : n);
  unsigned got = 0;
  while (got < n) {
    const int r = u.submit(n - got);
    if (r < 0) {
      std::fprintf(stderr, "    submit: %s\n", std::strerror(-r));
      return false;
    }
    const unsigned h = u.harvest(buf.data(), n - got);
    if (h == 0) return false;  // submit(k) returned without k ready: should not happen
    out->insert(out->end(), buf.begin(), buf.begin() + h);
    got += h;
  }
  return true;
}

}  // namespace

TEST(create_reports_geometry) {
  auto u = make_ring(64);
  REQUIRE(u != nullptr);
  CHECK_EQ(u->capacity(), 64u);
  CHECK_EQ(u->sq_space(), 64u);
  CHECK_EQ(u->cq_ready(), 0u);
  CHECK_EQ(u->in_flight(), 0u);
  CHECK_EQ(u->submit(0), 0);

  auto v = make_ring(100);  // the kernel rounds up to a power of two
  REQUIRE(v != nullptr);
  CHECK_EQ(v->capacity(), 128u);
}

TEST(create_rejects_bad_entries_without_aborting) {
  Error err;
  auto u = Uring::create(0, &err);
  CHECK(u == nullptr);
  CHECK_EQ(err.sys_errno, EINVAL);
  CHECK_EQ(err.code, std::string("EINVAL"));
  CHECK(err.syscall != nullptr && std::strcmp(err.syscall, "io_uring_setup") == 0);
  CHECK(!err.message.empty());

  auto v = Uring::create(1u << 20, nullptr);  // too many, and no Error to fill
  CHECK(v == nullptr);
}

#if defined(__x86_64__) || defined(__aarch64__)
#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#else
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#endif
// In a child with a seccomp filter making io_uring_setup fail with `e` (as Docker's default
// profile or a kernel without io_uring would), create() must return nullptr with that errno.
static int create_under_seccomp(int e) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(e) & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(10);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) _exit(11);
    Error err;
    auto u = Uring::create(8, &err);
    if (u != nullptr) _exit(12);
    if (err.sys_errno != e) _exit(13);
    if (err.code != condis::errno_name(e)) _exit(14);
    if (err.message.empty()) _exit(15);
    _exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(create_fails_cleanly_when_io_uring_is_blocked) {
  CHECK_EQ(create_under_seccomp(ENOSYS), 0);
  CHECK_EQ(create_under_seccomp(EPERM), 0);
}
#endif

TEST(writev_readv_batch_of_200_round_trips_in_order) {
  Pipe p;
  REQUIRE(p.ok());
  auto u = make_ring(256);
  REQUIRE(u != nullptr);

  constexpr unsigned kMsgs = 200;
  std::vector<std::vector<uint8_t>> msgs(kMsgs);
  std::vector<std::vector<iovec>> wiov(kMsgs);
  size_t total = 0;
  for (unsigned i = 0; i < kMsgs; ++i) {
    const size_t len = 1 + (i * 389u) % 1514u;  // 1..1514 bytes, varied
    msgs[i].resize(len);
    for (size_t b = 0; b < len; ++b) msgs[i][b] = pattern(i, static_cast<unsigned>(b));
    total += len;
    // Split each message into up to 3 iovecs (like header + payload fragments).
    const size_t a = len / 3;
    const size_t b = len / 2;
    uint8_t* base = msgs[i].data();
    if (a > 0) wiov[i].push_back(iovec{base, a});
    if (b > a) wiov[i].push_back(iovec{base + a, b - a});
    wiov[i].push_back(iovec{base + b, len - b});
  }
  REQUIRE(total < (1u << 20));

  for (unsigned i = 0; i < kMsgs; ++i) {
    REQUIRE(u->prep_writev(p.w, wiov[i].data(), static_cast<unsigned>(wiov[i].size()), i));
  }
  CHECK_EQ(u->sq_space(), 256u - kMsgs);
  CHECK_EQ(u->submit(kMsgs), static_cast<int>(kMsgs));  // one batch, one syscall
  CHECK_EQ(u->cq_ready(), kMsgs);
  std::vector<UringCompletion> done;
  REQUIRE(collect(*u, kMsgs, &done));
  REQUIRE_EQ(done.size(), static_cast<size_t>(kMsgs));
  for (unsigned i = 0; i < kMsgs; ++i) {
    CHECK_EQ(done[i].user_data, static_cast<uint64_t>(i));  // inline completions keep prep order
    CHECK_EQ(done[i].res, static_cast<int32_t>(msgs[done[i].user_data].size()));
  }

  // Read the stream back with 200 readv of the same sizes (2 iovecs each).
  std::vector<std::vector<uint8_t>> back(kMsgs);
  std::vector<std::vector<iovec>> riov(kMsgs);
  for (unsigned i = 0; i < kMsgs; ++i) {
    const size_t len = msgs[i].size();
    back[i].assign(len, 0xEE);
    const size_t half = len / 2;
    if (half > 0) riov[i].push_back(iovec{back[i].data(), half});
    riov[i].push_back(iovec{back[i].data() + half, len - half});
    REQUIRE(u->prep_readv(p.r, riov[i].data(), static_cast<unsigned>(riov[i].size()), 1000 + i));
  }
  CHECK_EQ(u->submit(kMsgs), static_cast<int>(kMsgs));
  done.clear();
  REQUIRE(collect(*u, kMsgs, &done));
  for (unsigned i = 0; i < kMsgs; ++i) {
    CHECK_EQ(done[i].user_data, static_cast<uint64_t>(1000 + i));
    CHECK_EQ(done[i].res, static_cast<int32_t>(msgs[i].size()));
    CHECK(back[i] == msgs[i]);
  }
  CHECK(!p.readable());
  CHECK_EQ(u->in_flight(), 0u);
}

TEST(prep_write_through_a_registered_file_round_trips_and_mixes_with_writev) {
  Pipe p;
  REQUIRE(p.ok());
  auto u = make_ring(64);
  REQUIRE(u != nullptr);
  REQUIRE(u->register_file(p.w).ok());
  CHECK_EQ(u->register_file(p.w).code, std::string("EBUSY"));  // one fixed file per ring
  // 40 writes alternating plain write (fixed file) and writev (also the fixed file).
  constexpr unsigned kMsgs = 40;
  std::vector<std::vector<uint8_t>> msgs(kMsgs);
  std::vector<iovec> wiov(kMsgs);
  for (unsigned i = 0; i < kMsgs; ++i) {
    msgs[i].resize(60 + i * 37);
    for (size_t b = 0; b < msgs[i].size(); ++b) msgs[i][b] = pattern(i, static_cast<unsigned>(b));
    wiov[i] = iovec{msgs[i].data(), msgs[i].size()};
    if (i % 2 == 0)
      REQUIRE(u->prep_write(p.w, msgs[i].data(), static_cast<unsigned>(msgs[i].size()), i));
    else
      REQUIRE(u->prep_writev(p.w, &wiov[i], 1, i));
  }
  CHECK_EQ(u->submit(kMsgs), static_cast<int>(kMsgs));
  std::vector<UringCompletion> done;
  REQUIRE(collect(*u, kMsgs, &done));
  for (unsigned i = 0; i < kMsgs; ++i) CHECK_EQ(done[i].res, static_cast<int32_t>(msgs[done[i].user_data].size()));
  for (unsigned i = 0; i < kMsgs; ++i) {
    std::vector<uint8_t> back(msgs[i].size());
    REQUIRE_EQ(read(p.r, back.data(), back.size()), static_cast<ssize_t>(back.size()));
    CHECK(back == msgs[i]);
  }
  // A different fd is still named directly.
  Pipe q;
  REQUIRE(q.ok());
  const uint8_t x[3] = {1, 2, 3};
  REQUIRE(u->prep_write(q.w, x, 3, 99));
  CHECK_EQ(u->submit(1), 1);
  REQUIRE(collect(*u, 1, &done));
  CHECK_EQ(done.back().res, 3);
}

TEST(prep_returns_false_when_the_sq_is_full) {
  Pipe p;
  REQUIRE(p.ok());
  auto u = make_ring(8);
  REQUIRE(u != nullptr);
  uint8_t byte = 42;
  iovec iov{&byte, 1};
  for (int round = 0; round < 3; ++round) {  // and again after the ring wrapped
    for (unsigned i = 0; i < 8; ++i) CHECK(u->prep_writev(p.w, &iov, 1, i));
    CHECK_EQ(u->sq_space(), 0u);
    CHECK(!u->prep_writev(p.w, &iov, 1, 99));
    CHECK(!u->prep_readv(p.r, &iov, 1, 99));
    CHECK_EQ(u->submit(0), 8);
    std::vector<UringCompletion> done;
    REQUIRE(collect(*u, 8, &done));
    for (const UringCompletion& c : done) {
      CHECK(c.user_data != 99);
      CHECK_EQ(c.res, 1);
    }
    CHECK_EQ(u->sq_space(), 8u);
  }
}

TEST(in_flight_ops_are_bounded_by_the_cq_so_it_never_overflows) {
  Pipe p;
  REQUIRE(p.ok());
  auto u = make_ring(4);  // 4 SQ slots, 8 CQ slots
  REQUIRE(u != nullptr);
  uint8_t bufs[8][16];
  iovec iov[8];
  for (unsigned i = 0; i < 8; ++i) iov[i] = iovec{bufs[i], sizeof(bufs[i])};

  // Reads of an empty pipe park in the kernel: in flight, not complete.
  for (unsigned i = 0; i < 4; ++i) REQUIRE(u->prep_readv(p.r, &iov[i], 1, i));
  CHECK_EQ(u->submit(0), 4);
  CHECK_EQ(u->in_flight(), 4u);
  CHECK_EQ(u->cq_ready(), 0u);
  CHECK_EQ(u->sq_space(), 4u);
  for (unsigned i = 4; i < 8; ++i) REQUIRE(u->prep_readv(p.r, &iov[i], 1, i));
  CHECK_EQ(u->submit(0), 4);
  CHECK_EQ(u->in_flight(), 8u);
  // The SQ is empty, but 8 completions may still arrive: no more room.
  CHECK_EQ(u->sq_space(), 0u);
  CHECK(!u->prep_readv(p.r, &iov[0], 1, 99));

  uint8_t data[128];
  for (unsigned i = 0; i < sizeof(data); ++i) data[i] = static_cast<uint8_t>(i);
  REQUIRE_EQ(write(p.w, data, sizeof(data)), static_cast<ssize_t>(sizeof(data)));
  std::vector<UringCompletion> done;
  REQUIRE(collect(*u, 8, &done));
  unsigned seen = 0;
  for (const UringCompletion& c : done) {
    CHECK_EQ(c.res, 16);
    if (c.user_data < 8) seen |= 1u << c.user_data;
  }
  CHECK_EQ(seen, 0xFFu);
  CHECK_EQ(u->in_flight(), 0u);
  CHECK_EQ(u->sq_space(), 4u);
}

TEST(bad_fd_completes_with_ebadf_and_the_batch_goes_on) {
  Pipe p;
  REQUIRE(p.ok());
  auto u = make_ring(8);
  REQUIRE(u != nullptr);
  int closed_fd = dup(p.w);
  REQUIRE(closed_fd >= 0);
  close(closed_fd);

  uint8_t buf[5] = {'h', 'e', 'l', 'l', 'o'};
  iovec iov{buf, sizeof(buf)};
  REQUIRE(u->prep_writev(-1, &iov, 1, 1));
  REQUIRE(u->prep_writev(p.w, &iov, 1, 2));
  REQUIRE(u->prep_readv(closed_fd, &iov, 1, 3));
  CHECK_EQ(u->submit(3), 3);
  std::vector<UringCompletion> done;
  REQUIRE(collect(*u, 3, &done));
  for (const UringCompletion& c : done) {
    if (c.user_data == 2) {
      CHECK_EQ(c.res, 5);
    } else {
      CHECK_EQ(c.res, -EBADF);
    }
  }
  uint8_t out[8];
  CHECK_EQ(read(p.r, out, sizeof(out)), static_cast<ssize_t>(5));
}

TEST(registered_eventfd_is_signalled) {
  Pipe p;
  REQUIRE(p.ok());
  auto u = make_ring(8);
  REQUIRE(u != nullptr);
  const int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  REQUIRE(efd >= 0);
  Error err = u->register_eventfd(efd);
  CHECK(err.ok());
  Error again = u->register_eventfd(efd);
  CHECK_EQ(again.code, std::string("EBUSY"));

  // An inline completion signals it.
  uint8_t byte = 7;
  iovec iov{&byte, 1};
  REQUIRE(u->prep_writev(p.w, &iov, 1, 1));
  CHECK_EQ(u->submit(0), 1);
  uint64_t count = 0;
  CHECK_EQ(read(efd, &count, sizeof(count)), static_cast<ssize_t>(sizeof(count)));
  CHECK(count >= 1);
  std::vector<UringCompletion> done;
  REQUIRE(collect(*u, 1, &done));

  CHECK_EQ(done[0].res, 1);
  uint8_t back = 0;
  CHECK_EQ(read(p.r, &back, 1), static_cast<ssize_t>(1));
  CHECK_EQ(back, 7);
  close(efd);

  auto v = make_ring(4);
  REQUIRE(v != nullptr);
  CHECK_EQ(v->register_eventfd(-1).code, std::string("EBADF"));
}

TEST(eventfd_wakes_a_sleeping_thread_for_a_parked_read) {
  Pipe p;
  REQUIRE(p.ok());
  auto u = make_ring(8);
  REQUIRE(u != nullptr);
  const int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  REQUIRE(efd >= 0);
  CHECK(u->register_eventfd(efd).ok());
  uint8_t in[4] = {0, 0, 0, 0};
  iovec riov{in, sizeof(in)};
  REQUIRE(u->prep_readv(p.r, &riov, 1, 5));
  CHECK_EQ(u->submit(0), 1);
  CHECK_EQ(u->cq_ready(), 0u);  // empty pipe: parked
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    const uint8_t four[4] = {9, 8, 7, 6};
    (void)!write(p.w, four, sizeof(four));
  });
  pollfd pfd{efd, POLLIN, 0};
  const int pr = poll(&pfd, 1, 5000);
  writer.join();
  CHECK_EQ(pr, 1);
  CHECK_EQ(u->cq_ready(), 1u);
  UringCompletion c{};
  CHECK_EQ(u->harvest(&c, 1), 1u);
  CHECK_EQ(c.user_data, 5u);
  CHECK_EQ(c.res, 4);
  CHECK(in[0] == 9 && in[3] == 6);
  close(efd);
}

TEST(harvest_with_small_max_leaves_the_rest) {
  Pipe p;
  REQUIRE(p.ok());
  auto u = make_ring(16);
  REQUIRE(u != nullptr);
  uint8_t byte = 1;
  iovec iov{&byte, 1};
  for (unsigned i = 0; i < 10; ++i) REQUIRE(u->prep_writev(p.w, &iov, 1, i));
  CHECK_EQ(u->submit(10), 10);
  CHECK_EQ(u->cq_ready(), 10u);
  CHECK_EQ(u->harvest(nullptr, 0), 0u);
  UringCompletion out[16];
  CHECK_EQ(u->harvest(out, 0), 0u);
  CHECK_EQ(u->harvest(out, 3), 3u);
  for (unsigned i = 0; i < 3; ++i) CHECK_EQ(out[i].user_data, static_cast<uint64_t>(i));
  CHECK_EQ(u->cq_ready(), 7u);
  CHECK_EQ(u->in_flight(), 7u);
  CHECK_EQ(u->harvest(out, 16), 7u);
  for (unsigned i = 0; i < 7; ++i) CHECK_EQ(out[i].user_data, static_cast<uint64_t>(3 + i));
  CHECK_EQ(u->cq_ready(), 0u);
  CHECK_EQ(u->harvest(out, 16), 0u);
  CHECK_EQ(u->in_flight(), 0u);
}

TEST(submit_never_waits_for_what_cannot_arrive) {
  auto u = make_ring(8);
  REQUIRE(u != nullptr);
  CHECK_EQ(u->submit(0), 0);
  CHECK_EQ(u->submit(5), 0);  // nothing in flight: returns at once instead of hanging

  Pipe p;
  REQUIRE(p.ok());
  uint8_t b[2] = {1, 2};
  iovec iov{b, 2};
  REQUIRE(u->prep_writev(p.w, &iov, 1, 1));
  CHECK_EQ(u->submit(100), 1);  // capped at the one op that exists
  CHECK_EQ(u->cq_ready(), 1u);
  CHECK_EQ(u->submit(1), 0);  // already satisfied
}

TEST(parked_read_completes_when_data_arrives) {
  Pipe p;
  REQUIRE(p.ok());
  auto u = make_ring(8);
  REQUIRE(u != nullptr);
  uint8_t in[16];
  std::memset(in, 0, sizeof(in));
  iovec iov{in, sizeof(in)};
  REQUIRE(u->prep_readv(p.r, &iov, 1, 77));
  CHECK_EQ(u->submit(0), 1);
  CHECK_EQ(u->in_flight(), 1u);
  CHECK_EQ(u->cq_ready(), 0u);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    (void)!write(p.w, "abcdef", 6);
  });
  CHECK_EQ(u->submit(1), 0);  // blocks in io_uring_enter(GETEVENTS) until the read completes
  writer.join();
  UringCompletion c{};
  REQUIRE_EQ(u->harvest(&c, 1), 1u);
  CHECK_EQ(c.user_data, 77u);
  CHECK_EQ(c.res, 6);
  CHECK(std::memcmp(in, "abcdef", 6) == 0);
}

TEST(wraparound_100k_ops_through_a_64_entry_ring) {
  Pipe p;
  REQUIRE(p.ok());
  auto u = make_ring(64);
  REQUIRE(u != nullptr);

  // Ops alternate in runs: writes of an 8-byte sequence number, then reads of 8 bytes. A read is
  // only prepped after the write that feeds it, so every op completes inline and in order.
  // At most 128 ops (the CQ size) are unharvested, so 256 buffer slots are never reused early.
  constexpr uint64_t kOps = 100000;
  constexpr unsigned kSlots = 256;
  uint64_t wval[kSlots];
  uint64_t rval[kSlots];
  iovec wiov[kSlots];
  iovec riov[kSlots];
  uint64_t writes = 0;       // writes prepped
  uint64_t reads = 0;        // reads prepped
  uint64_t next_id = 0;      // user_data of the next op (monotonic)
  uint64_t expect_id = 0;    // user_data of the next completion
  uint64_t reads_done = 0;   // read completions verified
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  auto rand_below = [&](unsigned n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return static_cast<unsigned>(rng % n);
  };
  // user_data = id << 1 | is_read; the slot of an op is id % kSlots; its value in wval/rval.
  std::vector<uint64_t> slot_seq(kSlots, 0);
  UringCompletion out[128];
  unsigned failures = 0;
  unsigned submits = 0;

  while (expect_id < kOps) {
    // Queue as much as fits.
    while (next_id < kOps && u->sq_space() > 0) {
      const unsigned s = static_cast<unsigned>(next_id % kSlots);
      const bool do_read = reads < writes && (writes - reads >= 24 || rand_below(2) == 0);
      if (do_read) {
        rval[s] = ~uint64_t{0};
        riov[s] = iovec{&rval[s], sizeof(rval[s])};
        slot_seq[s] = reads;
        REQUIRE(u->prep_readv(p.r, &riov[s], 1, next_id << 1 | 1));
        ++reads;
      } else {
        wval[s] = writes;
        wiov[s] = iovec{&wval[s], sizeof(wval[s])};
        slot_seq[s] = writes;
        REQUIRE(u->prep_writev(p.w, &wiov[s], 1, next_id << 1));
        ++writes;
      }
      ++next_id;
    }
    const unsigned want = rand_below(4) == 0 ? 0 : 1 + rand_below(64);
    const int r = u->submit(want);
    REQUIRE(r >= 0);
    ++submits;
    // Harvest a random amount, often leaving some behind so the CQ head lands everywhere.
    const unsigned n = u->harvest(out, 1 + rand_below(128));
    for (unsigned i = 0; i < n; ++i) {
      const uint64_t id = out[i].user_data >> 1;
      const bool is_read = (out[i].user_data & 1) != 0;
      if (id != expect_id || out[i].res != 8) {
        if (++failures < 5) {
          std::fprintf(stderr, "    op %llu (read=%d): expected id %llu, res %d\n",
                       static_cast<unsigned long long>(id), is_read ? 1 : 0,
                       static_cast<unsigned long long>(expect_id), out[i].res);
        }
      }
      if (is_read) {
        const unsigned s = static_cast<unsigned>(id % kSlots);
        if (rval[s] != slot_seq[s] || slot_seq[s] != reads_done) {
          if (++failures < 5) {
            std::fprintf(stderr, "    read %llu got %llu\n",
                         static_cast<unsigned long long>(reads_done),
                         static_cast<unsigned long long>(rval[s]));
          }
        }
        ++reads_done;
      }
      ++expect_id;
    }
    REQUIRE(failures == 0);
  }
  CHECK_EQ(expect_id, kOps);
  CHECK_EQ(u->in_flight(), 0u);
  CHECK_EQ(u->cq_ready(), 0u);
  CHECK_EQ(reads_done, reads);
  // Whatever was written and not read back is still in the pipe, in order.
  for (uint64_t k = reads; k < writes; ++k) {
    uint64_t v = 0;
    REQUIRE_EQ(read(p.r, &v, sizeof(v)), static_cast<ssize_t>(sizeof(v)));
    CHECK_EQ(v, k);
  }
  CHECK(!p.readable());
  CHECK(submits > kOps / 128);
}

TEST(destruction_cancels_parked_reads_and_drops_queued_ops) {
  Pipe p;
  REQUIRE(p.ok());
  uint8_t bufs[4][8];
  iovec iov[4];
  for (unsigned i = 0; i < 4; ++i) iov[i] = iovec{bufs[i], sizeof(bufs[i])};
  {
    auto u = make_ring(8);
    REQUIRE(u != nullptr);
    for (unsigned i = 0; i < 4; ++i) REQUIRE(u->prep_readv(p.r, &iov[i], 1, i));
    CHECK_EQ(u->submit(0), 4);
    CHECK_EQ(u->in_flight(), 4u);
    REQUIRE(u->prep_readv(p.r, &iov[0], 1, 9));  // queued, never submitted
    const auto t0 = std::chrono::steady_clock::now();
    u.reset();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
    CHECK(ms < 500);
  }
  // No cancelled read may still consume data.
  REQUIRE_EQ(write(p.w, "xyz", 3), static_cast<ssize_t>(3));
  char back[8];
  CHECK_EQ(read(p.r, back, sizeof(back)), static_cast<ssize_t>(3));
  CHECK(std::memcmp(back, "xyz", 3) == 0);
}
