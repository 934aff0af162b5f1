// tap.cc — a Linux TAP interface through /dev/net/tun, configured by ioctl only; see tap.h.
//
// Everything is an ioctl: TUNSETIFF/TUNSETVNETHDRSZ/TUNSETPERSIST on the tun fd, SIOC* on an
// AF_INET datagram control socket. Nothing here shells out to `ip`. Both fds are O_CLOEXEC and
// the tun fd is O_NONBLOCK (the I/O thread polls it / feeds it to io_uring).
//
// SIOC* ioctls address the interface by name. The name is re-read from the tun fd (TUNGETIFF)
// before each of them, so an interface renamed behind our back is still the one configured, and
// a different interface that later took the old name is never touched.
#include "tap.h"

#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "virtio_net.h"

namespace condis {
namespace {

constexpr const char* kTunPath = "/dev/net/tun";
constexpr int kVnetHdrSize = 12;
static_assert(kTunFCsum == TUN_F_CSUM && kTunFTso4 == TUN_F_TSO4 && kTunFTso6 == TUN_F_TSO6 &&
                  kTunFTsoEcn == TUN_F_TSO_ECN,
              "virtio_net.h spells linux/if_tun.h's TUN_F_* flags");
#ifdef TUN_F_USO4  // Linux 6.2 headers; older ones lack it, and the kernel may still have it (probe_offloads)
static_assert(kTunFUso4 == TUN_F_USO4 && kTunFUso6 == TUN_F_USO6, "virtio_net.h spells TUN_F_USO4/6");
#endif  // struct virtio_net_hdr_v1 / _mrg_rxbuf (virtio 5.1.6)
constexpr const char* kMtuRange = "68..65521";  // tun: ETH_MIN_MTU .. 65535 - ETH_HLEN
constexpr const char* kWireHint =
    "or use the 'wire' backend, which needs no privilege";
constexpr const char* kCapHint =
    "run as root, or grant the capability to the node binary "
    "(setcap cap_net_admin+ep \"$(command -v node)\")";

Error invalid_arg(const std::string& message) {
  return Error::condis(codes::kInvalidArg, message);
}

Error not_open(const char* what) {
  return Error::condis(codes::kInvalidState,
                       std::string("cannot ") + what + ": the TAP is not open; call open() first");
}

// 'name' with control and non-ASCII bytes escaped, for messages.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "'";
}

// The kernel's dev_valid_name() plus dev_alloc_name()'s "%d" rule, plus no control characters.
// JS validates too (lib/device/options.ts); this does not trust it.
Error validate_name(const std::string& name) {
  const std::string q = quote(name);
  if (name.empty()) return invalid_arg("TAP name must not be empty");
  if (name.size() >= IFNAMSIZ) {
    return invalid_arg("TAP name " + q + " is " + std::to_string(name.size()) +
                       " bytes long; Linux interface names are 1.." +
                       std::to_string(IFNAMSIZ - 1) + " bytes");
  }
  if (name == "." || name == "..") {
    return invalid_arg("TAP name " + q + " is not allowed ('.' and '..' are reserved)");
  }
  bool seen_pattern = false;
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    // The kernel's isspace() also covers 0xa0 (Latin-1 no-break space).
    const bool space = c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
    if (c == '\0' || c < 0x20 || c == 0x7f || space || c == '/' || c == ':') {
      return invalid_arg("TAP name " + q + " contains an invalid character at byte " +
                         std::to_string(i) +
                         "; names must not contain '/', ':', whitespace or control characters");
    }
    if (c == '%') {
      if (seen_pattern || i + 1 >= name.size() || name[i + 1] != 'd') {
        return invalid_arg("TAP name " + q +
                           " has a bad '%' pattern; only one '%d' is allowed (e.g. 'tap%d')");
      }
      seen_pattern = true;
    }
  }
  return Error{};
}

