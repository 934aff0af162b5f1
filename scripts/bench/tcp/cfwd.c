// cfwd.c — the C forwarder of `condis bench tcp`: the plainest user-space bridge between two TAPs,
// the yardstick condis' forwarding paths are measured against.
//
//   cfwd [-o] TAP_A TAP_B
//
// Creates (or attaches to) the two TAPs by name, prints "ready" on stdout once both fds are open
// (the benchmark then moves each TAP into its network namespace: an open fd keeps working across
// `ip link set dev X netns Y`), and from then on copies every frame read from one fd to the other,
// one read() and one write() per frame, woken by epoll. Ends on SIGTERM/SIGINT; prints
// {"aToB":N,"bToA":N,"writeErrors":N} on stdout first.
//
//   -o  offloads: IFF_VNET_HDR, TUNSETVNETHDRSZ 12 and TUNSETOFFLOAD(CSUM|TSO4|TSO6), so the kernel
//       hands over 64 KiB GSO frames with partial checksums; the 12-byte virtio_net_hdr in front
//       of each is passed through unchanged (the other TAP segments or completes as it says).
//
// Build: the benchmark runs `cc -O2 -o <tmp>/cfwd cfwd.c` (lib/bench/tcp/cfwd.ts); nothing else.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

// A GSO frame (64 KiB) plus its virtio_net_hdr, with room to spare.
#define BUF_BYTES (65536 + 4096)
// Frames moved from one fd before looking at the other: fairness between the two directions.
#define BURST 64

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static int open_tap(const char* name, int offload) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "cfwd: /dev/net/tun: %s\n", strerror(errno));
    exit(1);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    fprintf(stderr, "cfwd: TUNSETIFF %s: %s\n", name, strerror(errno));
    exit(1);
  }
  if (offload) {
    int hdr = 12;  // struct virtio_net_hdr_v1 (num_buffers included), as condis' rings carry it
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
      fprintf(stderr, "cfwd: TUNSETVNETHDRSZ %s: %s\n", name, strerror(errno));
      exit(1);
    }
    // What this side takes from the kernel: partial checksums and TCP GSO frames, v4 and v6.
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) < 0) {
      fprintf(stderr, "cfwd: TUNSETOFFLOAD %s: %s\n", name, strerror(errno));
      exit(1);
    }
  }
  return fd;
}

// Copies up to BURST frames from `from` to `to`; returns how many were read.
static long pump(int from, int to, unsigned char* buf, long* write_errors) {
  long n = 0;
  while (n < BURST) {
    ssize_t r = read(from, buf, BUF_BYTES);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      fprintf(stderr, "cfwd: read: %s\n", strerror(errno));
      exit(2);
    }
    n++;
    // A TAP write never blocks: the kernel takes the frame or drops it (counted on the interface).
    if (write(to, buf, (size_t)r) != r) (*write_errors)++;
  }
  return n;
}

int main(int argc, char** argv) {
  int offload = 0;
  int i = 1;
  if (i < argc && strcmp(argv[i], "-o") == 0) {
    offload = 1;
    i++;
  }
  if (argc - i != 2) {
    fprintf(stderr, "usage: cfwd [-o] TAP_A TAP_B\n");
    return 1;
  }
  int fa = open_tap(argv[i], offload);
  int fb = open_tap(argv[i + 1], offload);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;  // no SA_RESTART: epoll_wait returns EINTR and the loop ends
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, fa, &ev);
  ev.data.u32 = 1;
  epoll_ctl(ep, EPOLL_CTL_ADD, fb, &ev);

  static unsigned char buf[BUF_BYTES];
  long a_to_b = 0, b_to_a = 0, write_errors = 0;
  printf("ready\n");
  fflush(stdout);

  struct epoll_event got[2];
  while (!stop) {
    int n = epoll_wait(ep, got, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "cfwd: epoll_wait: %s\n", strerror(errno));
      return 2;
    }
    // Level-triggered: a side left with frames after its burst is reported again at once.
    for (int k = 0; k < n; k++) {
      if (got[k].data.u32 == 0)
        a_to_b += pump(fa, fb, buf, &write_errors);
      else
        b_to_a += pump(fb, fa, buf, &write_errors);
    }
  }
  printf("{\"aToB\":%ld,\"bToA\":%ld,\"writeErrors\":%ld}\n", a_to_b, b_to_a, write_errors);
  fflush(stdout);
  return 0;
}
