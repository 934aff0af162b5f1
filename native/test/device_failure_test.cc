// device_failure_test.cc — a device whose I/O thread must stop (issue 9, "no silent death").
//
// The failure is real, not faked: Device::break_epoll_for_test() puts /dev/null where the
// thread's epoll descriptor was and kicks it, so its next epoll_wait fails (EINVAL) and the thread
// takes the path it takes for any epoll failure (io_loop.cc fail_io). Each test checks what the
// driver can see: the region header (kDeviceFailed, errno, fault), the counter, an interrupt, and
// every transmit chain completed with kTxDeviceFailed — those in flight when the thread died,
// those posted after — and what the wire peer sees (kTxPeerGone).
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "../device.h"
#include "driver_ring.h"
#include "test_main.h"

using namespace condis;
using Clock = std::chrono::steady_clock;

namespace {

template <typename F>
bool wait_until(F pred, int timeout_ms = 5000) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// One end of a wire: its region, its driver queues (this thread drives them), its device.
struct End {
  std::unique_ptr<drv::Region> region;
  std::vector<std::unique_ptr<drv::DriverQueue>> q;
  std::shared_ptr<Device> dev;
  std::atomic<uint64_t> irqs{0};

  drv::DriverQueue& rx() { return *q[0]; }
  drv::DriverQueue& tx() { return *q[1]; }
  DeviceStats stats() const {
    DeviceStats s;
    dev->stats(&s);
    return s;
  }
  uint32_t hdr(uint32_t RegionHeader::*field) const {
    return __atomic_load_n(&(region->hdr()->*field), __ATOMIC_ACQUIRE);  // ORDERING: the device released the status
  }
  // Posts `n` 64-byte frames on the transmit queue; kicks only if the device asked. Returns
  // whether it asked.
  bool post(uint32_t n, uint64_t token0) {
    std::vector<uint8_t> f(64, 0x5a);
    for (uint32_t i = 0; i < n; i++) tx().add_tx(f.data(), 64, 1, token0 + i);
    const bool want = tx().publish();
    if (want) dev->kick(1);
    return want;
  }
  std::vector<drv::DriverQueue::Done> harvest_tx() {
    std::vector<drv::DriverQueue::Done> d;
    tx().harvest(&d, false);
    return d;
  }
};

// Two wire devices, one pair each; a and b started with a counting interrupt that clears
// irq_pending as device_wrap.cc's IrqLine::Deliver does.
struct Wire {
  End a, b;
  Error err;
  Wire() {
    drv::Geometry g;
    g.pairs = 1;
    g.queue_size = 32;
    g.buffer_size = 2048;
    for (End* e : {&a, &b}) {
      e->region.reset(new drv::Region(g));
      for (uint32_t i = 0; i < 2; i++) e->q.emplace_back(new drv::DriverQueue(*e->region, i));
      DeviceConfig cfg;
      cfg.backend = BackendKind::kWire;
      e->dev = Device::create(e->region->data(), e->region->size(), cfg, &err);
      if (!e->dev) return;
    }
    err = Device::join_wire(a.dev, b.dev);
    if (!err) err = a.dev->start(irq(&a), "fail-test-a");
    if (!err) err = b.dev->start(irq(&b), "fail-test-b");
  }
  ~Wire() {
    if (a.dev) a.dev->close(false, 0);
    if (b.dev) b.dev->close(false, 0);
  }
  bool ok() const { return !err && a.dev && b.dev; }
  static Device::InterruptFn irq(End* e) {
    RegionHeader* h = e->region->hdr();
    return [e, h] {
      e->irqs.fetch_add(1, std::memory_order_relaxed);  // ORDERING: a tally
      __atomic_store_n(&h->irq_pending, 0u, __ATOMIC_SEQ_CST);  // ORDERING: as IrqLine::Deliver
    };
  }
};

// "" when a TAP can be created here; otherwise what is missing (as tap_test.cc checks it).
std::string tap_missing() {
  std::ifstream status("/proc/self/status");
  std::string line;
  uint64_t eff = 0;
  while (std::getline(status, line))
    if (line.rfind("CapEff:", 0) == 0) eff = std::strtoull(line.c_str() + 7, nullptr, 16);
  if (!(eff & (uint64_t{1} << 12))) return "needs CAP_NET_ADMIN (run as root) to create a TAP";
  if (access("/dev/net/tun", F_OK) != 0) return "needs /dev/net/tun";
  return "";
}

bool ci() {
  const char* v = std::getenv("CI");
  return v != nullptr && std::strcmp(v, "true") == 0;
}

}  // namespace