Error validate_mac(const uint8_t mac[kEthAddrLen]) {
  bool all_zero = true;
  for (uint32_t i = 0; i < kEthAddrLen; ++i) all_zero = all_zero && mac[i] == 0;
  if (all_zero) return invalid_arg("MAC address 00:00:00:00:00:00 is not a valid unicast address");
  if (mac[0] & 0x01) {
    return invalid_arg("MAC address " + mac_string(mac) +
                       " has the multicast bit set (lowest bit of the first byte); use a unicast "
                       "address, e.g. with the first byte 02 (locally administered)");
  }
  return Error{};
}

// Zeroes *ifr and copies a name of fewer than IFNAMSIZ bytes into it.
bool fill_name(ifreq* ifr, const std::string& name) {
  std::memset(ifr, 0, sizeof *ifr);
  if (name.size() >= IFNAMSIZ) return false;
  // SAFETY: name.size() < IFNAMSIZ == sizeof ifr_name, *ifr zeroed: stays NUL-terminated.
  std::memcpy(ifr->ifr_name, name.data(), name.size());
  return true;
}

std::string name_of(const ifreq& ifr) {
  // SAFETY: strnlen stops at sizeof ifr_name even if the kernel left no NUL.
  return std::string(ifr.ifr_name, strnlen(ifr.ifr_name, sizeof ifr.ifr_name));
}

// What already carries a name, found before TUNSETIFF so a clash is reported precisely (some
// kernels answer EINVAL, not EEXIST, for a non-tun device of that name).
enum class Kind { kNone, kTap, kTun, kOther, kUnknown };
struct Existing {
  Kind kind = Kind::kUnknown;
  std::string driver;  // ethtool driver name, when known
};

Existing probe_existing(int ctl, const std::string& name) {
  Existing ex;
  ifreq ifr;
  if (!fill_name(&ifr, name)) return ex;
  if (ioctl(ctl, SIOCGIFINDEX, &ifr) < 0) {
    ex.kind = errno == ENODEV ? Kind::kNone : Kind::kUnknown;
    return ex;
  }
  // The tun driver always answers ETHTOOL_GDRVINFO: driver "tun", bus_info "tap" or "tun".
  ethtool_drvinfo info;
  std::memset(&info, 0, sizeof info);
  info.cmd = ETHTOOL_GDRVINFO;
  fill_name(&ifr, name);
  // SAFETY: ifr_data points at a live, correctly sized ethtool_drvinfo for the whole ioctl.
  ifr.ifr_data = reinterpret_cast<char*>(&info);
  if (ioctl(ctl, SIOCETHTOOL, &ifr) < 0) {
    ex.kind = Kind::kOther;  // no get_drvinfo: not tun (lo, for one)
    return ex;
  }
  // SAFETY: strnlen bounds both reads by the fixed-size arrays.
  ex.driver.assign(info.driver, strnlen(info.driver, sizeof info.driver));
  const std::string bus(info.bus_info, strnlen(info.bus_info, sizeof info.bus_info));
  if (ex.driver != "tun") {
    ex.kind = Kind::kOther;
  } else {
    ex.kind = bus == "tap" ? Kind::kTap : Kind::kTun;
  }
  return ex;
}

Error clash_error(const std::string& name, const Existing& ex) {
  if (ex.kind == Kind::kTun) {
    return Error::os(EEXIST, "ioctl(SIOCGIFINDEX)",
                     "interface " + quote(name) +
                         " already exists as a TUN (layer 3) device, not a TAP; pick another "
                         "name or delete it (ip link delete " + name + ")");
  }
  std::string driver = ex.driver.empty() ? "" : " (driver '" + ex.driver + "')";
  return Error::os(EEXIST, "ioctl(SIOCGIFINDEX)",
                   "interface " + quote(name) + " already exists and is not a TAP device" +
                       driver + "; pick another name, or leave the name empty to let the kernel "
                       "choose one");
}

