// metrics.h — counters, not log lines (as Firecracker's net/metrics.rs). Every frame the device
// sends, receives, drops or refuses lands in exactly one counter, and why.
//
// Written by I/O threads with relaxed atomics, read by stats() on the JS thread: a counter is a
// monotone tally, nothing is ordered by it.
#pragma once

#include <atomic>
#include <cstdint>

namespace condis {

struct Counter {
  std::atomic<uint64_t> v{0};
  // ORDERING: relaxed: a tally read for reporting only.
  void add(uint64_t n = 1) { v.fetch_add(n, std::memory_order_relaxed); }
  // ORDERING: relaxed: see add().
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

// Per queue pair.
struct PairMetrics {
  Counter tx_frames;       // frames taken from transmitq and handed to the backend
  Counter tx_bytes;
  Counter tx_unbound;      // frames on a pair with no VID bound
  Counter tx_malformed;    // shorter than 14 bytes (after the vnet header) or over the max frame
  Counter tx_errors;       // backend write failed
  Counter rx_frames;       // frames placed into receiveq buffers
  Counter rx_bytes;
  Counter rx_no_buffer;    // a frame for this pair arrived with no receive buffer posted: dropped
  Counter rx_too_big;      // a frame larger than the posted buffer chain: dropped
  Counter rx_gso_dropped;  // a GSO frame whose GUEST_ feature the driver did not accept (wire): dropped
  Counter interrupts;      // used-ring publications that asked for an interrupt
};

// Per device.
struct DeviceMetrics {
  Counter rx_unbound_vid;  // tagged frames for a VID no pair is bound to: dropped
  Counter rx_malformed;    // shorter than an Ethernet header
  Counter rx_read_errors;  // backend read failed
  Counter rx_deferred;     // times reading the TAP paused because no receive buffer was posted
  Counter kicks;           // kick eventfd wake-ups
  Counter wakeups;         // epoll returns
  Counter batches;         // service passes that moved at least one frame
  Counter irq_raised;      // calls posted into JS (coalesced: at most one in flight)
  Counter irq_coalesced;   // interrupts folded into one already in flight
  Counter ring_errors;     // queues put in NEEDS_RESET
  Counter thread_failures; // the I/O thread had to stop (kDeviceFailed): 0 or 1
  Counter rx_direct;       // TAP frames read straight into a receive chain (no staging copy)
  Counter csum_completed;  // NEEDS_CSUM frames checksummed for a driver without GUEST_CSUM (wire)
};

}  // namespace condis
