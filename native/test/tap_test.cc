// tap_test.cc — native/tap.cc against the real kernel: needs CAP_NET_ADMIN and /dev/net/tun.
//
// Without them every kernel-touching test SKIPs naming what is missing (exit 0), unless the
// environment has CI=true, where missing privilege is a failure. Interface names are
// ctt<pid%1000><n>; every interface a test makes is removed again (persistent leftovers of a
// crashed earlier run with the same names are reaped first).
//
//   g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -O1 -g -fsanitize=address,undefined
//       native/errors.cc native/tap.cc native/test/tap_test.cc -o /tmp/tap_test && /tmp/tap_test
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "../tap.h"
#include "test_main.h"

using condis::Error;
using condis::Tap;
using condis::TapOptions;

namespace {

constexpr int kCapNetAdmin = 12;  // CAP_NET_ADMIN
constexpr uint16_t kTestEtherType = 0x88b5;  // IEEE 802 local experimental

bool ci() {
  const char* v = std::getenv("CI");
  return v != nullptr && std::strcmp(v, "true") == 0;
}

// "" when the tests can run; otherwise what is missing.
std::string missing_privilege() {
  std::ifstream status("/proc/self/status");
  std::string line;
  uint64_t eff = 0;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) eff = std::strtoull(line.c_str() + 7, nullptr, 16);
  }
  if (!(eff & (uint64_t{1} << kCapNetAdmin))) {
    return "needs CAP_NET_ADMIN (run as root) to create TAP interfaces";
  }
  if (access("/dev/net/tun", F_OK) != 0) return "needs /dev/net/tun (modprobe tun)";
  return "";
}

#define NEED_TAP()                                                                            \
  do {                                                                                        \
    const std::string why_ = missing_privilege();                                             \
    if (!why_.empty()) {                                                                      \
      if (ci()) {                                                                             \
        ::condis_test::report_failure(__FILE__, __LINE__, "CI=true but this test " + why_);   \
        return;                                                                               \
      }                                                                                       \
      SKIP(why_);                                                                             \
    }                                                                                         \
  } while (0)

std::string describe(const Error& e) {
  return e.code + " (" + (e.syscall ? e.syscall : "-") + "): " + e.message;
}

#define CHECK_OK(expr)                                                                     \
  do {                                                                                     \
    const ::condis::Error e_ = (expr);                                                     \
    if (e_) ::condis_test::report_failure(__FILE__, __LINE__, #expr " -> " + describe(e_)); \
  } while (0)

#define REQUIRE_OK(expr)                                                                     \
  do {                                                                                       \
    const ::condis::Error e_ = (expr);                                                       \
    if (e_) {                                                                                \
      ::condis_test::report_failure(__FILE__, __LINE__, #expr " -> " + describe(e_));        \
      return;                                                                                \
    }                                                                                        \
  } while (0)

bool contains(const std::string& hay, const char* needle) {
  return hay.find(needle) != std::string::npos;
}

bool iface_exists(const std::string& name) {
  return access(("/sys/class/net/" + name).c_str(), F_OK) == 0;
}

// Interface removal finishes inside close(); poll a little anyway to not be flaky.
bool wait_gone(const std::string& name) {
  for (int i = 0; i < 200 && iface_exists(name); ++i) usleep(5000);
  return !iface_exists(name);
}

std::string read_sys(const std::string& name, const char* attr) {
  std::ifstream f("/sys/class/net/" + name + "/" + attr);
  std::string s;
  std::getline(f, s);
  return s;
}

long sys_num(const std::string& name, const char* attr) {
  const std::string s = read_sys(name, attr);
  return s.empty() ? -1 : std::strtol(s.c_str(), nullptr, 0);
}

std::set<int> open_fds() {
  std::set<int> fds;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return fds;
  const int self = dirfd(d);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd != self) fds.insert(fd);
  }
  closedir(d);
  return fds;
}

// A persistent TAP left behind (by a crashed earlier run) is removed; anything else is left.
void reap(const std::string& name) {
  if (!iface_exists(name)) return;
  Tap t;
  TapOptions o;
  o.name = name;
  o.up = false;
  if (!t.open(o)) {
    t.set_persist(false);
    t.close();
  }
}

std::vector<std::string>& used_names() {
  static std::vector<std::string> names;
  return names;
}

std::string fresh_name() {
  static int n = 0;
  const std::string name = "ctt" + std::to_string(getpid() % 1000) + std::to_string(n++);
  reap(name);
  used_names().push_back(name);
  return name;
}

