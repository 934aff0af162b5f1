// tap.h — a Linux TAP interface opened through /dev/net/tun, configured by ioctl only.
//
// Plain C++ (no napi.h). Every failure comes back as an Error carrying errno and the syscall,
// with a message that says what to do (no /dev/net/tun, no CAP_NET_ADMIN, name in use...).
// JS validates options first (lib/device/options.ts); this file re-validates the name and MAC
// (ERR_CONDIS_INVALID_ARG) and trusts the kernel with the MTU (EINVAL names the range 68..65521).
// Calls on a Tap that is not open (or open() on one that is) return ERR_CONDIS_INVALID_STATE.
#pragma once

#include <net/if.h>

#include <cstdint>
#include <string>

#include "errors.h"
#include "ether.h"

namespace condis {

// A MAC address as text, aa:bb:cc:dd:ee:ff (error messages; DeviceWrap's info()).
std::string mac_string(const uint8_t mac[kEthAddrLen]);

struct TapOptions {
  std::string name;          // "" = let the kernel pick ("tap%d"); 1..15 bytes, one "%d" allowed
  bool vnet_hdr = false;     // IFF_VNET_HDR with a 12-byte virtio_net_hdr (TUNSETVNETHDRSZ)
  bool multi_queue = false;  // IFF_MULTI_QUEUE
  bool persist = false;      // true: TUNSETPERSIST, the interface outlives the fd. false: leave
                             // the flag as found (a new TAP is not persistent; clear an existing
                             // TAP's flag with set_persist(false))
  uint32_t mtu = 0;          // 0 = leave the kernel's default
  bool has_mac = false;
  uint8_t mac[kEthAddrLen] = {0, 0, 0, 0, 0, 0};
  bool up = true;            // bring the link up after configuring it (false: leave it as found)
};

class Tap {
 public:
  Tap() = default;
  ~Tap();
  Tap(const Tap&) = delete;
  Tap& operator=(const Tap&) = delete;

  // Opens (or creates) the interface. On failure nothing is left behind (a TAP this call created
  // is removed again). A name that belongs to a non-TAP interface fails with EEXIST.
  Error open(const TapOptions& opts);

  // Closes the fd. If persist was not set the kernel removes the interface. Idempotent.
  // Afterwards fd() is -1, name() is "" and ifindex() is 0.
  void close();

  int fd() const { return fd_; }                      // O_NONBLOCK | O_CLOEXEC
  const std::string& name() const { return name_; }  // as of open(); setters follow a rename
  int ifindex() const { return ifindex_; }
  bool vnet_hdr() const { return vnet_hdr_; }

  Error set_link(bool up);
  Error set_mtu(uint32_t mtu);
  Error set_mac(const uint8_t mac[kEthAddrLen]);
  Error get_mac(uint8_t mac[kEthAddrLen]) const;
  Error get_mtu(uint32_t* mtu) const;
  Error get_link(bool* up) const;
  Error set_persist(bool persist);

  // The TUNSETOFFLOAD flags (TUN_F_*) this kernel's tun takes, found by trying them (vnet header
  // only; 0 without). Leaves the TAP's offloads off: set_offload() sets the negotiated ones.
  unsigned probe_offloads();
  // TUNSETOFFLOAD: which partial-checksum and GSO frames the kernel may hand us on receive.
  Error set_offload(unsigned tun_flags);

 private:
  Error sioc_get(unsigned long req, const char* syscall, const char* what, ifreq* ifr) const;

  int fd_ = -1;
  int ctl_ = -1;  // AF_INET datagram socket for SIOC* ioctls
  int ifindex_ = 0;
  bool vnet_hdr_ = false;
  std::string name_;
};

}  // namespace condis
