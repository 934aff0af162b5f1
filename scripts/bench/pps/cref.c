// cref.c — C reference for the pps benchmark: moves N Ethernet frames from TAP A to TAP B through
// a kernel loop (scripts/bench/pps/tap-loop.sh: tc mirred from A's ingress to B's egress) and
// measures the rates, so the addon's path can be compared against plain syscalls and io_uring.
//
//   cref --mode per-frame|uring|uring-ms --tx TAP_A --rx TAP_B --size BYTES --frames N
//        [--batch 64] [--warmup N] [--window 512] [--cpus TX,RX]
//
// A writer thread writes N frames into A's fd; a reader thread reads B's fd until it has all N
// or until 1 s passes without one of ours (the rest count as lost). The writer stays at most
// --window frames ahead of the highest sequence number the reader has seen (flow control, so the
// kernel's 1000-slot TAP ring does not overflow); if that window does not move for 100 ms the
// writer assumes the in-flight frames were lost and goes on.
//
//   per-frame: one write() per frame; reader: one read() per frame on an O_NONBLOCK fd, poll()
//              only when the queue is empty.
//   uring:     writer submits --batch writes with one io_uring_enter and waits for them;
//              reader keeps --batch reads in flight on a blocking fd, re-arming each as it
//              completes (re-arms and the wait share one io_uring_enter).
//   uring-ms:  the same writer; the reader keeps ONE multishot read armed (Linux 6.7) over a ring
//              of provided buffers, its ring DEFER_TASKRUN (the reads run when it waits).
//
// stdout: exactly one JSON object
//   {"path":"c-per-frame"|"c-io_uring","frameSize":S,"frames":N,"received":R,"lost":N-R,
//    "txPps":..,"rxPps":..,"seconds":..}
//   txPps   = N / (first write issued .. last write completed)
//   rxPps   = R / (first write issued .. last of our frames read)
//   seconds = first write issued .. last of our frames read (the writer's time if R = 0)
// stderr: progress, diagnostics (duplicates, reordering, foreign frames, window stalls), errors.
// Exit: 0 ok (loss is reported, not an error); 1 bad usage or setup error (missing TAP, EPERM,
// EBUSY...); 2 I/O error during the run; 3 the run finished but received nothing (loop missing?).
//
// Frame: dst 02:63:74:62:00:02, src 02:63:74:62:00:01 (locally administered unicast),
// ethertype 0x88B5 (IEEE local experimental), then magic "CTBR", a 32-bit run id, a 64-bit
// little-endian sequence number, then a fixed byte pattern. No FCS. Minimum size 30 bytes.
//
// Build: scripts/bench/pps/build.sh (C11, -O2 -Wall -Wextra -Werror, -lpthread). Needs only a C
// compiler and the kernel's UAPI headers (linux-libc-dev, Linux 5.19+): io_uring is used through
// its system calls, no liburing.

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if !defined(IORING_ASYNC_CANCEL_ANY) || !defined(IORING_FEAT_EXT_ARG)
#error "linux/io_uring.h is older than Linux 5.19: update the kernel headers (apt-get install -y linux-libc-dev)"
#endif

// ---------------------------------------------------------------------------------------------
// constants

enum { MODE_PER_FRAME = 1, MODE_URING = 2, MODE_URING_MS = 3 };

#define ETH_HLEN_ 14
#define ETHERTYPE_BENCH 0x88B5
#define OFF_MAGIC 14
#define OFF_RUNID 18
#define OFF_SEQ 22
#define HDR_END 30  // minimum frame size: eth header + magic + run id + seq
static const uint8_t kMagic[4] = {'C', 'T', 'B', 'R'};
static const uint8_t kDst[6] = {0x02, 0x63, 0x74, 0x62, 0x00, 0x02};
static const uint8_t kSrc[6] = {0x02, 0x63, 0x74, 0x62, 0x00, 0x01};

#define RX_BUF_SIZE 65536           // any frame a TAP can hand us fits
#define RX_IDLE_NS 1000000000ull    // reader gives up after 1 s without one of our frames
#define STALL_NS 100000000ull       // writer forgets a window that has not moved for 100 ms
#define POLL_SLICE_MS 50            // reader wakes this often to check the idle clock
#define SPIN_ITERS 2000             // writer spins this much before sleeping on the futex

// ---------------------------------------------------------------------------------------------
// small helpers