Error open_dev_error(int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return Error::os(err, "open",
                       std::string(kTunPath) +
                           " is not available: load the tun module (modprobe tun) or create the "
                           "device node (mkdir -p /dev/net && mknod /dev/net/tun c 10 200); in a "
                           "container, pass the device in (--device /dev/net/tun)");
    case EACCES:
    case EPERM:
      return Error::os(err, "open",
                       std::string("no permission to open ") + kTunPath +
                           ": using a TAP needs CAP_NET_ADMIN and access to the device node; " +
                           kCapHint + ", " + kWireHint);
    default:
      return Error::os(err, "open", std::string("cannot open ") + kTunPath);
  }
}

Error tunsetiff_error(int err, const std::string& name, bool multi_queue, const Existing& ex) {
  const std::string q = quote(name);
  switch (err) {
    case EPERM:
      if (ex.kind == Kind::kTap) {
        return Error::os(err, "ioctl(TUNSETIFF)",
                         "attaching to TAP " + q +
                             " needs CAP_NET_ADMIN unless the TAP is owned by this user or group "
                             "(ip tuntap add dev " + name + " mode tap user <you>); " + kCapHint +
                             ", " + kWireHint);
      }
      return Error::os(err, "ioctl(TUNSETIFF)",
                       "creating a TAP (" + q + ") needs CAP_NET_ADMIN; " + kCapHint + ", " +
                           kWireHint);
    case EBUSY:
      return Error::os(err, "ioctl(TUNSETIFF)",
                       "TAP " + q +
                           " is busy: it is already attached to another file descriptor "
                           "(probably another process), and a TAP without multi_queue takes only "
                           "one; close the other user, pick another name, or open every queue "
                           "with multi_queue");
    case EINVAL:
      if (ex.kind == Kind::kTap) {
        return Error::os(err, "ioctl(TUNSETIFF)",
                         "TAP " + q + " exists but was created " +
                             (multi_queue ? "without" : "with") +
                             " multi_queue; open it with multi_queue=" +
                             (multi_queue ? "false" : "true") + " or pick another name");
      }
      return Error::os(err, "ioctl(TUNSETIFF)",
                       "the kernel refused to create or attach TAP " + q +
                           "; an interface of that name may exist that is not a TAP (check: ip "
                           "link show " + name + "); pick another name");
    case E2BIG:
      return Error::os(err, "ioctl(TUNSETIFF)",
                       "TAP " + q + " already has the maximum number of queues attached (256); "
                       "close some before opening another");
    case EEXIST:
      return Error::os(err, "ioctl(TUNSETIFF)",
                       "interface " + q + " already exists; pick another name");
    default:
      return Error::os(err, "ioctl(TUNSETIFF)", "cannot create or attach TAP " + q);
  }
}

// Common hints for a failed SIOC* ioctl on interface `name`.
Error sioc_error(int err, const char* syscall, const std::string& action,
                 const std::string& name) {
  const std::string q = quote(name);
  switch (err) {
    case EPERM:
    case EACCES:
      return Error::os(err, syscall,
                       "cannot " + action + " of " + q + ": that needs CAP_NET_ADMIN; " + kCapHint);
    case ENODEV:
    case ENXIO:
      return Error::os(err, syscall,
                       "cannot " + action + " of " + q + ": the interface no longer exists");
    default:
      return Error::os(err, syscall, "cannot " + action + " of " + q);
  }
}

// Zeroes *ifr and fills in the interface's current name: asked from the tun fd (follows a
// rename), or the name from open() if that fails.
void current_ifreq(int fd, const std::string& fallback, ifreq* ifr) {
  std::memset(ifr, 0, sizeof *ifr);
  if (ioctl(fd, TUNGETIFF, ifr) == 0) {
    const std::string name = name_of(*ifr);
    fill_name(ifr, name);
  } else {
    fill_name(ifr, fallback);
  }
}

}  // namespace