TEST(epoll_failure_is_reported_and_completes_in_flight_sends) {
  Wire w;
  REQUIRE(w.ok());
  // b posts no receive buffers: a's eight sends stall in its transmit queue, in flight.
  w.a.post(8, 0);
  w.a.dev->kick(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE_EQ(w.a.tx().raw().used_idx(), 0);
  const uint64_t irqs0 = w.a.irqs.load();
  const uint32_t gen0 = w.a.region->generation();
  CHECK_EQ(w.a.stats().thread_failures, 0u);

  REQUIRE(!w.a.dev->break_epoll_for_test());
  CHECK(wait_until([&] { return w.a.dev->failed(); }));
  CHECK(wait_until([&] { return w.a.tx().raw().used_idx() == 8; }));
  CHECK_EQ(w.a.hdr(&RegionHeader::device_status), uint32_t{kDeviceFailed});
  CHECK_EQ(w.a.hdr(&RegionHeader::device_errno), uint32_t{EINVAL});
  CHECK_EQ(w.a.hdr(&RegionHeader::device_fault), uint32_t{kFaultEpollWait});
  CHECK(w.a.region->generation() != gen0);
  CHECK(wait_until([&] { return w.a.irqs.load() > irqs0; }));
  CHECK_EQ(w.a.stats().thread_failures, 1u);
  auto d = w.a.harvest_tx();
  REQUIRE_EQ(d.size(), 8u);
  for (uint32_t i = 0; i < 8; i++) {
    CHECK_EQ(d[i].len, uint32_t{kTxDeviceFailed});
    CHECK_EQ(d[i].token, uint64_t{i});
  }
  CHECK_EQ(w.a.stats().pairs[0].tx_errors, 8u);
  // A second break is refused: there is no thread left to break.
  CHECK(w.a.dev->break_epoll_for_test().code == "ERR_CONDIS_INVALID_STATE");
}

TEST(sends_posted_after_the_failure_complete_in_the_kick) {
  Wire w;
  REQUIRE(w.ok());
  REQUIRE(!w.a.dev->break_epoll_for_test());
  REQUIRE(wait_until([&] { return w.a.dev->failed(); }));
  // The dead thread's last act armed the kick: the driver's publish asks for one, and kick()
  // completes the chains before it returns (nobody else ever would).
  for (uint32_t round = 0; round < 3; round++) {
    const uint16_t before = w.a.tx().raw().used_idx();
    CHECK(w.a.post(5, 100 + 5 * round));
    CHECK_EQ(static_cast<uint16_t>(w.a.tx().raw().used_idx() - before), 5);
    auto d = w.a.harvest_tx();
    REQUIRE_EQ(d.size(), 5u);
    for (const auto& e : d) CHECK_EQ(e.len, uint32_t{kTxDeviceFailed});
  }
}

TEST(the_wire_peer_of_a_failed_device_completes_its_sends_peer_gone) {
  Wire w;
  REQUIRE(w.ok());
  // b's sends stall on a's receive queue (no buffers) before a fails: a's failure wakes b.
  w.b.post(4, 0);
  w.b.dev->kick(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE_EQ(w.b.tx().raw().used_idx(), 0);
  REQUIRE(!w.a.dev->break_epoll_for_test());
  CHECK(wait_until([&] { return w.b.tx().raw().used_idx() == 4; }));
  // And after: a does not receive any more, with or without buffers.
  for (int i = 0; i < 8; i++) w.a.rx().add_rx(1, 2048, 0);
  if (w.a.rx().publish()) w.a.dev->kick(0);
  w.b.post(3, 4);
  w.b.dev->kick(1);
  CHECK(wait_until([&] { return w.b.tx().raw().used_idx() == 7; }));
  auto d = w.b.harvest_tx();
  REQUIRE_EQ(d.size(), 7u);
  for (const auto& e : d) CHECK_EQ(e.len, uint32_t{kTxPeerGone});
  CHECK_EQ(w.a.rx().raw().used_idx(), 0);
  // b itself is fine: its thread still runs, and a's sends to it complete at once (failed).
  CHECK(!w.b.dev->failed());
  CHECK(w.a.post(1, 50));
  CHECK_EQ(w.a.tx().raw().used_idx(), 1);
}

TEST(close_drain_on_a_failed_device_completes_what_was_posted_without_waiting) {
  Wire w;
  REQUIRE(w.ok());
  REQUIRE(!w.a.dev->break_epoll_for_test());
  REQUIRE(wait_until([&] { return w.a.dev->failed(); }));
  // Published, never kicked: close(true) must neither wait out its deadline nor leave them.
  std::vector<uint8_t> f(64, 1);
  for (uint32_t i = 0; i < 6; i++) REQUIRE(w.a.tx().add_tx(f.data(), 64, 1, i));
  (void)w.a.tx().publish();  // no kick, whatever the device asked
  const auto t0 = Clock::now();
  w.a.dev->close(true, 5000);
  CHECK(ms_since(t0) < 1000);
  CHECK_EQ(w.a.tx().raw().used_idx(), 6);
  CHECK_EQ(w.a.hdr(&RegionHeader::device_status), uint32_t{kDeviceClosed});
  CHECK(w.a.dev->closed());
  w.a.dev->close(false, 0);  // idempotent
  w.b.dev->close(true, 100);
}

TEST(break_epoll_is_refused_without_a_running_thread) {
  drv::Geometry g;
  drv::Region r(g);
  DeviceConfig cfg;
  Error err;
  std::shared_ptr<Device> d = Device::create(r.data(), r.size(), cfg, &err);
  REQUIRE(d != nullptr);
  CHECK(d->break_epoll_for_test().code == "ERR_CONDIS_INVALID_STATE");  // never started
  d->close(false, 0);
  CHECK(d->break_epoll_for_test().code == "ERR_CONDIS_INVALID_STATE");  // closed
}

// A TAP device whose thread paused reading (a receiver waits, no buffer posted) must resume when a
// buffer comes: with its epoll descriptor broken, that epoll_ctl fails, and the thread stops
// reporting kFaultEpollCtl (before its next epoll_wait could). The read() path: the armed
// io_uring read (tap_rx.h) pauses without epoll_ctl, so use_uring is off here.
TEST(tap_epoll_ctl_failure_when_reading_resumes_is_reported) {
  const std::string why = tap_missing();
  if (!why.empty()) {
    if (ci()) {
      ::condis_test::report_failure(__FILE__, __LINE__, "CI=true but this test " + why);
      return;
    }
    SKIP(why);
  }
  drv::Geometry g;
  g.pairs = 2;
  g.queue_size = 16;
  g.buffer_size = 2048;
  drv::Region r(g);
  drv::DriverQueue rx1(r, 2);
  drv::DriverQueue tx1(r, 3);
  DeviceConfig cfg;
  cfg.backend = BackendKind::kTap;
  cfg.tap.name = "ctf" + std::to_string(getpid() % 100000);
  cfg.tap.up = false;  // no kernel traffic of its own
  cfg.use_uring = false;
  Error err;
  std::shared_ptr<Device> d = Device::create(r.data(), r.size(), cfg, &err);
  REQUIRE(d != nullptr);
  std::atomic<uint64_t> irqs{0};
  RegionHeader* h = r.hdr();
  REQUIRE(!d->start(
      [&irqs, h] {
        irqs.fetch_add(1, std::memory_order_relaxed);  // ORDERING: a tally
        __atomic_store_n(&h->irq_pending, 0u, __ATOMIC_SEQ_CST);  // ORDERING: as IrqLine::Deliver
      },
      "fail-test-tap"));
  // Pair 1 bound: a receiver that will post buffers, none posted: the thread pauses TAP reads.
  REQUIRE(!d->bind_pair(1, 7));
  d->kick(2);
  DeviceStats s;
  CHECK(wait_until([&] {
    d->stats(&s);
    return s.rx_deferred >= 1;
  }));
  // A buffer, published without a kick; then the break (which kicks): reading must resume.
  REQUIRE(rx1.add_rx(1, 2048, 0));
  (void)rx1.publish();
  REQUIRE(!d->break_epoll_for_test());
  CHECK(wait_until([&] { return d->failed(); }));
  CHECK_EQ(__atomic_load_n(&h->device_status, __ATOMIC_ACQUIRE), uint32_t{kDeviceFailed});  // ORDERING: released by fail_io
  CHECK_EQ(__atomic_load_n(&h->device_fault, __ATOMIC_RELAXED), uint32_t{kFaultEpollCtl});  // ORDERING: read after the status
  CHECK_EQ(__atomic_load_n(&h->device_errno, __ATOMIC_RELAXED), uint32_t{EINVAL});  // ORDERING: read after the status
  CHECK(wait_until([&] { return irqs.load() >= 1; }));
  d->stats(&s);
  CHECK_EQ(s.thread_failures, 1u);
  // A send on the bound pair after the failure completes in its kick, failed.
  std::vector<uint8_t> f(64, 7);
  REQUIRE(tx1.add_tx(f.data(), 64, 1, 1));
  CHECK(tx1.publish());
  d->kick(3);
  CHECK_EQ(tx1.raw().used_idx(), 1);
  std::vector<drv::DriverQueue::Done> done;
  tx1.harvest(&done, false);
  REQUIRE_EQ(done.size(), 1u);
  CHECK_EQ(done[0].len, uint32_t{kTxDeviceFailed});
  d->close(true, 5000);
  CHECK(d->closed());
}