// Removes whatever a failed test may have left persistent.
struct ReapAll {
  ReapAll() { used_names(); }  // constructed first, so destroyed after this destructor runs
  ~ReapAll() {
    for (const std::string& n : used_names()) reap(n);
  }
} reap_all;

TapOptions named(const std::string& name) {
  TapOptions o;
  o.name = name;
  return o;
}

std::vector<uint8_t> test_frame(const uint8_t src[6], uint8_t marker) {
  std::vector<uint8_t> f(60, 0);
  std::memset(f.data(), 0xff, 6);  // broadcast
  // SAFETY: f has 60 bytes; bytes 6..11 are the source address.
  std::memcpy(f.data() + 6, src, 6);
  f[12] = kTestEtherType >> 8;
  f[13] = kTestEtherType & 0xff;
  f[14] = marker;
  return f;
}

// What a forked child's open() returned (Error::syscall is a pointer: carried as a string).
struct Outcome {
  int sys_errno = 0;
  std::string code, syscall, message;
};

// Runs fn in a forked child and brings its Error back. A child that cannot set up its
// precondition returns Error::condis("SKIP", why).
Outcome in_child(const std::function<Error()>& fn) {
  Outcome out;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    out.code = "PIPE_FAILED";
    return out;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    ::close(p[0]);
    const Error e = fn();
    const std::string msg = std::to_string(e.sys_errno) + "\n" + e.code + "\n" +
                            (e.syscall ? e.syscall : "") + "\n" + e.message;
    const bool ok = write(p[1], msg.data(), msg.size()) == static_cast<ssize_t>(msg.size());
    _exit(ok ? 0 : 2);
  }
  ::close(p[1]);
  std::string buf;
  char chunk[512];
  ssize_t n;
  while ((n = read(p[0], chunk, sizeof chunk)) > 0) buf.append(chunk, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  const size_t a = buf.find('\n');
  const size_t b = a == std::string::npos ? a : buf.find('\n', a + 1);
  const size_t c = b == std::string::npos ? b : buf.find('\n', b + 1);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || c == std::string::npos) {
    out.code = "CHILD_FAILED";
    out.message = buf;
    return out;
  }
  out.sys_errno = std::atoi(buf.substr(0, a).c_str());
  out.code = buf.substr(a + 1, b - a - 1);
  out.syscall = buf.substr(b + 1, c - b - 1);
  out.message = buf.substr(c + 1);
  return out;
}

void show_message(const char* what, const Error& e) {
  std::printf("       %s -> %s\n", what, describe(e).c_str());
}