std::string mac_string(const uint8_t mac[kEthAddrLen]) {
  char buf[3 * kEthAddrLen];  // "xx:" per byte, the last ':' is the NUL
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return buf;
}

Tap::~Tap() { close(); }

void Tap::close() {
  // Linux releases the fd even when close() reports an error (EINTR included): never retry.
  if (fd_ >= 0) ::close(fd_);
  if (ctl_ >= 0) ::close(ctl_);
  fd_ = -1;
  ctl_ = -1;
  ifindex_ = 0;
  vnet_hdr_ = false;
  name_.clear();
}

Error Tap::open(const TapOptions& opts) {
  if (fd_ >= 0) {
    return Error::condis(codes::kInvalidState,
                         "this TAP is already open as " + quote(name_) +
                             "; close() it before opening another");
  }
  const std::string want = opts.name.empty() ? "tap%d" : opts.name;
  if (Error e = validate_name(want)) return e;
  if (opts.has_mac) {
    if (Error e = validate_mac(opts.mac)) return e;
  }

  ctl_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl_ < 0) {
    const int err = errno;
    close();
    return Error::os(err, "socket",
                     "cannot create the AF_INET control socket used to configure the TAP");
  }

  // A literal name may already exist; a "%d" pattern never names an existing interface.
  const bool pattern = want.find('%') != std::string::npos;
  Existing ex;
  if (!pattern) {
    ex = probe_existing(ctl_, want);
    if (ex.kind == Kind::kTun || ex.kind == Kind::kOther) {
      close();
      return clash_error(want, ex);
    }
  }
  // Whether this call creates the interface (and so must remove it again on failure). A name
  // that appears between the probe and TUNSETIFF is the only way to get this wrong.
  const bool created = pattern || ex.kind != Kind::kTap;

  fd_ = ::open(kTunPath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    close();
    return open_dev_error(err);
  }

  unsigned int features = 0;
  if (ioctl(fd_, TUNGETFEATURES, &features) == 0) {
    const char* missing = nullptr;
    if (opts.vnet_hdr && !(features & IFF_VNET_HDR)) missing = "vnet_hdr (IFF_VNET_HDR)";
    if (opts.multi_queue && !(features & IFF_MULTI_QUEUE)) {
      missing = "multi_queue (IFF_MULTI_QUEUE)";
    }
    if (missing != nullptr) {
      close();
      return Error::os(EOPNOTSUPP, "ioctl(TUNGETFEATURES)",
                       std::string("this kernel's tun driver does not support ") + missing +
                           "; turn the option off");
    }
  }

  ifreq ifr;
  fill_name(&ifr, want);
  short flags = IFF_TAP | IFF_NO_PI;
  if (opts.vnet_hdr) flags |= IFF_VNET_HDR;
  if (opts.multi_queue) flags |= IFF_MULTI_QUEUE;
  ifr.ifr_flags = flags;
  if (ioctl(fd_, TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    close();
    if (err == EINVAL && !pattern) {
      // Raced with someone creating a non-TAP of that name? Say so precisely.
      const int probe_ctl = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (probe_ctl >= 0) {
        const Existing now = probe_existing(probe_ctl, want);
        ::close(probe_ctl);
        if (now.kind == Kind::kTun || now.kind == Kind::kOther) return clash_error(want, now);
      }
    }
    return tunsetiff_error(err, want, opts.multi_queue, ex);
  }
  name_ = name_of(ifr);
  vnet_hdr_ = opts.vnet_hdr;

  bool persisted = false;
  // On failure from here on: leave nothing behind that this call created.
  auto fail = [&](Error e) {
    if (created && persisted) ioctl(fd_, TUNSETPERSIST, 0UL);
    close();  // a non-persistent TAP this call created vanishes with its last fd
    return e;
  };

  if (opts.vnet_hdr) {
    int size = kVnetHdrSize;
    if (ioctl(fd_, TUNSETVNETHDRSZ, &size) < 0) {
      const int err = errno;
      return fail(Error::os(err, "ioctl(TUNSETVNETHDRSZ)",
                            "cannot set a 12-byte virtio_net_hdr on TAP " + quote(name_)));
    }
  }

  current_ifreq(fd_, name_, &ifr);
  if (ioctl(ctl_, SIOCGIFINDEX, &ifr) < 0) {
    const int err = errno;
    return fail(sioc_error(err, "ioctl(SIOCGIFINDEX)", "read the interface index", name_));
  }
  ifindex_ = ifr.ifr_ifindex;

  if (opts.has_mac) {
    if (Error e = set_mac(opts.mac)) return fail(e);
  }
  if (opts.mtu != 0) {
    if (Error e = set_mtu(opts.mtu)) return fail(e);
  }
  if (opts.up) {
    if (Error e = set_link(true)) return fail(e);
  }
  // Last, so that a crash during open() cannot leave a persistent interface behind.
  if (opts.persist) {
    if (Error e = set_persist(true)) return fail(e);
    persisted = true;
  }
  return Error{};
}

