// tap.h — a Linux TAP interface opened through /dev/net/tun, configured by ioctl only.
//
// Plain C++ (no napi.h). Every failure comes back as an Error carrying errno and the syscall,
// with a message that says what to do (no /dev/net/tun, no CAP_NET_ADMIN, name in use...).
// JS validates options first (lib/device/options.ts); this file trusts shapes but not the kernel.
#pragma once

#include <cstdint>
#include <string>

#include "errors.h"

namespace condis {

struct TapOptions {
  std::string name;          // "" = let the kernel pick ("tap%d")
  bool vnet_hdr = false;     // IFF_VNET_HDR with a 12-byte virtio_net_hdr (TUNSETVNETHDRSZ)
  bool multi_queue = false;  // IFF_MULTI_QUEUE
  bool persist = false;      // TUNSETPERSIST: the interface outlives the fd
  uint32_t mtu = 0;          // 0 = leave the kernel's default
  bool has_mac = false;
  uint8_t mac[6] = {0, 0, 0, 0, 0, 0};
  bool up = true;            // bring the link up after configuring it
};

class Tap {
 public:
  Tap() = default;
  ~Tap();
  Tap(const Tap&) = delete;
  Tap& operator=(const Tap&) = delete;

  // Opens (or creates) the interface. On failure nothing is left behind (a TAP this call created
  // is removed again).
  Error open(const TapOptions& opts);

  // Closes the fd. If persist was not set the kernel removes the interface. Idempotent.
  void close();

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  int ifindex() const { return ifindex_; }
  bool vnet_hdr() const { return vnet_hdr_; }

  Error set_link(bool up);
  Error set_mtu(uint32_t mtu);
  Error set_mac(const uint8_t mac[6]);
  Error get_mac(uint8_t mac[6]) const;
  Error get_mtu(uint32_t* mtu) const;
  Error get_link(bool* up) const;
  Error set_persist(bool persist);

 private:
  int fd_ = -1;
  int ctl_ = -1;  // AF_INET datagram socket for SIOC* ioctls
  int ifindex_ = 0;
  bool vnet_hdr_ = false;
  std::string name_;
};

}  // namespace condis