void show_message(const char* what, const Outcome& o) {
  std::printf("       %s -> %s (%s): %s\n", what, o.code.c_str(), o.syscall.c_str(),
              o.message.c_str());
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST(create_named_reads_back_state) {
  NEED_TAP();
  const std::string name = fresh_name();
  const std::set<int> before = open_fds();
  {
    Tap tap;
    REQUIRE_OK(tap.open(named(name)));
    CHECK_EQ(tap.name(), name);
    CHECK(iface_exists(name));
    REQUIRE(tap.fd() >= 0);
    CHECK((fcntl(tap.fd(), F_GETFL) & O_NONBLOCK) != 0);
    // Every fd open() made (tun fd + control socket) is close-on-exec.
    const std::set<int> after = open_fds();
    CHECK_EQ(after.size(), before.size() + 2);
    for (int fd : after) {
      if (!before.count(fd)) CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    }
    CHECK(tap.ifindex() > 0);
    CHECK_EQ(static_cast<long>(tap.ifindex()), sys_num(name, "ifindex"));
    CHECK_EQ(static_cast<unsigned>(tap.ifindex()), if_nametoindex(name.c_str()));
    // A TAP, without packet-info header, not vnet_hdr, not multi-queue.
    const long tun_flags = sys_num(name, "tun_flags");
    CHECK((tun_flags & IFF_TAP) != 0);
    CHECK((tun_flags & IFF_NO_PI) != 0);
    CHECK((tun_flags & (IFF_VNET_HDR | IFF_MULTI_QUEUE)) == 0);
    CHECK(!tap.vnet_hdr());

    uint8_t mac[6];
    REQUIRE_OK(tap.get_mac(mac));
    CHECK((mac[0] & 1) == 0);  // the kernel's random address is unicast...
    CHECK((mac[0] & 2) != 0);  // ...and locally administered
    char macs[18];
    std::snprintf(macs, sizeof macs, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                  mac[3], mac[4], mac[5]);
    CHECK_EQ(read_sys(name, "address"), std::string(macs));

    uint32_t mtu = 0;
    CHECK_OK(tap.get_mtu(&mtu));
    CHECK_EQ(mtu, 1500u);
    bool up = false;
    CHECK_OK(tap.get_link(&up));
    CHECK(up);  // TapOptions::up defaults to true
    CHECK((sys_num(name, "flags") & IFF_UP) != 0);
  }  // the destructor closes
  CHECK(wait_gone(name));
  CHECK_EQ(open_fds().size(), before.size());
}

TEST(kernel_picks_name) {
  NEED_TAP();
  Tap a;
  REQUIRE_OK(a.open(TapOptions{}));
  CHECK_EQ(a.name().rfind("tap", 0), 0u);
  CHECK(a.name().size() > 3);
  CHECK(iface_exists(a.name()));
  CHECK_EQ(static_cast<unsigned>(a.ifindex()), if_nametoindex(a.name().c_str()));

  // A pattern of our own; two opens get two different interfaces.
  const std::string prefix = "ctt" + std::to_string(getpid() % 1000) + "k";
  Tap b, c;
  REQUIRE_OK(b.open(named(prefix + "%d")));
  REQUIRE_OK(c.open(named(prefix + "%d")));
  CHECK_EQ(b.name().rfind(prefix, 0), 0u);
  CHECK_EQ(c.name().rfind(prefix, 0), 0u);
  CHECK(b.name() != c.name());
  CHECK(b.ifindex() != c.ifindex());
  const std::string an = a.name(), bn = b.name(), cn = c.name();
  a.close();
  b.close();
  c.close();
  CHECK(wait_gone(an));
  CHECK(wait_gone(bn));
  CHECK(wait_gone(cn));
}

TEST(fifteen_char_name_is_the_limit) {
  NEED_TAP();
  std::string name = "ctt" + std::to_string(getpid() % 1000) + "L";
  name.append(15 - name.size(), 'x');
  reap(name);
  used_names().push_back(name);
  Tap t;
  REQUIRE_OK(t.open(named(name)));
  CHECK_EQ(t.name(), name);
  t.close();
  CHECK(wait_gone(name));
}

TEST(set_mtu_and_mac_read_back) {
  NEED_TAP();
  const std::string name = fresh_name();
  Tap tap;
  REQUIRE_OK(tap.open(named(name)));
  CHECK_OK(tap.set_mtu(1400));
  uint32_t mtu = 0;
  CHECK_OK(tap.get_mtu(&mtu));
  CHECK_EQ(mtu, 1400u);
  CHECK_EQ(sys_num(name, "mtu"), 1400L);

  const uint8_t want[6] = {0x02, 0x00, 0x5e, 0x10, 0x20, 0x30};
  CHECK_OK(tap.set_mac(want));  // while up: TAPs allow live address changes
  uint8_t got[6] = {};
  CHECK_OK(tap.get_mac(got));
  CHECK(std::memcmp(got, want, 6) == 0);
  CHECK_EQ(read_sys(name, "address"), std::string("02:00:5e:10:20:30"));

  // The range edges the kernel accepts.
  CHECK_OK(tap.set_mtu(68));
  CHECK_OK(tap.set_mtu(65521));
  CHECK_OK(tap.get_mtu(&mtu));
  CHECK_EQ(mtu, 65521u);
}

TEST(open_applies_mac_mtu_and_link_options) {
  NEED_TAP();
  const std::string name = fresh_name();
  TapOptions o = named(name);
  o.mtu = 9000;
  o.has_mac = true;
  const uint8_t mac[6] = {0x0a, 0x11, 0x22, 0x33, 0x44, 0x55};
  // SAFETY: both are 6-byte arrays.
  std::memcpy(o.mac, mac, 6);
  o.up = false;
  Tap tap;
  REQUIRE_OK(tap.open(o));
  uint32_t mtu = 0;
  CHECK_OK(tap.get_mtu(&mtu));
  CHECK_EQ(mtu, 9000u);
  uint8_t got[6] = {};
  CHECK_OK(tap.get_mac(got));
  CHECK(std::memcmp(got, mac, 6) == 0);
  bool up = true;
  CHECK_OK(tap.get_link(&up));
  CHECK(!up);
  // Down and nothing queued: the non-blocking fd says EAGAIN instead of blocking.
  char buf[64];
  errno = 0;
  CHECK_EQ(read(tap.fd(), buf, sizeof buf), static_cast<ssize_t>(-1));
  CHECK_EQ(errno, EAGAIN);
}

TEST(link_down_and_up) {
  NEED_TAP();
  const std::string name = fresh_name();
  Tap tap;
  REQUIRE_OK(tap.open(named(name)));
  bool up = false;
  CHECK_OK(tap.set_link(false));
  CHECK_OK(tap.get_link(&up));
  CHECK(!up);
  CHECK((sys_num(name, "flags") & IFF_UP) == 0);
  CHECK_OK(tap.set_link(false));  // already down: fine
  CHECK_OK(tap.set_link(true));
  CHECK_OK(tap.get_link(&up));
  CHECK(up);
  CHECK((sys_num(name, "flags") & IFF_UP) != 0);
  // Carrier is on while our fd is attached.
  CHECK_EQ(read_sys(name, "carrier"), std::string("1"));
}

TEST(second_open_without_multi_queue_is_ebusy) {
  NEED_TAP();
  const std::string name = fresh_name();
  Tap first;
  REQUIRE_OK(first.open(named(name)));
  const size_t fds = open_fds().size();
  Tap second;
  const Error e = second.open(named(name));
  show_message("second open", e);
  CHECK_EQ(e.code, std::string("EBUSY"));
  CHECK_EQ(e.sys_errno, EBUSY);
  CHECK_EQ(std::string(e.syscall ? e.syscall : ""), std::string("ioctl(TUNSETIFF)"));
  CHECK(contains(e.message, name.c_str()));
  CHECK(contains(e.message, "already attached"));
  CHECK(contains(e.message, "multi_queue"));
  CHECK_EQ(second.fd(), -1);
  CHECK_EQ(open_fds().size(), fds);  // the failed open left no fd
  // The failed attach did not disturb the first opener.
  CHECK(iface_exists(name));
  uint32_t mtu = 0;
  CHECK_OK(first.get_mtu(&mtu));
  CHECK_EQ(read_sys(name, "carrier"), std::string("1"));
}

TEST(multi_queue_attaches_and_mismatch_is_explained) {
  NEED_TAP();
  const std::string name = fresh_name();
  TapOptions o = named(name);
  o.multi_queue = true;
  Tap q0, q1;
  REQUIRE_OK(q0.open(o));
  REQUIRE_OK(q1.open(o));
  CHECK_EQ(q0.ifindex(), q1.ifindex());
  CHECK((sys_num(name, "tun_flags") & IFF_MULTI_QUEUE) != 0);
  Tap single;
  const Error e = single.open(named(name));
  show_message("non-multi_queue open of a multi_queue TAP", e);
  CHECK_EQ(e.code, std::string("EINVAL"));
  CHECK(contains(e.message, "multi_queue"));
  // The TAP lives until its last queue closes.
  q0.close();
  CHECK(iface_exists(name));
  q1.close();
  CHECK(wait_gone(name));
}

TEST(existing_non_tap_name_is_refused) {
  NEED_TAP();
  const size_t fds = open_fds().size();
  Tap tap;
  const Error e = tap.open(named("lo"));
  show_message("open 'lo'", e);
  CHECK_EQ(e.code, std::string("EEXIST"));
  CHECK_EQ(e.sys_errno, EEXIST);
  CHECK(contains(e.message, "'lo'"));
  CHECK(contains(e.message, "not a TAP"));
  CHECK(iface_exists("lo"));
  CHECK_EQ(open_fds().size(), fds);

  // A TUN (layer 3) device of that name: not usable as a TAP either.
  const std::string name = fresh_name();
  const int tun = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  REQUIRE(tun >= 0);
  ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  REQUIRE(name.size() < IFNAMSIZ);
  // SAFETY: name.size() < IFNAMSIZ (checked above) and ifr was zeroed: stays NUL-terminated.
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  REQUIRE(ioctl(tun, TUNSETIFF, &ifr) == 0);
  const Error e2 = tap.open(named(name));
  show_message("open a TUN device's name", e2);
  CHECK_EQ(e2.code, std::string("EEXIST"));
  CHECK(contains(e2.message, "TUN"));
  ::close(tun);
  CHECK(wait_gone(name));
}

TEST(bad_names_are_rejected) {
  // No privilege needed: validation comes before any syscall.
  const size_t fds = open_fds().size();
  const std::string bad[] = {
      "abcdefghijklmnop",  // 16 bytes
      "ctt-much-too-long-name",
      "a/b",
      "a b",
      "a\tb",
      "a\nb",
      " ",
      ".",
      "..",
      "a:b",
      std::string("a\0b", 3),
      "a\x01",
      "a\x7f",
      "a%s",
      "a%",
      "a%d%d",
      "%d%",
  };
  for (const std::string& name : bad) {
    Tap t;
    const Error e = t.open(named(name));
    if (e.code != "ERR_CONDIS_INVALID_ARG") {
      ::condis_test::report_failure(__FILE__, __LINE__,
                                    "name of " + std::to_string(name.size()) +
                                        " bytes not rejected: " + describe(e));
    }
    CHECK_EQ(e.sys_errno, 0);
    CHECK(e.message.find("TAP name '") != std::string::npos);
    CHECK_EQ(t.fd(), -1);
  }
  Tap t;
  show_message("16-byte name", t.open(named("abcdefghijklmnop")));
  show_message("'a/b'", t.open(named("a/b")));
  CHECK_EQ(open_fds().size(), fds);
}

TEST(bad_mac_is_rejected_before_any_syscall) {
  // No privilege needed: validation comes before any syscall.
  const std::string name = "ctt" + std::to_string(getpid() % 1000) + "m";
  TapOptions o = named(name);
  o.has_mac = true;
  const uint8_t multicast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
  // SAFETY: both are 6-byte arrays.
  std::memcpy(o.mac, multicast, 6);
  Tap t;
  Error e = t.open(o);
  show_message("multicast MAC", e);
  CHECK_EQ(e.code, std::string("ERR_CONDIS_INVALID_ARG"));
  CHECK(contains(e.message, "01:00:5e:00:00:01"));
  CHECK(contains(e.message, "multicast"));
  std::memset(o.mac, 0, 6);
  e = t.open(o);
  CHECK_EQ(e.code, std::string("ERR_CONDIS_INVALID_ARG"));
  std::memset(o.mac, 0xff, 6);  // broadcast is multicast too
  e = t.open(o);
  CHECK_EQ(e.code, std::string("ERR_CONDIS_INVALID_ARG"));
  CHECK(!iface_exists(name));
}

TEST(set_mac_rejects_bad_mac) {
  NEED_TAP();
  const uint8_t multicast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
  Error e;
  const std::string n2 = fresh_name();
  Tap tap;
  REQUIRE_OK(tap.open(named(n2)));
  uint8_t before[6], after[6];
  REQUIRE_OK(tap.get_mac(before));
  e = tap.set_mac(multicast);
  CHECK_EQ(e.code, std::string("ERR_CONDIS_INVALID_ARG"));
  const uint8_t zero[6] = {};
  e = tap.set_mac(zero);
  CHECK_EQ(e.code, std::string("ERR_CONDIS_INVALID_ARG"));
  REQUIRE_OK(tap.get_mac(after));
  CHECK(std::memcmp(before, after, 6) == 0);
}

TEST(mtu_out_of_range_is_einval_with_the_range) {
  NEED_TAP();
  const std::string name = fresh_name();
  Tap tap;
  REQUIRE_OK(tap.open(named(name)));
  Error e = tap.set_mtu(20);
  show_message("MTU 20", e);
  CHECK_EQ(e.code, std::string("EINVAL"));
  CHECK_EQ(e.sys_errno, EINVAL);
  CHECK_EQ(std::string(e.syscall ? e.syscall : ""), std::string("ioctl(SIOCSIFMTU)"));
  CHECK(contains(e.message, "68..65521"));
  e = tap.set_mtu(65522);
  CHECK_EQ(e.code, std::string("EINVAL"));
  e = tap.set_mtu(0x80000000u);  // does not fit ifr_mtu (int)
  CHECK_EQ(e.code, std::string("EINVAL"));
  uint32_t mtu = 0;
  CHECK_OK(tap.get_mtu(&mtu));
  CHECK_EQ(mtu, 1500u);
}

TEST(failed_open_removes_what_it_created) {
  NEED_TAP();
  const size_t fds = open_fds().size();
  const std::string name = fresh_name();
  TapOptions o = named(name);
  o.mtu = 20;  // fails after TUNSETIFF created the interface
  Tap t;
  Error e = t.open(o);
  CHECK_EQ(e.code, std::string("EINVAL"));
  CHECK_EQ(t.fd(), -1);
  CHECK(wait_gone(name));
  o.persist = true;
  e = t.open(o);
  CHECK_EQ(e.code, std::string("EINVAL"));
  CHECK(wait_gone(name));
  CHECK_EQ(open_fds().size(), fds);

  // ...but a persistent TAP that existed before a failed attach is left alone.
  Tap keeper;
  TapOptions p = named(name);
  p.persist = true;
  REQUIRE_OK(keeper.open(p));
  keeper.close();
  REQUIRE(iface_exists(name));
  o.persist = false;
  e = t.open(o);
  CHECK_EQ(e.code, std::string("EINVAL"));
  CHECK(iface_exists(name));
  REQUIRE_OK(keeper.open(named(name)));
  CHECK_OK(keeper.set_persist(false));
  keeper.close();
  CHECK(wait_gone(name));
}

TEST(persist_survives_close_until_unset) {
  NEED_TAP();
  const std::string name = fresh_name();
  TapOptions o = named(name);
  o.persist = true;
  o.mtu = 1400;
  {
    Tap tap;
    REQUIRE_OK(tap.open(o));
    CHECK((sys_num(name, "tun_flags") & IFF_PERSIST) != 0);
    tap.close();
    tap.close();  // idempotent
    CHECK_EQ(tap.fd(), -1);
  }
  usleep(20000);
  REQUIRE(iface_exists(name));
  CHECK_EQ(read_sys(name, "carrier"), std::string("0"));  // no fd attached
  CHECK_EQ(sys_num(name, "mtu"), 1400L);  // configuration survived too

  Tap again;
  REQUIRE_OK(again.open(named(name)));  // attach, persist=false leaves the flag alone
  CHECK_EQ(static_cast<long>(again.ifindex()), sys_num(name, "ifindex"));
  uint32_t mtu = 0;
  CHECK_OK(again.get_mtu(&mtu));
  CHECK_EQ(mtu, 1400u);
  again.close();
  CHECK(iface_exists(name));
  REQUIRE_OK(again.open(named(name)));
  CHECK_OK(again.set_persist(false));
  CHECK(iface_exists(name));  // still attached
  again.close();
  CHECK(wait_gone(name));
}

TEST(closed_tap_reports_state_errors) {
  // No privilege needed: nothing reaches the kernel.
  Tap t;
  t.close();  // closing a never-opened Tap is fine
  uint32_t mtu = 0;
  bool up = false;
  uint8_t mac[6];
  const uint8_t good[6] = {0x02, 1, 2, 3, 4, 5};
  CHECK_EQ(t.get_mtu(&mtu).code, std::string("ERR_CONDIS_INVALID_STATE"));
  CHECK_EQ(t.set_mtu(1500).code, std::string("ERR_CONDIS_INVALID_STATE"));
  CHECK_EQ(t.get_link(&up).code, std::string("ERR_CONDIS_INVALID_STATE"));
  CHECK_EQ(t.set_link(true).code, std::string("ERR_CONDIS_INVALID_STATE"));
  CHECK_EQ(t.get_mac(mac).code, std::string("ERR_CONDIS_INVALID_STATE"));
  CHECK_EQ(t.set_mac(good).code, std::string("ERR_CONDIS_INVALID_STATE"));
  CHECK_EQ(t.set_persist(false).code, std::string("ERR_CONDIS_INVALID_STATE"));
  CHECK_EQ(t.fd(), -1);
  CHECK_EQ(t.ifindex(), 0);
}

TEST(open_twice_and_use_after_close) {
  NEED_TAP();
  Tap t;
  uint32_t mtu = 0;
  const std::string name = fresh_name();
  REQUIRE_OK(t.open(named(name)));
  const Error e = t.open(named(name));  // already open
  CHECK_EQ(e.code, std::string("ERR_CONDIS_INVALID_STATE"));
  CHECK(t.fd() >= 0);  // the refused second open did not disturb the first
  CHECK(iface_exists(name));
  t.close();
  CHECK(wait_gone(name));
  CHECK_EQ(t.get_mtu(&mtu).code, std::string("ERR_CONDIS_INVALID_STATE"));
}

TEST(follows_a_rename) {
  NEED_TAP();
  const std::string name = fresh_name();
  const std::string renamed = fresh_name();
  TapOptions o = named(name);
  o.up = false;  // a running interface cannot be renamed
  Tap tap;
  REQUIRE_OK(tap.open(o));
  const int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(ctl >= 0);
  ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  REQUIRE(name.size() < IFNAMSIZ && renamed.size() < IFNAMSIZ);
  // SAFETY: both names are < IFNAMSIZ (checked above) and ifr was zeroed: stays NUL-terminated.
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  // SAFETY: ifr_newname is IFNAMSIZ bytes, zeroed above; renamed.size() < IFNAMSIZ.
  std::memcpy(ifr.ifr_newname, renamed.data(), renamed.size());
  const int rc = ioctl(ctl, SIOCSIFNAME, &ifr);
  ::close(ctl);
  REQUIRE(rc == 0);
  CHECK_OK(tap.set_mtu(1300));
  CHECK_EQ(sys_num(renamed, "mtu"), 1300L);
  CHECK_OK(tap.set_link(true));
  CHECK((sys_num(renamed, "flags") & IFF_UP) != 0);
  tap.close();
  CHECK(wait_gone(renamed));
}

TEST(vnet_hdr_write_is_received) {
  NEED_TAP();
  const std::string name = fresh_name();
  TapOptions o = named(name);
  o.vnet_hdr = true;
  Tap tap;
  REQUIRE_OK(tap.open(o));
  CHECK(tap.vnet_hdr());
  CHECK((sys_num(name, "tun_flags") & IFF_VNET_HDR) != 0);
  int hdr_sz = 0;
  CHECK(ioctl(tap.fd(), TUNGETVNETHDRSZ, &hdr_sz) == 0);
  CHECK_EQ(hdr_sz, 12);

  const uint8_t src[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
  const std::vector<uint8_t> frame = test_frame(src, 0x5a);
  std::vector<uint8_t> pkt(12, 0);  // virtio_net_hdr: no csum, GSO_NONE
  pkt.insert(pkt.end(), frame.begin(), frame.end());
  const long rx0 = sys_num(name, "statistics/rx_packets");
  REQUIRE(rx0 >= 0);
  CHECK_EQ(write(tap.fd(), pkt.data(), pkt.size()), static_cast<ssize_t>(72));
  CHECK_EQ(write(tap.fd(), pkt.data(), pkt.size()), static_cast<ssize_t>(72));
  CHECK_EQ(sys_num(name, "statistics/rx_packets"), rx0 + 2);
}

TEST(plain_write_is_received) {
  NEED_TAP();
  const std::string name = fresh_name();
  Tap tap;
  REQUIRE_OK(tap.open(named(name)));
  const uint8_t src[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01};
  const std::vector<uint8_t> frame = test_frame(src, 0x11);
  const long rx0 = sys_num(name, "statistics/rx_packets");
  const long bytes0 = sys_num(name, "statistics/rx_bytes");
  CHECK_EQ(write(tap.fd(), frame.data(), frame.size()), static_cast<ssize_t>(60));
  CHECK_EQ(sys_num(name, "statistics/rx_packets"), rx0 + 1);
  CHECK_EQ(sys_num(name, "statistics/rx_bytes"), bytes0 + 60);
}

// A frame the kernel transmits on the TAP (sent through an AF_PACKET socket) comes out of the fd,
// behind the 12-byte header when vnet_hdr is on.
static void check_kernel_tx_reaches_fd(bool vnet) {
  const std::string name = fresh_name();
  TapOptions o = named(name);
  o.vnet_hdr = vnet;
  Tap tap;
  REQUIRE_OK(tap.open(o));
  const int ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(kTestEtherType));
  REQUIRE(ps >= 0);
  uint8_t mac[6];
  CHECK_OK(tap.get_mac(mac));
  const std::vector<uint8_t> frame = test_frame(mac, vnet ? 0x77 : 0x66);
  sockaddr_ll to;
  std::memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_ifindex = tap.ifindex();
  to.sll_protocol = htons(kTestEtherType);
  to.sll_halen = 6;
  std::memset(to.sll_addr, 0xff, 6);
  // SAFETY: sockaddr_ll is the sockaddr for AF_PACKET; its true size is passed along.
  const ssize_t sent = sendto(ps, frame.data(), frame.size(), 0,
                              reinterpret_cast<const sockaddr*>(&to), sizeof to);
  ::close(ps);
  CHECK_EQ(sent, static_cast<ssize_t>(frame.size()));

  // Other traffic (IPv6 autoconf, MLD) may come first: look for our frame for up to 2 s.
  const size_t off = vnet ? 12 : 0;
  bool found = false;
  for (int tries = 0; tries < 50 && !found; ++tries) {
    pollfd pfd{tap.fd(), POLLIN, 0};
    if (poll(&pfd, 1, 2000) <= 0) break;
    uint8_t buf[2048];
    const ssize_t n = read(tap.fd(), buf, sizeof buf);
    if (n < 0) {
      CHECK_EQ(errno, EAGAIN);
      continue;
    }
    // SAFETY: n == off + frame.size() <= sizeof buf is checked before buf + off is read.
    if (static_cast<size_t>(n) == off + frame.size() &&
        std::memcmp(buf + off, frame.data(), frame.size()) == 0) {
      found = true;
    }
  }
  CHECK(found);
}

TEST(kernel_tx_is_read_from_fd) {
  NEED_TAP();
  check_kernel_tx_reaches_fd(false);
}

TEST(kernel_tx_is_read_from_vnet_hdr_fd) {
  NEED_TAP();
  check_kernel_tx_reaches_fd(true);
}

// Run without CAP_NET_ADMIN: in-process when the test already lacks it, else in a child that drops
// it (root keeps its DAC override there, so /dev/net/tun opens and TUNSETIFF is what refuses).
TEST(without_cap_net_admin_says_so) {
  const bool privileged = missing_privilege().empty();
  if (!privileged && access("/dev/net/tun", F_OK) != 0) NEED_TAP();
  const std::string name = "ctt" + std::to_string(getpid() % 1000) + "p";
  auto attempt = [&]() -> Error {
    Tap t;
    return t.open(named(name));
  };
  const Outcome e = in_child([&]() -> Error {
    if (!privileged) return attempt();
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) != 0) return Error::condis("SKIP", "capget failed");
    data[0].effective &= ~(1u << kCapNetAdmin);
    data[0].permitted &= ~(1u << kCapNetAdmin);
    if (syscall(SYS_capset, &hdr, data) != 0) return Error::condis("SKIP", "capset failed");
    return attempt();
  });
  if (e.code == "SKIP") SKIP("could not drop CAP_NET_ADMIN in a child: " + e.message);
  show_message("no CAP_NET_ADMIN", e);
  if (privileged) {
    CHECK_EQ(e.code, std::string("EPERM"));
    CHECK_EQ(e.syscall, std::string("ioctl(TUNSETIFF)"));
  } else {
    // Not root: /dev/net/tun may be closed to us (EACCES on open), else TUNSETIFF says EPERM.
    CHECK(e.code == "EPERM" || e.code == "EACCES");
    if (ci()) {
      ::condis_test::report_failure(__FILE__, __LINE__,
                                    "CI=true but this run " + missing_privilege());
    }
  }
  CHECK(contains(e.message, "CAP_NET_ADMIN"));
  CHECK(contains(e.message, "'wire' backend"));
  CHECK(!iface_exists(name));
}