Error Tap::set_link(bool up) {
  if (fd_ < 0) return not_open(up ? "bring the link up" : "bring the link down");
  ifreq ifr;
  current_ifreq(fd_, name_, &ifr);
  const std::string name = name_of(ifr);
  if (ioctl(ctl_, SIOCGIFFLAGS, &ifr) < 0) {
    const int err = errno;
    return sioc_error(err, "ioctl(SIOCGIFFLAGS)", "read the link flags", name);
  }
  const short want = up ? static_cast<short>(ifr.ifr_flags | IFF_UP)
                        : static_cast<short>(ifr.ifr_flags & ~IFF_UP);
  if (want == ifr.ifr_flags) return Error{};
  ifr.ifr_flags = want;
  if (ioctl(ctl_, SIOCSIFFLAGS, &ifr) < 0) {
    const int err = errno;
    return sioc_error(err, "ioctl(SIOCSIFFLAGS)",
                      up ? "bring up the link" : "bring down the link", name);
  }
  return Error{};
}

Error Tap::set_mtu(uint32_t mtu) {
  if (fd_ < 0) return not_open("set the MTU");
  ifreq ifr;
  current_ifreq(fd_, name_, &ifr);
  const std::string name = name_of(ifr);
  const std::string range_msg = "MTU " + std::to_string(mtu) + " is out of range for TAP " +
                                quote(name) + "; the valid range is " + kMtuRange;
  if (mtu > static_cast<uint32_t>(INT_MAX)) {
    return Error::os(EINVAL, "ioctl(SIOCSIFMTU)", range_msg);  // would not fit ifr_mtu
  }
  ifr.ifr_mtu = static_cast<int>(mtu);
  if (ioctl(ctl_, SIOCSIFMTU, &ifr) < 0) {
    const int err = errno;
    if (err == EINVAL) return Error::os(err, "ioctl(SIOCSIFMTU)", range_msg);
    return sioc_error(err, "ioctl(SIOCSIFMTU)", "change the MTU", name);
  }
  return Error{};
}

Error Tap::set_mac(const uint8_t mac[kEthAddrLen]) {
  if (Error e = validate_mac(mac)) return e;
  if (fd_ < 0) return not_open("set the MAC address");
  ifreq ifr;
  current_ifreq(fd_, name_, &ifr);
  const std::string name = name_of(ifr);
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  // SAFETY: sa_data is 14 bytes; kEthAddrLen (6) are written.
  std::memcpy(ifr.ifr_hwaddr.sa_data, mac, kEthAddrLen);
  if (ioctl(ctl_, SIOCSIFHWADDR, &ifr) < 0) {
    const int err = errno;
    if (err == EADDRNOTAVAIL || err == EINVAL) {
      return Error::os(err, "ioctl(SIOCSIFHWADDR)",
                       "the kernel rejected MAC address " + mac_string(mac) + " for TAP " +
                           quote(name) + "; use a unicast, non-zero address");
    }
    return sioc_error(err, "ioctl(SIOCSIFHWADDR)", "change the MAC address", name);
  }
  return Error{};
}