static void die(int code, const char* fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("cref: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(code);
}

static void note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("cref: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static long futex_wait(_Atomic uint32_t* addr, uint32_t val, uint64_t timeout_ns) {
  struct timespec ts = {(time_t)(timeout_ns / 1000000000ull), (long)(timeout_ns % 1000000000ull)};
  return syscall(SYS_futex, (uint32_t*)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t* addr) {
  syscall(SYS_futex, (uint32_t*)addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void put_u32le(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64le(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32le(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get_u64le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void* xaligned(size_t n) {
  void* p = NULL;
  if (posix_memalign(&p, 4096, n ? n : 1) != 0) die(1, "out of memory (%zu bytes)", n);
  memset(p, 0, n);
  return p;
}

// ---------------------------------------------------------------------------------------------
// options

struct opts {
  int mode;
  const char* tx;
  const char* rx;
  unsigned size;
  uint64_t frames;
  unsigned batch;
  uint64_t warmup;
  unsigned window;
  int cpu_tx, cpu_rx;  // -1 = not pinned
};

static void usage(const char* why) {
  if (why) fprintf(stderr, "cref: %s\n", why);
  fprintf(stderr,
          "usage: cref --mode per-frame|uring|uring-ms --tx TAP_A --rx TAP_B --size BYTES --frames N\n"
          "            [--batch 64] [--warmup 0] [--window 512] [--cpus TX,RX]\n"
          "  Writes N frames of BYTES (incl. the 14-byte Ethernet header, no FCS; >= %d) into\n"
          "  TAP_A and reads them back from TAP_B (set up the loop with tap-loop.sh up A B).\n"
          "  --batch   uring: writes per submission and reads kept in flight (1..4096)\n"
          "  --warmup  frames moved (and discarded) before the measured run\n"
          "  --window  max frames the writer may be ahead of the reader (>= batch)\n"
          "  --cpus    pin the writer and reader threads to these CPUs\n"
          "  Prints one JSON object on stdout. Needs root (CAP_NET_ADMIN).\n",
          HDR_END);
  exit(1);
}

static uint64_t parse_u64(const char* flag, const char* s, uint64_t min, uint64_t max) {
  if (!s || !*s) usage("missing value");
  char* end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || s[0] == '-' || v < min || v > max) {
    fprintf(stderr, "cref: %s wants an integer in [%" PRIu64 ", %" PRIu64 "], got '%s'\n", flag,
            min, max, s);
    exit(1);
  }
  return v;
}

static void parse_args(int argc, char** argv, struct opts* o) {
  memset(o, 0, sizeof *o);
  o->batch = 64;
  o->window = 512;
  o->cpu_tx = o->cpu_rx = -1;
  bool have_size = false, have_frames = false, have_window = false;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage(NULL);
#define TAKE() (i++, v)
    if (!strcmp(a, "--mode")) {
      const char* m = TAKE();
      if (m && !strcmp(m, "per-frame")) o->mode = MODE_PER_FRAME;
      else if (m && (!strcmp(m, "uring") || !strcmp(m, "io_uring"))) o->mode = MODE_URING;
      else if (m && !strcmp(m, "uring-ms")) o->mode = MODE_URING_MS;
      else usage("--mode must be per-frame, uring or uring-ms");
    } else if (!strcmp(a, "--tx")) {
      o->tx = TAKE();
    } else if (!strcmp(a, "--rx")) {
      o->rx = TAKE();
    } else if (!strcmp(a, "--size")) {
      o->size = (unsigned)parse_u64(a, TAKE(), HDR_END, 65535);
      have_size = true;
    } else if (!strcmp(a, "--frames")) {
      o->frames = parse_u64(a, TAKE(), 1, 1ull << 40);
      have_frames = true;
    } else if (!strcmp(a, "--batch")) {
      o->batch = (unsigned)parse_u64(a, TAKE(), 1, 4096);
    } else if (!strcmp(a, "--warmup")) {
      o->warmup = parse_u64(a, TAKE(), 0, 1ull << 40);
    } else if (!strcmp(a, "--window")) {
      o->window = (unsigned)parse_u64(a, TAKE(), 1, 1u << 20);
      have_window = true;
    } else if (!strcmp(a, "--cpus")) {
      const char* c = TAKE();
      int tx, rx, n = 0;
      if (!c || sscanf(c, "%d,%d%n", &tx, &rx, &n) != 2 || c[n] || tx < 0 || rx < 0)
        usage("--cpus wants TX,RX (two CPU numbers)");
      o->cpu_tx = tx;
      o->cpu_rx = rx;
    } else {
      fprintf(stderr, "cref: unknown argument '%s'\n", a);
      usage(NULL);
    }
#undef TAKE
    if (i >= argc) usage("missing value");
  }
  if (!o->mode) usage("--mode is required");
  if (!o->tx || !o->rx) usage("--tx and --rx are required");
  if (!have_size) usage("--size is required");
  if (!have_frames) usage("--frames is required");
  if (!strcmp(o->tx, o->rx)) usage("--tx and --rx must be different TAPs");
  if (o->window < o->batch) {
    if (have_window) note("--window %u < --batch %u: using window %u", o->window, o->batch, o->batch);
    o->window = o->batch;
  }
}

// ---------------------------------------------------------------------------------------------
// TAP attach

static int read_sysfs_long(const char* ifname, const char* attr, long* out) {
  char path[128];
  snprintf(path, sizeof path, "/sys/class/net/%s/%s", ifname, attr);
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  int ok = fscanf(f, "%li", out) == 1;
  fclose(f);
  return ok ? 0 : -1;
}

struct tap {
  int fd;
  unsigned mtu;
  long txqlen;
};

static struct tap tap_attach(const char* name, bool nonblock, const char* role) {
  struct tap t = {-1, 0, -1};
  if (!*name || strlen(name) >= IFNAMSIZ || strchr(name, '/') || !strcmp(name, ".") ||
      !strcmp(name, ".."))
    die(1, "bad interface name '%s' (1-%d characters, no '/')", name, IFNAMSIZ - 1);
  char path[64];
  snprintf(path, sizeof path, "/sys/class/net/%s", name);
  if (access(path, F_OK) != 0)
    die(1,
        "no interface '%s' (%s): create the loop first: scripts/bench/pps/tap-loop.sh up TAP_A TAP_B",
        name, role);
  long flags = 0;
  if (read_sysfs_long(name, "tun_flags", &flags) != 0)
    die(1, "'%s' is not a tun/tap device (no /sys/class/net/%s/tun_flags)", name, name);
  if (!(flags & IFF_TAP)) die(1, "'%s' is a TUN, not a TAP device", name);
  if (flags & IFF_MULTI_QUEUE)
    die(1, "'%s' was created multi_queue; create it without (tap-loop.sh does)", name);

  t.fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
  if (t.fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
      die(1, "cannot open /dev/net/tun: %s (is the tun module loaded? modprobe tun)", strerror(e));
    if (e == EACCES || e == EPERM)
      die(1, "cannot open /dev/net/tun: %s (run as root / with CAP_NET_ADMIN)", strerror(e));
    die(1, "cannot open /dev/net/tun: %s", strerror(e));
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(t.fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    if (e == EPERM || e == EACCES)
      die(1, "TUNSETIFF %s: %s (needs CAP_NET_ADMIN, or to be the TAP's owner/group; run as root)",
          name, strerror(e));
    if (e == EBUSY)
      die(1, "TUNSETIFF %s: %s (another process has it attached; only one fd per TAP)", name,
          strerror(e));
    die(1, "TUNSETIFF %s: %s", name, strerror(e));
  }
  if (strncmp(ifr.ifr_name, name, IFNAMSIZ) != 0)
    die(1, "TUNSETIFF attached to '%s' instead of '%s'", ifr.ifr_name, name);

  int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl < 0) die(1, "socket(AF_INET): %s", strerror(errno));
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0) die(1, "SIOCGIFFLAGS %s: %s", name, strerror(errno));
  if (!(ifr.ifr_flags & IFF_UP))
    die(1, "'%s' is down: bring it up (scripts/bench/pps/tap-loop.sh up does)", name);
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(ctl, SIOCGIFMTU, &ifr) < 0) die(1, "SIOCGIFMTU %s: %s", name, strerror(errno));
  t.mtu = (unsigned)ifr.ifr_mtu;
  close(ctl);
  if (read_sysfs_long(name, "tx_queue_len", &t.txqlen) != 0) t.txqlen = -1;
  return t;
}

// ---------------------------------------------------------------------------------------------
// frames

static void frame_init(uint8_t* f, unsigned size, uint32_t run_id) {
  memcpy(f, kDst, 6);
  memcpy(f + 6, kSrc, 6);
  f[12] = ETHERTYPE_BENCH >> 8;
  f[13] = ETHERTYPE_BENCH & 0xff;
  memcpy(f + OFF_MAGIC, kMagic, 4);
  put_u32le(f + OFF_RUNID, run_id);
  put_u64le(f + OFF_SEQ, 0);
  for (unsigned i = HDR_END; i < size; i++) f[i] = (uint8_t)(i * 7 + 1);
}

static inline void frame_set_seq(uint8_t* f, uint64_t seq) { put_u64le(f + OFF_SEQ, seq); }

// ---------------------------------------------------------------------------------------------
// one run (warmup or measured)

struct phase {
  const struct opts* o;
  int tx_fd, rx_fd;
  uint32_t run_id;
  uint64_t n;  // frames in this run

  // writer -> reader
  _Atomic uint64_t t_first_tx;  // ns; 0 until the first write is issued
  _Atomic int writer_done;
  // reader -> writer (flow control)
  _Atomic uint64_t rx_hi;        // highest sequence number seen + 1
  _Atomic uint64_t wake_at;      // writer sleeps until rx_hi >= wake_at (0: not sleeping)
  _Atomic uint32_t wake_gen;     // futex word
  _Atomic int reader_ready;
  _Atomic int reader_done;

  // results
  uint64_t t_tx_end;             // last write completed
  uint64_t sent;                 // frames the writer actually sent
  uint64_t stalls;               // window forced open after STALL_NS without progress
  int tx_err;
  uint64_t received, dups, reordered, foreign, short_frames;
  uint64_t t_last_rx;
  int rx_err;
  uint8_t* seen;                 // bitmap, n bits
};

static void pin_self(int cpu, const char* who) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (e) note("warning: cannot pin %s to CPU %d: %s", who, cpu, strerror(e));
}

// Called by the reader for each frame it reads. Returns true if it was one of ours.
static inline bool rx_account(struct phase* p, const uint8_t* f, size_t len) {
  if (len < HDR_END || f[12] != (ETHERTYPE_BENCH >> 8) || f[13] != (ETHERTYPE_BENCH & 0xff) ||
      memcmp(f + OFF_MAGIC, kMagic, 4) != 0 || get_u32le(f + OFF_RUNID) != p->run_id) {
    p->foreign++;
    return false;
  }
  uint64_t seq = get_u64le(f + OFF_SEQ);
  if (seq >= p->n) {
    p->foreign++;
    return false;
  }
  if (len != p->o->size) p->short_frames++;
  uint8_t bit = (uint8_t)(1u << (seq & 7));
  if (p->seen[seq >> 3] & bit) {
    p->dups++;
    return false;
  }
  p->seen[seq >> 3] |= bit;
  p->received++;
  uint64_t hi = atomic_load_explicit(&p->rx_hi, memory_order_relaxed);
  if (seq + 1 > hi) {
    atomic_store_explicit(&p->rx_hi, seq + 1, memory_order_release);
  } else {
    p->reordered++;
  }
  return true;
}

// After a burst of received frames: wake the writer if it sleeps and its target is reached.
static inline void rx_maybe_wake(struct phase* p) {
  uint64_t w = atomic_load_explicit(&p->wake_at, memory_order_seq_cst);
  if (w && atomic_load_explicit(&p->rx_hi, memory_order_relaxed) >= w) {
    atomic_store_explicit(&p->wake_at, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->wake_gen, 1, memory_order_seq_cst);
    futex_wake(&p->wake_gen);
  }
}

// Idle clock for the reader: 1 s with none of our frames since the later of (first write,
// last frame of ours). Before the first write the reader does not time out unless the writer
// has already finished (or failed).
static bool rx_idle_expired(struct phase* p, uint64_t now) {
  uint64_t t0 = atomic_load_explicit(&p->t_first_tx, memory_order_acquire);
  if (!t0) return atomic_load(&p->writer_done) != 0;  // writer finished without sending

  uint64_t ref = p->t_last_rx > t0 ? p->t_last_rx : t0;
  return now - ref > RX_IDLE_NS;
}

// Writer flow control: block until sending `k` more frames keeps us within the window.
// *base is the writer's floor for the window (raised when a stalled window is forgotten).
// Returns false if the reader has given up (stop sending).
static bool tx_wait_window(struct phase* p, uint64_t sent, unsigned k, uint64_t* base) {
  const uint64_t window = p->o->window;
  uint64_t hi = atomic_load_explicit(&p->rx_hi, memory_order_acquire);
  if (hi > *base) *base = hi;
  if (sent + k - *base <= window) return true;

  uint64_t t_start = 0, last_hi = hi;
  for (unsigned spin = 0;; spin++) {
    if (atomic_load_explicit(&p->reader_done, memory_order_relaxed)) return false;
    hi = atomic_load_explicit(&p->rx_hi, memory_order_acquire);
    if (hi > *base) *base = hi;
    if (sent + k - *base <= window) return true;
    if (spin < SPIN_ITERS) {
      cpu_relax();
      continue;
    }
    uint64_t now = now_ns();
    if (!t_start || hi != last_hi) {
      t_start = now;
      last_hi = hi;
    } else if (now - t_start > STALL_NS) {
      // Nothing came back for a while: the frames in flight are lost; open the window again.
      p->stalls++;
      *base = sent + k > window ? sent + k - window : 0;
      return true;
    }
    // Sleep until the reader has drained half the window (hysteresis keeps wakeups rare).
    uint64_t target = sent + k - window + window / 2;
    uint32_t g = atomic_load_explicit(&p->wake_gen, memory_order_seq_cst);
    atomic_store_explicit(&p->wake_at, target, memory_order_seq_cst);
    if (atomic_load_explicit(&p->rx_hi, memory_order_seq_cst) < target &&
        !atomic_load_explicit(&p->reader_done, memory_order_relaxed))
      futex_wait(&p->wake_gen, g, 10 * 1000000ull);
    atomic_store_explicit(&p->wake_at, 0, memory_order_relaxed);
    spin = SPIN_ITERS / 2;  // a short spin after each wakeup
  }
}

static void tx_wait_reader_ready(struct phase* p) {
  while (!atomic_load_explicit(&p->reader_ready, memory_order_acquire)) sched_yield();
}

// ---- per-frame ----

static void* writer_per_frame(void* arg) {
  struct phase* p = arg;
  pin_self(p->o->cpu_tx, "writer");
  const unsigned size = p->o->size;
  uint8_t* f = xaligned(size);
  frame_init(f, size, p->run_id);
  uint64_t base = 0, sent = 0;
  tx_wait_reader_ready(p);
  atomic_store_explicit(&p->t_first_tx, now_ns(), memory_order_release);
  while (sent < p->n) {
    if (!tx_wait_window(p, sent, 1, &base)) break;
    frame_set_seq(f, sent);
    ssize_t w = write(p->tx_fd, f, size);
    if (w == (ssize_t)size) {
      sent++;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
      struct pollfd pfd = {.fd = p->tx_fd, .events = POLLOUT};
      poll(&pfd, 1, 1);
      continue;
    }
    note("write to %s failed after %" PRIu64 " frames: %s", p->o->tx, sent,
         w < 0 ? strerror(errno) : "short write");
    p->tx_err = 1;
    break;
  }
  p->t_tx_end = now_ns();
  p->sent = sent;
  atomic_store(&p->writer_done, 1);
  free(f);
  return NULL;
}

static void* reader_per_frame(void* arg) {
  struct phase* p = arg;
  pin_self(p->o->cpu_rx, "reader");
  uint8_t* buf = xaligned(RX_BUF_SIZE);
  atomic_store_explicit(&p->reader_ready, 1, memory_order_release);
  unsigned since_wake = 0, not_ours = 0;
  while (p->received < p->n) {
    ssize_t r = read(p->rx_fd, buf, RX_BUF_SIZE);
    if (r >= 0) {
      if (rx_account(p, buf, (size_t)r)) {
        p->t_last_rx = now_ns();
        if (++since_wake >= 16) {
          since_wake = 0;
          rx_maybe_wake(p);
        }
      } else if ((++not_ours & 1023) == 0 && rx_idle_expired(p, now_ns())) {
        break;
      }
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      note("read from %s failed: %s", p->o->rx, strerror(errno));
      p->rx_err = 1;
      break;
    }
    // Queue empty: let the writer go, then sleep in poll.
    since_wake = 0;
    rx_maybe_wake(p);
    if (rx_idle_expired(p, now_ns())) break;
    struct pollfd pfd = {.fd = p->rx_fd, .events = POLLIN};
    if (poll(&pfd, 1, POLL_SLICE_MS) < 0 && errno != EINTR) {
      note("poll on %s failed: %s", p->o->rx, strerror(errno));
      p->rx_err = 1;
      break;
    }
  }
  atomic_store(&p->reader_done, 1);
  atomic_fetch_add(&p->wake_gen, 1);
  futex_wake(&p->wake_gen);
  free(buf);
  return NULL;
}

// ---- io_uring ----
//
// io_uring on the raw kernel interface (io_uring_setup / io_uring_enter and the mmapped rings),
// as native/uring.cc does for the addon, so cref builds with gcc and the kernel headers alone
// (linux-libc-dev, which gcc's libc6-dev pulls in). It issues the same system calls liburing's
// io_uring_queue_init / _submit / _submit_and_wait / _submit_and_wait_timeout / _wait_cqe would:
// a ring with no setup flags and a completion ring twice the submission ring, one
// io_uring_enter per batch, completions read straight from the shared ring.
//
// Layout (io_uring_setup(2)): the kernel shares three regions with us.
//   SQ ring:  head (kernel writes), tail (we write), mask, entries, flags, array[entries]
//   CQ ring:  head (we write), tail (kernel writes), mask, entries, cqes[entries]
//   SQEs:     io_uring_sqe[entries], indexed through the SQ array (here: slot i names SQE i)
// Ring indices are free-running u32 counters; `index & mask` picks the slot.

_Static_assert(sizeof(struct io_uring_sqe) == 64, "io_uring_sqe must be the 64-byte SQE");
_Static_assert(sizeof(struct io_uring_cqe) == 16, "io_uring_cqe must be the 16-byte CQE");

struct uring {
  int fd;
  bool ext_arg;  // IORING_FEAT_EXT_ARG (Linux 5.11+): a wait can carry its own timeout
  void* sq_map;
  size_t sq_map_size;
  void* cq_map;  // == sq_map with IORING_FEAT_SINGLE_MMAP
  size_t cq_map_size;
  struct io_uring_sqe* sqes;
  size_t sqes_size;
  unsigned *sq_khead, *sq_ktail, sq_mask, sq_entries;
  unsigned sq_tail;  // ours; the kernel sees it when uring_flush() publishes it
  unsigned *cq_khead, *cq_ktail, cq_mask;
  struct io_uring_cqe* cqes;
};

// ORDERING: acquire — pairs with the kernel's store-release of this index (SQ head / CQ tail), so
// what the kernel wrote before moving it (consumed SQEs, posted CQEs) is visible to us.
static inline unsigned load_acquire(const unsigned* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

// ORDERING: release — our writes before it (SQE contents / reads of CQE slots) happen-before the
// kernel's load-acquire of this index (SQ tail / CQ head).
static inline void store_release(unsigned* p, unsigned v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags,
                     const void* arg, size_t argsz) {
  long r = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);
  return r < 0 ? -errno : (int)r;
}

// flags/cq_entries: io_uring_params.flags and .cq_entries (with IORING_SETUP_CQSIZE); 0 for none.
static void uring_init_flags_or_die(struct uring* u, unsigned entries, unsigned flags, unsigned cq_entries,
                                    const char* who) {
  memset(u, 0, sizeof *u);
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = flags;
  p.cq_entries = cq_entries;
  long fd = syscall(__NR_io_uring_setup, entries, &p);
  if (fd < 0) {
    int e = errno;
    if (e == EPERM || e == ENOSYS)
      die(1,
          "io_uring_setup (%s): %s (io_uring disabled? see /proc/sys/kernel/io_uring_disabled, "
          "seccomp)",
          who, strerror(e));
    die(1, "io_uring_setup (%s, %u entries): %s", who, entries, strerror(e));
  }
  u->fd = (int)fd;
  u->ext_arg = (p.features & IORING_FEAT_EXT_ARG) != 0;

  u->sq_map_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  u->cq_map_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single) {
    if (u->cq_map_size > u->sq_map_size) u->sq_map_size = u->cq_map_size;
    u->cq_map_size = u->sq_map_size;
  }
  u->sq_map = mmap(NULL, u->sq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
                   IORING_OFF_SQ_RING);
  if (u->sq_map == MAP_FAILED) die(1, "mmap of the io_uring SQ ring (%s): %s", who, strerror(errno));
  if (single) {
    u->cq_map = u->sq_map;
  } else {
    u->cq_map = mmap(NULL, u->cq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                     u->fd, IORING_OFF_CQ_RING);
    if (u->cq_map == MAP_FAILED)
      die(1, "mmap of the io_uring CQ ring (%s): %s", who, strerror(errno));
  }
  u->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
  u->sqes = mmap(NULL, u->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
                 IORING_OFF_SQES);
  if (u->sqes == MAP_FAILED) die(1, "mmap of the io_uring SQEs (%s): %s", who, strerror(errno));

  // SAFETY: the kernel's offsets lie inside the sizes it told us to map (computed from the same
  // io_uring_params above); u32 fields are 4-byte aligned, the CQE array 16-byte aligned.
  char* sq = u->sq_map;
  char* cq = u->cq_map;
  u->sq_khead = (unsigned*)(sq + p.sq_off.head);
  u->sq_ktail = (unsigned*)(sq + p.sq_off.tail);
  u->sq_mask = *(const unsigned*)(sq + p.sq_off.ring_mask);
  u->sq_entries = *(const unsigned*)(sq + p.sq_off.ring_entries);
  unsigned* sq_array = (unsigned*)(sq + p.sq_off.array);
  u->cq_khead = (unsigned*)(cq + p.cq_off.head);
  u->cq_ktail = (unsigned*)(cq + p.cq_off.tail);
  u->cq_mask = *(const unsigned*)(cq + p.cq_off.ring_mask);
  u->cqes = (struct io_uring_cqe*)(cq + p.cq_off.cqes);
  if (u->sq_entries != p.sq_entries || u->sq_mask != p.sq_entries - 1 ||
      u->cq_mask != p.cq_entries - 1)
    die(1, "io_uring rings (%s) have an unexpected geometry", who);
  // Slot i of the SQ array always names SQE i. Plain stores: nothing is submitted yet.
  // ORDERING: published to the kernel by the first store-release of the SQ tail (uring_flush).
  for (unsigned i = 0; i < u->sq_entries; i++) sq_array[i] = i;
  // ORDERING: relaxed — nothing submitted yet; these are our starting indices.
  u->sq_tail = __atomic_load_n(u->sq_ktail, __ATOMIC_RELAXED);
}

static void uring_init_or_die(struct uring* u, unsigned entries, const char* who) {
  uring_init_flags_or_die(u, entries, 0, 0, who);
}

static void uring_exit(struct uring* u) {
  munmap(u->sqes, u->sqes_size);
  if (u->cq_map != u->sq_map) munmap(u->cq_map, u->cq_map_size);
  munmap(u->sq_map, u->sq_map_size);
  close(u->fd);
}

// A zeroed SQE to fill, or NULL if the submission ring is full (as io_uring_get_sqe).
static struct io_uring_sqe* uring_get_sqe(struct uring* u) {
  // ORDERING: acquire of the SQ head — once the kernel moved past a slot it has read that SQE.
  if (u->sq_tail - load_acquire(u->sq_khead) >= u->sq_entries) return NULL;
  // SAFETY: (sq_tail & sq_mask) < sq_entries, the number of SQEs mapped at u->sqes.
  struct io_uring_sqe* sqe = &u->sqes[u->sq_tail & u->sq_mask];
  memset(sqe, 0, sizeof *sqe);
  u->sq_tail++;
  return sqe;
}

// A read or write of len bytes at buf, offset 0 (as io_uring_prep_read / io_uring_prep_write).
static void uring_prep_rw(struct io_uring_sqe* sqe, uint8_t op, int fd, void* buf, unsigned len,
                          uint64_t data) {
  sqe->opcode = op;
  sqe->fd = fd;
  // SAFETY: only the address is stored; buf stays valid until this request's completion.
  sqe->addr = (uint64_t)(uintptr_t)buf;
  sqe->len = len;
  sqe->user_data = data;
}

// Publishes the SQEs filled since the last call; returns how many the next enter must submit.
static unsigned uring_flush(struct uring* u) {
  // ORDERING: release of the SQ tail — the SQE contents happen-before the kernel's acquire of it.
  store_release(u->sq_ktail, u->sq_tail);
  // ORDERING: acquire of the SQ head (without SQPOLL it only moves inside io_uring_enter).
  return u->sq_tail - load_acquire(u->sq_khead);
}

// Completions ready in the CQ ring.
static inline unsigned uring_cq_ready(const struct uring* u) {
  // ORDERING: acquire of the CQ tail — the CQEs below it are fully written. The CQ head is ours.
  return load_acquire(u->cq_ktail) - *u->cq_khead;
}

// SAFETY: the caller checked uring_cq_ready() > i; the slot is below the acquired CQ tail.
static inline const struct io_uring_cqe* uring_cqe_at(const struct uring* u, unsigned i) {
  return &u->cqes[(*u->cq_khead + i) & u->cq_mask];
}

// Hands n completion slots back to the kernel.
static inline void uring_cq_advance(struct uring* u, unsigned n) {
  // ORDERING: release of the CQ head — our reads of those CQEs happen-before the kernel reuses them.
  if (n) store_release(u->cq_khead, *u->cq_khead + n);
}

// Submits what is queued and waits until `wait` completions are ready: one io_uring_enter
// (as io_uring_submit_and_wait; wait = 0 is io_uring_submit). Returns the number submitted or -errno.
static int uring_submit_and_wait(struct uring* u, unsigned wait) {
  unsigned n = uring_flush(u);
  if (wait <= uring_cq_ready(u)) wait = 0;
  if (!n && !wait) return 0;
  return sys_enter(u->fd, n, wait, wait ? IORING_ENTER_GETEVENTS : 0, NULL, 0);
}

// Submits what is queued and waits at most timeout_ns for one completion, in one io_uring_enter
// (as io_uring_submit_and_wait_timeout): no syscall when nothing is queued and a completion is
// already there. Returns >= 0, or -ETIME when the time ran out, or -errno. Kernels before 5.11
// (no IORING_FEAT_EXT_ARG) submit, then poll the ring fd: two syscalls.
static int uring_submit_and_wait_timeout(struct uring* u, uint64_t timeout_ns) {
  unsigned n = uring_flush(u);
  bool have = uring_cq_ready(u) > 0;
  if (have && !n) return 0;
  if (u->ext_arg) {
    struct __kernel_timespec ts = {(long long)(timeout_ns / 1000000000ull),
                                   (long long)(timeout_ns % 1000000000ull)};
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof arg);
    arg.sigmask_sz = _NSIG / 8;
    arg.ts = (uint64_t)(uintptr_t)&ts;
    if (have) return sys_enter(u->fd, n, 0, 0, NULL, 0);
    return sys_enter(u->fd, n, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
  }
  int r = n ? sys_enter(u->fd, n, 0, 0, NULL, 0) : 0;
  if (r < 0 || have) return r;
  struct pollfd pfd = {.fd = u->fd, .events = POLLIN};
  int pr = poll(&pfd, 1, (int)(timeout_ns / 1000000ull));
  if (pr < 0) return -errno;
  return pr == 0 && !uring_cq_ready(u) ? -ETIME : r;
}

static unsigned pow2_at_least(unsigned v) {
  unsigned r = 1;
  while (r < v) r <<= 1;
  return r;
}

static void* writer_uring(void* arg) {
  struct phase* p = arg;
  pin_self(p->o->cpu_tx, "writer");
  const unsigned size = p->o->size, batch = p->o->batch;
  struct uring ring;
  uring_init_or_die(&ring, pow2_at_least(batch), "writer");
  // One buffer per slot: a buffer must stay untouched until its write completes.
  size_t stride = (size + 63) & ~(size_t)63;
  uint8_t* bufs = xaligned(stride * batch);
  for (unsigned i = 0; i < batch; i++) frame_init(bufs + stride * i, size, p->run_id);

  uint64_t base = 0, sent = 0;
  tx_wait_reader_ready(p);
  atomic_store_explicit(&p->t_first_tx, now_ns(), memory_order_release);
  while (sent < p->n && !p->tx_err) {
    unsigned k = p->n - sent < batch ? (unsigned)(p->n - sent) : batch;
    if (!tx_wait_window(p, sent, k, &base)) break;
    for (unsigned i = 0; i < k; i++) {
      uint8_t* f = bufs + stride * i;
      frame_set_seq(f, sent + i);
      struct io_uring_sqe* sqe = uring_get_sqe(&ring);
      if (!sqe) die(2, "writer: submission queue full (bug)");
      uring_prep_rw(sqe, IORING_OP_WRITE, p->tx_fd, f, size, i);
    }
    // One io_uring_enter: submit the batch and wait for all of it.
    int r;
    do r = uring_submit_and_wait(&ring, k);
    while (r == -EINTR);
    if (r < 0) {
      note("io_uring_enter (writer): %s", strerror(-r));
      p->tx_err = 1;
      break;
    }
    unsigned done = 0, ok = 0;
    while (done < k) {
      unsigned seen = uring_cq_ready(&ring);
      for (unsigned c = 0; c < seen; c++) {
        const struct io_uring_cqe* cqe = uring_cqe_at(&ring, c);
        if (cqe->res == (int)size) {
          ok++;
        } else if (!p->tx_err) {
          note("write to %s failed: %s", p->o->tx,
               cqe->res < 0 ? strerror(-cqe->res) : "short write");
          p->tx_err = 1;
        }
      }
      uring_cq_advance(&ring, seen);
      done += seen;
      if (done < k) {
        int w = uring_submit_and_wait(&ring, 1);  // nothing queued: waits for one completion
        if (w < 0 && w != -EINTR) {
          note("io_uring_enter (writer, waiting): %s", strerror(-w));
          p->tx_err = 1;
          break;
        }
      }
    }
    sent += ok;
  }
  p->t_tx_end = now_ns();
  p->sent = sent;
  atomic_store(&p->writer_done, 1);
  uring_exit(&ring);
  free(bufs);
  return NULL;
}

static void* reader_uring(void* arg) {
  struct phase* p = arg;
  pin_self(p->o->cpu_rx, "reader");
  const unsigned batch = p->o->batch;
  struct uring ring;
  uring_init_or_die(&ring, pow2_at_least(batch) * 2, "reader");  // room for the cancel too
  uint8_t* bufs = xaligned((size_t)RX_BUF_SIZE * batch);
  for (unsigned i = 0; i < batch; i++) {
    struct io_uring_sqe* sqe = uring_get_sqe(&ring);
    uring_prep_rw(sqe, IORING_OP_READ, p->rx_fd, bufs + (size_t)RX_BUF_SIZE * i, RX_BUF_SIZE, i);
  }
  int r = uring_submit_and_wait(&ring, 0);
  if (r != (int)batch) {
    note("io_uring_enter (reader): %s", r < 0 ? strerror(-r) : "short submit");
    p->rx_err = 1;
    atomic_store(&p->reader_ready, 1);
    goto out;
  }
  atomic_store_explicit(&p->reader_ready, 1, memory_order_release);

  unsigned inflight = batch;
  while (p->received < p->n) {
    // Submit the re-armed reads and wait for at least one completion: one io_uring_enter.
    r = uring_submit_and_wait_timeout(&ring, POLL_SLICE_MS * 1000000ull);
    if (r < 0 && r != -ETIME && r != -EINTR) {
      note("io_uring_enter (reader): %s", strerror(-r));
      p->rx_err = 1;
      break;
    }
    unsigned seen = uring_cq_ready(&ring), ours = 0;
    for (unsigned c = 0; c < seen; c++) {
      const struct io_uring_cqe* cqe = uring_cqe_at(&ring, c);
      unsigned i = (unsigned)cqe->user_data;
      uint8_t* b = bufs + (size_t)RX_BUF_SIZE * i;
      if (cqe->res >= 0) {
        if (rx_account(p, b, (size_t)cqe->res)) ours++;
      } else if (cqe->res != -EINTR && cqe->res != -EAGAIN && !p->rx_err) {
        note("read from %s failed: %s", p->o->rx, strerror(-cqe->res));
        p->rx_err = 1;
      }
      // Re-arm this slot (submitted by the next uring_submit_and_wait_timeout).
      struct io_uring_sqe* sqe = uring_get_sqe(&ring);
      if (!sqe) die(2, "reader: submission queue full (bug)");
      uring_prep_rw(sqe, IORING_OP_READ, p->rx_fd, b, RX_BUF_SIZE, i);
    }
    uring_cq_advance(&ring, seen);
    if (p->rx_err) break;
    if (ours) {
      p->t_last_rx = now_ns();
      rx_maybe_wake(p);
    } else {
      rx_maybe_wake(p);
      if (rx_idle_expired(p, now_ns())) break;
    }
  }
  // Cancel the reads still in flight and wait for them, so no buffer is written after free().
  // Re-armed-but-unsubmitted SQEs are submitted first (they are then cancelled too).
  {
    struct io_uring_sqe* sqe = uring_get_sqe(&ring);
    if (sqe) {
      sqe->opcode = IORING_OP_ASYNC_CANCEL;
      sqe->fd = -1;
      sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY;  // Linux 5.19+
      sqe->user_data = UINT64_MAX;
      uring_submit_and_wait(&ring, 0);
      uint64_t deadline = now_ns() + 2000000000ull;
      bool cancel_done = false;
      while ((inflight > 0 || !cancel_done) && now_ns() < deadline) {
        if (uring_submit_and_wait_timeout(&ring, 100 * 1000000ull) < 0) continue;
        unsigned seen = uring_cq_ready(&ring);
        for (unsigned c = 0; c < seen; c++) {
          if (uring_cqe_at(&ring, c)->user_data == UINT64_MAX) cancel_done = true;
          else inflight--;
        }
        uring_cq_advance(&ring, seen);
      }
      if (inflight > 0) note("warning: %u reads still in flight at exit", inflight);
    }
  }
out:
  atomic_store(&p->reader_done, 1);
  atomic_fetch_add(&p->wake_gen, 1);
  futex_wake(&p->wake_gen);
  uring_exit(&ring);
  free(bufs);
  return NULL;
}

// ---- io_uring, multishot ----
//
// The reader posts ONE read that stays armed (IORING_OP_READ_MULTISHOT, Linux 6.7) and takes its
// buffers from a ring of provided buffers (IORING_REGISTER_PBUF_RING, 5.19): the kernel reads
// every frame that arrives into the next free buffer and posts a completion naming it, with no
// request per frame to re-arm. Its ring is SINGLE_ISSUER | DEFER_TASKRUN (6.1): the reads run
// when the reader enters the kernel to wait, batched, instead of interrupting it per frame.

// IORING_OP_READ_MULTISHOT (enum io_uring_op, Linux 6.7): the build host's headers may predate it.
#define OP_READ_MULTISHOT 49
#define MS_BUFS 1024  // provided buffers: more than the window, so the read never runs dry

static void* reader_uring_ms(void* arg) {
  struct phase* p = arg;
  pin_self(p->o->cpu_rx, "reader");
  struct uring ring;
  // Created on this thread: SINGLE_ISSUER ties the ring to its creator. Completion ring: one
  // CQE per frame, so room for every buffer at once.
  uring_init_flags_or_die(&ring, 8, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE,
                          MS_BUFS * 2, "reader");
  const size_t bsize = 2048 > p->o->size ? 2048 : ((size_t)p->o->size + 63) & ~(size_t)63;
  uint8_t* bufs = xaligned(bsize * MS_BUFS);
  size_t br_size = (sizeof(struct io_uring_buf) * MS_BUFS + 4095) & ~(size_t)4095;
  struct io_uring_buf_ring* br = mmap(NULL, br_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (br == MAP_FAILED) die(1, "mmap of the buffer ring: %s", strerror(errno));
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)br;
  reg.ring_entries = MS_BUFS;
  reg.bgid = 0;
  if (syscall(__NR_io_uring_register, ring.fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
    die(1, "io_uring_register(PBUF_RING): %s (Linux 5.19+)", strerror(errno));
  uint16_t btail = 0;
  for (unsigned i = 0; i < MS_BUFS; i++) {
    struct io_uring_buf* b = &br->bufs[btail & (MS_BUFS - 1)];
    b->addr = (uint64_t)(uintptr_t)(bufs + bsize * i);
    b->len = (uint32_t)bsize;
    b->bid = (uint16_t)i;
    btail++;
  }
  // ORDERING: release — the buffer entries happen-before the kernel's acquire of the tail.
  __atomic_store_n(&br->tail, btail, __ATOMIC_RELEASE);

  bool armed = false, ended = false;
  unsigned rearms = 0;
  while (!ended && !p->rx_err) {
    if (!armed) {
      struct io_uring_sqe* sqe = uring_get_sqe(&ring);
      if (!sqe) die(2, "reader: submission queue full (bug)");
      sqe->opcode = OP_READ_MULTISHOT;
      sqe->fd = p->rx_fd;
      sqe->flags = IOSQE_BUFFER_SELECT;
      sqe->buf_group = 0;
      sqe->off = (uint64_t)-1;
      sqe->user_data = 1;
      armed = true;
      if (rearms++ == 0) {
        int r = uring_submit_and_wait(&ring, 0);
        if (r != 1) die(1, "io_uring_enter (reader): %s", r < 0 ? strerror(-r) : "short submit");
        atomic_store_explicit(&p->reader_ready, 1, memory_order_release);
      }
    }
    if (p->received >= p->n) break;
    int r = uring_submit_and_wait_timeout(&ring, POLL_SLICE_MS * 1000000ull);
    if (r < 0 && r != -ETIME && r != -EINTR) {
      note("io_uring_enter (reader): %s", strerror(-r));
      p->rx_err = 1;
      break;
    }
    unsigned seen = uring_cq_ready(&ring), ours = 0;
    for (unsigned c = 0; c < seen; c++) {
      const struct io_uring_cqe* cqe = uring_cqe_at(&ring, c);
      if (!(cqe->flags & IORING_CQE_F_MORE)) armed = false;
      if (cqe->res < 0) {
        if (cqe->res == -EINVAL) die(1, "IORING_OP_READ_MULTISHOT is not supported (Linux 6.7+)");
        if (cqe->res != -ENOBUFS && cqe->res != -EINTR && cqe->res != -EAGAIN) {
          note("read from %s failed: %s", p->o->rx, strerror(-cqe->res));
          p->rx_err = 1;
        }
        continue;
      }
      if (!(cqe->flags & IORING_CQE_F_BUFFER)) continue;
      unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
      uint8_t* b = bufs + bsize * bid;
      if (rx_account(p, b, (size_t)cqe->res)) ours++;
      // Give the buffer back (published once per batch below).
      struct io_uring_buf* e = &br->bufs[btail & (MS_BUFS - 1)];
      e->addr = (uint64_t)(uintptr_t)b;
      e->len = (uint32_t)bsize;
      e->bid = (uint16_t)bid;
      btail++;
    }
    uring_cq_advance(&ring, seen);
    // ORDERING: release, as above.
    __atomic_store_n(&br->tail, btail, __ATOMIC_RELEASE);
    if (ours) {
      p->t_last_rx = now_ns();
      rx_maybe_wake(p);
    } else {
      rx_maybe_wake(p);
      if (rx_idle_expired(p, now_ns())) ended = true;
    }
  }
  // Closing the ring cancels the armed read; nothing is written into our buffers after that
  // (the ring's teardown waits for its requests).
  atomic_store(&p->reader_done, 1);
  atomic_fetch_add(&p->wake_gen, 1);
  futex_wake(&p->wake_gen);
  uring_exit(&ring);
  munmap(br, br_size);
  free(bufs);
  return NULL;
}

// ---- driver ----

static void run_phase(struct phase* p) {
  p->seen = xaligned((size_t)(p->n + 7) / 8);
  pthread_t tw, tr;
  void* (*wf)(void*) = p->o->mode == MODE_PER_FRAME ? writer_per_frame : writer_uring;
  void* (*rf)(void*) = p->o->mode == MODE_URING ? reader_uring
                       : p->o->mode == MODE_URING_MS ? reader_uring_ms : reader_per_frame;
  int e = pthread_create(&tr, NULL, rf, p);
  if (e) die(1, "pthread_create: %s", strerror(e));
  e = pthread_create(&tw, NULL, wf, p);
  if (e) die(1, "pthread_create: %s", strerror(e));
  pthread_join(tw, NULL);
  pthread_join(tr, NULL);
  free(p->seen);
  p->seen = NULL;
}

static void phase_report(const struct phase* p, const char* what) {
  uint64_t t0 = atomic_load(&p->t_first_tx);
  double tx_s = t0 ? (double)(p->t_tx_end - t0) / 1e9 : 0;
  double rx_s = (t0 && p->t_last_rx > t0) ? (double)(p->t_last_rx - t0) / 1e9 : 0;
  note("%s: sent %" PRIu64 "/%" PRIu64 " in %.3f s, received %" PRIu64 " in %.3f s, lost %" PRIu64
       ", dup %" PRIu64 ", reordered %" PRIu64 ", foreign %" PRIu64 ", wrong-length %" PRIu64
       ", window stalls %" PRIu64,
       what, p->sent, p->n, tx_s, p->received, rx_s, p->n - p->received, p->dups, p->reordered,
       p->foreign, p->short_frames, p->stalls);
}

static void phase_setup(struct phase* p, const struct opts* o, int tx_fd, int rx_fd, uint32_t id,
                        uint64_t n) {
  memset(p, 0, sizeof *p);
  p->o = o;
  p->tx_fd = tx_fd;
  p->rx_fd = rx_fd;
  p->run_id = id;
  p->n = n;
}

int main(int argc, char** argv) {
  struct opts o;
  parse_args(argc, argv, &o);
  setvbuf(stderr, NULL, _IOLBF, 0);

  // Writer fd blocking (a TAP write does not block anyway); reader fd non-blocking for
  // per-frame (read until EAGAIN, then poll) and blocking for io_uring (as the brief says: the
  // kernel parks each read until a frame comes).
  struct tap tx = tap_attach(o.tx, false, "--tx");
  struct tap rx = tap_attach(o.rx, o.mode != MODE_URING, "--rx");
  unsigned mtu = tx.mtu < rx.mtu ? tx.mtu : rx.mtu;
  if (o.size > mtu + ETH_HLEN_)
    die(1, "--size %u exceeds MTU %u + 14 of the TAPs (raise it: ip link set dev X mtu M)", o.size,
        mtu);
  if (rx.txqlen > 0 && o.window > (unsigned long)rx.txqlen)
    note("warning: --window %u > tx_queue_len %ld of %s: its ring may overflow and drop", o.window,
         rx.txqlen, o.rx);

  uint32_t nonce = (uint32_t)(now_ns() ^ ((uint64_t)getpid() << 16));
  note("%s: %s -> %s, %u-byte frames, %" PRIu64 " frames (+%" PRIu64 " warmup), batch %u, window %u",
       o.mode == MODE_URING ? "io_uring" : o.mode == MODE_URING_MS ? "io_uring multishot" : "per-frame", o.tx, o.rx, o.size, o.frames, o.warmup,
       o.batch, o.window);

  static struct phase ph;
  if (o.warmup) {
    phase_setup(&ph, &o, tx.fd, rx.fd, nonce ^ 0x5a5a5a5au, o.warmup);
    run_phase(&ph);
    phase_report(&ph, "warmup");
    if (ph.tx_err || ph.rx_err) die(2, "warmup failed");
  }
  phase_setup(&ph, &o, tx.fd, rx.fd, nonce, o.frames);
  run_phase(&ph);
  phase_report(&ph, "run");

  uint64_t t0 = atomic_load(&ph.t_first_tx);
  double tx_s = t0 ? (double)(ph.t_tx_end - t0) / 1e9 : 0;
  double rx_s = (t0 && ph.received && ph.t_last_rx > t0) ? (double)(ph.t_last_rx - t0) / 1e9 : 0;
  double tx_pps = tx_s > 0 ? (double)ph.sent / tx_s : 0;
  double rx_pps = rx_s > 0 ? (double)ph.received / rx_s : 0;
  double seconds = ph.received ? rx_s : tx_s;
  printf("{\"path\":\"%s\",\"frameSize\":%u,\"frames\":%" PRIu64 ",\"received\":%" PRIu64
         ",\"lost\":%" PRIu64 ",\"txPps\":%.1f,\"rxPps\":%.1f,\"seconds\":%.6f}\n",
         o.mode == MODE_URING ? "c-io_uring" : o.mode == MODE_URING_MS ? "c-io_uring-ms" : "c-per-frame", o.size, o.frames, ph.received,
         o.frames - ph.received, tx_pps, rx_pps, seconds);
  fflush(stdout);
  close(tx.fd);
  close(rx.fd);

  if (ph.tx_err || ph.rx_err) die(2, "I/O error during the run (see above)");
  if (ph.received == 0)
    die(3, "received none of the %" PRIu64 " frames: is the loop installed? "
           "(scripts/bench/pps/tap-loop.sh up %s %s)",
        o.frames, o.tx, o.rx);
  return 0;
}