TEST(without_dev_net_tun_says_so) {
  NEED_TAP();
  const std::string name = fresh_name();
  const Outcome e = in_child([&]() -> Error {
    // Hide /dev/net/tun in a private mount namespace.
    if (unshare(CLONE_NEWNS) != 0) return Error::condis("SKIP", "unshare(CLONE_NEWNS) failed");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return Error::condis("SKIP", "cannot make / private");
    }
    if (mount("tmpfs", "/dev/net", "tmpfs", 0, nullptr) != 0) {
      return Error::condis("SKIP", "cannot mount a tmpfs over /dev/net");
    }
    Tap t;
    return t.open(named(name));
  });
  if (e.code == "SKIP") SKIP("could not hide /dev/net/tun: " + e.message);
  show_message("no /dev/net/tun", e);
  CHECK_EQ(e.code, std::string("ENOENT"));
  CHECK_EQ(e.syscall, std::string("open"));
  CHECK(contains(e.message, "modprobe tun"));
  CHECK(contains(e.message, "mknod"));
}

TEST(thousand_open_close_cycles_leak_no_fd) {
  NEED_TAP();
  const std::string name = fresh_name();
  const std::set<int> before = open_fds();
  // Keep one persistent TAP to attach to: an attach/detach cycle is cheap, a create/destroy
  // cycle costs an RCU grace period or two. Both paths run; failing opens too.
  {
    Tap keeper;
    TapOptions p = named(name);
    p.persist = true;
    p.up = false;
    REQUIRE_OK(keeper.open(p));
  }
  TapOptions attach = named(name);
  attach.vnet_hdr = true;
  attach.mtu = 1500;
  int failures = 0;
  for (int i = 0; i < 1000; ++i) {
    Tap t;
    if (t.open(attach)) ++failures;
    uint32_t mtu = 0;
    if (t.get_mtu(&mtu) || mtu != 1500) ++failures;
    if (i % 2 == 0) t.close();  // else the destructor closes
  }
  CHECK_EQ(failures, 0);
  for (int i = 0; i < 100; ++i) {
    Tap t;
    if (t.open(TapOptions{})) ++failures;  // create + destroy
    Tap busy;
    if (busy.open(named("lo")).code != "EEXIST") ++failures;
    if (busy.open(named(t.name())).code != "EBUSY") ++failures;
    TapOptions bad = named(name);
    bad.mtu = 20;
    if (busy.open(bad).code != "EINVAL") ++failures;
  }
  CHECK_EQ(failures, 0);
  {
    Tap keeper;
    REQUIRE_OK(keeper.open(named(name)));
    CHECK_OK(keeper.set_persist(false));
  }
  CHECK(wait_gone(name));
  const std::set<int> after = open_fds();
  CHECK_EQ(after.size(), before.size());
  CHECK(after == before);
}