// One SIOCGIF* read on the interface this fd is attached to (by its current name, so a rename
// behind our back still reads the right one).
Error Tap::sioc_get(unsigned long req, const char* syscall, const char* what, ifreq* ifr) const {
  if (fd_ < 0) return not_open(what);
  current_ifreq(fd_, name_, ifr);
  if (ioctl(ctl_, req, ifr) < 0) {
    const int err = errno;
    return sioc_error(err, syscall, what, name_of(*ifr));
  }
  return Error{};
}

Error Tap::get_mac(uint8_t mac[kEthAddrLen]) const {
  ifreq ifr;
  Error e = sioc_get(SIOCGIFHWADDR, "ioctl(SIOCGIFHWADDR)", "read the MAC address", &ifr);
  if (e) return e;
  // SAFETY: sa_data is 14 bytes; the first kEthAddrLen (6) are the Ethernet address.
  std::memcpy(mac, ifr.ifr_hwaddr.sa_data, kEthAddrLen);
  return Error{};
}

Error Tap::get_mtu(uint32_t* mtu) const {
  ifreq ifr;
  Error e = sioc_get(SIOCGIFMTU, "ioctl(SIOCGIFMTU)", "read the MTU", &ifr);
  if (e) return e;
  *mtu = static_cast<uint32_t>(ifr.ifr_mtu);
  return Error{};
}

Error Tap::get_link(bool* up) const {
  ifreq ifr;
  Error e = sioc_get(SIOCGIFFLAGS, "ioctl(SIOCGIFFLAGS)", "read the link flags", &ifr);
  if (e) return e;
  *up = (ifr.ifr_flags & IFF_UP) != 0;
  return Error{};
}

unsigned Tap::probe_offloads() {
  if (fd_ < 0 || !vnet_hdr_) return 0;
  // Newest first: a kernel without USO (before 6.2) refuses the whole word with EINVAL.
  const unsigned tries[] = {kTunFCsum | kTunFTso4 | kTunFTso6 | kTunFTsoEcn | kTunFUso4 | kTunFUso6,
                            kTunFCsum | kTunFTso4 | kTunFTso6 | kTunFTsoEcn, kTunFCsum};
  unsigned accepted = 0;
  for (unsigned t : tries) {
    if (ioctl(fd_, TUNSETOFFLOAD, static_cast<unsigned long>(t)) == 0) {
      accepted = t;
      break;
    }
  }
  (void)ioctl(fd_, TUNSETOFFLOAD, 0UL);  // off until negotiated
  return accepted;
}

Error Tap::set_offload(unsigned tun_flags) {
  if (fd_ < 0) return not_open("set its offloads");
  if (ioctl(fd_, TUNSETOFFLOAD, static_cast<unsigned long>(tun_flags)) < 0) {
    const int err = errno;
    return Error::os(err, "ioctl(TUNSETOFFLOAD)",
                     "cannot turn on the negotiated receive offloads of TAP " + quote(name_));
  }
  return Error{};
}

Error Tap::set_persist(bool persist) {
  if (fd_ < 0) return not_open(persist ? "make the TAP persistent" : "clear persist");
  if (ioctl(fd_, TUNSETPERSIST, persist ? 1UL : 0UL) < 0) {
    const int err = errno;
    if (err == EPERM) {
      return Error::os(err, "ioctl(TUNSETPERSIST)",
                       "cannot change persistence of TAP " + quote(name_) +
                           ": that needs CAP_NET_ADMIN; " + kCapHint);
    }
    return Error::os(err, "ioctl(TUNSETPERSIST)",
                     std::string("cannot ") + (persist ? "set" : "clear") +
                         " persist on TAP " + quote(name_));
  }
  return Error{};
}

}  // namespace condis
