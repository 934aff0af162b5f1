// device_access.h — the receive path of a Device (Device::deliver, publish_rx_locked in
// io_loop.cc) driven straight from a test or fuzz target, with no I/O thread and no peer: a frame
// given as an iovec list is classified, steered and scattered exactly as a wire peer's transmit
// or a TAP read would have it. Used by native/fuzz/rx_parser.cc and native/test/rx_deliver_test.cc.
#pragma once

#include <mutex>

#include "../device.h"

namespace condis {

struct DeviceTestAccess {
  // Device::deliver under rx's receive lock, as service_tx / service_tap_rx call it.
  static Deliver deliver(Device& rx, const iovec* iov, int iovcnt, uint32_t total, uint32_t* rxq_out) {
    std::lock_guard<std::mutex> r(rx.rx_mu_);
    return Device::deliver(rx, iov, iovcnt, total, rxq_out);
  }
  // Makes what deliver() pushed visible to the driver (used.idx), as the fillers do after a batch.
  static void publish_rx(Device& rx) {
    std::lock_guard<std::mutex> r(rx.rx_mu_);
    rx.publish_rx_locked(rx);
  }
};

}  // namespace condis
