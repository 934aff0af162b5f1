// device_wrap.cc — the N-API face of a Device: the only file (with addon.cc) that includes napi.h.
//
// JS validates, C++ trusts shapes but still checks ranges (lib/device/options.ts does the
// user-facing validation). Nothing here runs per packet: the data path is the shared rings,
// the I/O thread and one coalesced interrupt call.
#include "device_wrap.h"

#include <cstdint>
#include <cstring>

#include "addon.h"

namespace condis {

namespace {

// Builds the JS error: message, code, and for OS errors errno (negative, as Node does) + syscall.
Napi::Error to_js(Napi::Env env, const Error& e) {
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, e.code));
  if (e.sys_errno != 0) {
    err.Set("errno", Napi::Number::New(env, -e.sys_errno));
    err.Set("syscall", Napi::String::New(env, e.syscall != nullptr ? e.syscall : ""));
  }
  return err;
}

uint32_t get_u32(const Napi::Object& o, const char* k, uint32_t dflt) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : dflt;
}

bool get_bool(const Napi::Object& o, const char* k, bool dflt) {
  Napi::Value v = o.Get(k);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

// A feature set as its names, in bit order (Device.info().features).
Napi::Array feature_names(Napi::Env env, uint64_t set) {
  Napi::Array a = Napi::Array::New(env);
  uint32_t k = 0;
  for (const FeatureName& fn : kFeatureNames)
    if (set & feat(fn.bit)) a.Set(k++, Napi::String::New(env, fn.name));
  return a;
}

// The region must be a Uint8Array over a SharedArrayBuffer (N-API in Node 20 has no direct
// SharedArrayBuffer accessor; a typed array view gives us its pinned backing store). The view
// may start at a page boundary inside its buffer: devices that share one SharedArrayBuffer
// (lib/virtio/region.ts createSharedRegions) each get the view from their own header to the end,
// so all of them can address the one pool behind their headers and a forwarder can send a
// buffer another device received (issue 13). Data() is already moved by the view's offset; the
// device never reaches below it, and the page alignment keeps every ring field as aligned as in
// a buffer of its own.
bool region_of(Napi::Value v, uint8_t** data, size_t* len) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) return false;
  Napi::Uint8Array u8 = v.As<Napi::Uint8Array>();
  if (u8.ByteOffset() % 4096 != 0) return false;
  *data = u8.Data();
  *len = u8.ByteLength();
  return *data != nullptr;
}

}  // namespace

// ---- the interrupt line ---------------------------------------------------------------------

// What the interrupt path needs, apart from the DeviceWrap: the TSFN's context, owned by the TSFN
// (deleted by its finalizer). The TSFN delivers calls still queued after its release, and its
// finalizer can run after the DeviceWrap was collected; neither may find freed memory.
struct IrqLine {
  // The driver's onInterrupt (strong), deleted by DeviceWrap::Shutdown. Held here, not as the
  // TSFN's function: the TSFN drops its function only when it is finalized on a later turn of
  // the event loop, and that function (a closure over the JS Device) would keep the region's
  // SharedArrayBuffer alive until then.
  napi_ref handler = nullptr;
  RegionHeader* hdr = nullptr;  // valid while `handler` is set: the wrap pins the region until then

  // call_js_cb: runs on the JS thread for each coalesced interrupt.
  static void Deliver(napi_env env, napi_value, void* context, void*) {
    // env is null when the TSFN drops queued calls after its finalizer: `context` is gone then.
    if (env == nullptr || context == nullptr) return;
    IrqLine* line = static_cast<IrqLine*>(context);
    if (line->handler == nullptr) return;  // shut down after this call was queued
    // ORDERING: release-clear before JS harvests: a completion published after this store raises
    // a new interrupt; one published before it is seen by the harvest that follows.
    __atomic_store_n(&line->hdr->irq_pending, 0u, __ATOMIC_SEQ_CST);
    napi_value fn = nullptr;
    napi_value recv = nullptr;
    if (napi_get_reference_value(env, line->handler, &fn) != napi_ok || fn == nullptr) return;
    if (napi_get_undefined(env, &recv) != napi_ok) return;
    // The C call, not Napi::Function::Call: with NAPI_CPP_EXCEPTIONS (binding.gyp) the wrapper
    // turns a failed call into a C++ exception, and in an environment being torn down
    // (worker.terminate() with an interrupt queued) rethrowing it as JS fails too, so it escaped
    // the TSFN callback: std::terminate. A failed call means one of two things:
    // - the environment is terminating: the call never ran, nothing is pending, nothing to do;
    // - the handler threw: the exception is pending here. Left there, Node 20 only warns
    //   (DEP0168) and drops it, so a bug in a user's onInterrupt/onFrame or an event listener
    //   went unseen while the process ran on. It is raised as uncaught instead
    //   (process 'uncaughtException', else the process ends), as for any callback of Node's own.
    if (napi_call_function(env, recv, fn, 0, nullptr, nullptr) == napi_ok) return;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) return;
    napi_value exc = nullptr;
    if (napi_get_and_clear_last_exception(env, &exc) != napi_ok || exc == nullptr) return;
    (void)napi_fatal_exception(env, exc);
  }

  // thread_finalize_cb: the TSFN is gone (released, or its environment is ending).
  static void Finalize(napi_env env, void* data, void*) {
    IrqLine* line = static_cast<IrqLine*>(data);
    if (line->handler != nullptr && env != nullptr) napi_delete_reference(env, line->handler);
    delete line;
  }
};

// ---- external memory --------------------------------------------------------------------------

// V8 does not count a SharedArrayBuffer's backing store toward the external memory that triggers
// a collection (Node 20: 2,000 unreferenced 1 MiB SharedArrayBuffers and no collection), so a
// program that opens and drops devices piles up regions until its JS heap happens to fill.
// Tell it, once per SharedArrayBuffer, from the first open until the buffer is collected.
namespace {

const napi_type_tag kRegionAccounted = /* "condis-t" "region" */ {0x636f6e6469732d74ull, 0x726567696f6e0000ull};

void account_region(napi_env env, napi_value u8) {
  napi_typedarray_type type;
  size_t length = 0;
  size_t offset = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(env, u8, &type, &length, &data, &buffer, &offset) != napi_ok || buffer == nullptr)
    return;
  bool seen = false;
  if (napi_check_object_type_tag(env, buffer, &kRegionAccounted, &seen) != napi_ok || seen) return;
  if (napi_type_tag_object(env, buffer, &kRegionAccounted) != napi_ok) return;
  const int64_t bytes = static_cast<int64_t>(length);
  int64_t total = 0;
  if (napi_adjust_external_memory(env, bytes, &total) != napi_ok) return;
  napi_add_finalizer(
      env, buffer, reinterpret_cast<void*>(static_cast<uintptr_t>(length)),
      [](napi_env e, void* d, void*) {
        int64_t t = 0;
        napi_adjust_external_memory(e, -static_cast<int64_t>(reinterpret_cast<uintptr_t>(d)), &t);
      },
      nullptr, nullptr);
}

}  // namespace

// ---- DeviceWrap -------------------------------------------------------------------------------

Napi::Function DeviceWrap::Init(Napi::Env env, Addon* addon) {
  Napi::Function f = DefineClass(env, "NativeDevice",
                                 {
                                     InstanceMethod<&DeviceWrap::Kick>("kick"),
                                     InstanceMethod<&DeviceWrap::BindPair>("bindPair"),
                                     InstanceMethod<&DeviceWrap::UnbindPair>("unbindPair"),
                                     InstanceMethod<&DeviceWrap::ResetQueue>("resetQueue"),
                                     InstanceMethod<&DeviceWrap::QuiescePair>("quiescePair"),
                                     InstanceMethod<&DeviceWrap::SetLink>("setLink"),
                                     InstanceMethod<&DeviceWrap::SetMtu>("setMtu"),
                                     InstanceMethod<&DeviceWrap::Stats>("stats"),
                                     InstanceMethod<&DeviceWrap::Info>("info"),
                                     InstanceMethod<&DeviceWrap::Close>("close"),
                                     InstanceMethod<&DeviceWrap::Ref>("ref"),
                                     InstanceMethod<&DeviceWrap::Unref>("unref"),
                                     InstanceMethod<&DeviceWrap::TestBreakEpoll>("testBreakEpoll"),
                                     InstanceMethod<&DeviceWrap::TestHoldTx>("testHoldTx"),
                                 });
  addon->device_ctor = Napi::Persistent(f);
  return f;
}

DeviceWrap::DeviceWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceWrap>(info) {}

DeviceWrap::~DeviceWrap() { Shutdown(false, 0); }

void DeviceWrap::CleanupHook(void* arg) {
  // The environment (main thread at exit, or a worker) is going away: stop the thread before the
  // SharedArrayBuffer can be freed under it, and release the TSFN while it still exists.
  static_cast<DeviceWrap*>(arg)->Shutdown(false, 0);
}

void DeviceWrap::Shutdown(bool drain, uint32_t timeout_ms) {
  // 1. No thread calls the TSFN or touches the region after this (Device::close joins the I/O
  //    thread and shuts the wire peer's thread out of our receive queues).
  if (dev_) {
    dev_->close(drain, timeout_ms);
    dev_.reset();
  }
  // 2. The interrupt line: no queued call reaches JS any more, and the handler (with the JS
  //    Device and its region behind it) is free to be collected now, not when the TSFN is.
  if (irq_ != nullptr) {
    if (irq_->handler != nullptr) napi_delete_reference(env_, irq_->handler);
    irq_->handler = nullptr;
    irq_->hdr = nullptr;
    irq_ = nullptr;  // the TSFN owns it from here
  }
  // 3. The TSFN: its finalizer (deleting the IrqLine) runs after any queued call, on a later turn.
  if (tsfn_ != nullptr) {
    napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
    tsfn_ = nullptr;
  }
  if (hooked_) {
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    hooked_ = false;
  }
  if (region_ref_ != nullptr) {
    napi_delete_reference(env_, region_ref_);
    region_ref_ = nullptr;
  }
}

Napi::Object DeviceWrap::Wrap(Napi::Env env, std::shared_ptr<Device> dev, Napi::Value region,
                              Napi::Function on_irq, const std::string& name) {
  // This environment's constructor: a worker's Wrap never sees the main thread's, or the reverse.
  Napi::Object obj = Addon::of(env).device_ctor.New({});
  DeviceWrap* w = Napi::ObjectWrap<DeviceWrap>::Unwrap(obj);
  w->env_ = env;
  w->dev_ = std::move(dev);
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, region, 1, &w->region_ref_), obj);  // pins the SharedArrayBuffer
  account_region(env, region);
  uint8_t* data = nullptr;
  size_t len = 0;
  region_of(region, &data, &len);
  w->name_ = name;
  auto* line = new IrqLine();
  line->hdr = reinterpret_cast<RegionHeader*>(data);
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, on_irq, 1, &line->handler), obj);
  napi_value resource_name = Napi::String::New(env, "condis-irq");
  const napi_status st = napi_create_threadsafe_function(env, nullptr, nullptr, resource_name, 0, 1, line,
                                                         IrqLine::Finalize, line, IrqLine::Deliver, &w->tsfn_);
  if (st != napi_ok) {
    napi_delete_reference(env, line->handler);
    delete line;
    w->tsfn_ = nullptr;
    NAPI_THROW_IF_FAILED(env, st, obj);
  }
  w->irq_ = line;
  // Registered after the TSFN's own cleanup hook, so it runs first (hooks run in reverse order):
  // the thread is stopped and the TSFN released while the TSFN still exists.
  napi_add_env_cleanup_hook(env, CleanupHook, w);
  w->hooked_ = true;
  return obj;
}

Error DeviceWrap::Start(const std::string& thread_name) {
  napi_threadsafe_function tsfn = tsfn_;
  // Any thread; never blocks (an unbounded queue, and at most one call in flight per device).
  return dev_->start([tsfn]() { napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking); },
                     thread_name);
}

Napi::Value DeviceWrap::Kick(const Napi::CallbackInfo& info) {
  if (dev_) dev_->kick(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

#define CONDIS_REQUIRE_OPEN(env)                                                                \
  if (!dev_) {                                                                                  \
    to_js(env, Error::condis(codes::kDeviceClosed, "the device is closed")).ThrowAsJavaScriptException(); \
    return env.Undefined();                                                                     \
  }

Napi::Value DeviceWrap::BindPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CONDIS_REQUIRE_OPEN(env);
  Error e = dev_->bind_pair(info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Uint32Value());
  if (e) to_js(env, e).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value DeviceWrap::UnbindPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CONDIS_REQUIRE_OPEN(env);
  Error e = dev_->unbind_pair(info[0].As<Napi::Number>().Uint32Value());
  if (e) to_js(env, e).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value DeviceWrap::ResetQueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CONDIS_REQUIRE_OPEN(env);
  const bool disable = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  uint16_t used = 0;
  Error e = dev_->reset_queue(info[0].As<Napi::Number>().Uint32Value(), disable, &used);
  if (e) {
    to_js(env, e).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, used);
}

Napi::Value DeviceWrap::QuiescePair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CONDIS_REQUIRE_OPEN(env);
  uint16_t rx_used = 0;
  Error e = dev_->quiesce_pair(info[0].As<Napi::Number>().Uint32Value(), &rx_used);
  if (e) {
    to_js(env, e).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, rx_used);
}

Napi::Value DeviceWrap::SetLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CONDIS_REQUIRE_OPEN(env);
  Error e = dev_->set_link(info[0].ToBoolean().Value());
  if (e) to_js(env, e).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value DeviceWrap::SetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CONDIS_REQUIRE_OPEN(env);
  Error e = dev_->set_mtu(info[0].As<Napi::Number>().Uint32Value());
  if (e) to_js(env, e).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value DeviceWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CONDIS_REQUIRE_OPEN(env);
  DeviceStats s;
  dev_->stats(&s);
  Napi::Object o = Napi::Object::New(env);
  auto n = [&](Napi::Object& t, const char* k, uint64_t v) { t.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  n(o, "rxUnboundVid", s.rx_unbound_vid);
  n(o, "rxMalformed", s.rx_malformed);
  n(o, "rxReadErrors", s.rx_read_errors);
  n(o, "rxDeferred", s.rx_deferred);
  n(o, "kicks", s.kicks);
  n(o, "wakeups", s.wakeups);
  n(o, "batches", s.batches);
  n(o, "irqRaised", s.irq_raised);
  n(o, "irqCoalesced", s.irq_coalesced);
  n(o, "ringErrors", s.ring_errors);
  n(o, "threadFailures", s.thread_failures);
  n(o, "csumCompleted", s.csum_completed);
  n(o, "rxDirect", s.rx_direct);
  o.Set("uring", Napi::Boolean::New(env, s.uring));
  o.Set("rxUring", Napi::Boolean::New(env, s.rx_uring));
  Napi::Array pairs = Napi::Array::New(env, s.pairs.size());
  for (size_t i = 0; i < s.pairs.size(); i++) {
    const PairStats& p = s.pairs[i];
    Napi::Object po = Napi::Object::New(env);
    n(po, "vid", p.vid);
    n(po, "txFrames", p.tx_frames);
    n(po, "txBytes", p.tx_bytes);
    n(po, "txUnbound", p.tx_unbound);
    n(po, "txMalformed", p.tx_malformed);
    n(po, "txErrors", p.tx_errors);
    n(po, "rxFrames", p.rx_frames);
    n(po, "rxBytes", p.rx_bytes);
    n(po, "rxNoBuffer", p.rx_no_buffer);
    n(po, "rxTooBig", p.rx_too_big);
    n(po, "rxGsoDropped", p.rx_gso_dropped);
    n(po, "interrupts", p.interrupts);
    n(po, "rxState", p.rx_state);
    n(po, "txState", p.tx_state);
    pairs.Set(i, po);
  }
  o.Set("pairs", pairs);
  return o;
}

Napi::Value DeviceWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CONDIS_REQUIRE_OPEN(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", Napi::String::New(env, name_));
  o.Set("queuePairs", Napi::Number::New(env, dev_->num_pairs()));
  o.Set("vnetHdr", Napi::Boolean::New(env, dev_->vnet_hdr()));
  Napi::Object f = Napi::Object::New(env);
  f.Set("offered", feature_names(env, dev_->offered_features()));
  f.Set("negotiated", feature_names(env, dev_->features()));
  o.Set("features", f);
  o.Set("maxFrame", Napi::Number::New(env, dev_->max_frame()));
  if (const Tap* t = dev_->tap()) {
    o.Set("backend", Napi::String::New(env, "tap"));
    o.Set("ifname", Napi::String::New(env, t->name()));
    o.Set("ifindex", Napi::Number::New(env, t->ifindex()));
    uint8_t mac[kEthAddrLen];
    if (!t->get_mac(mac)) o.Set("mac", Napi::String::New(env, mac_string(mac)));
    uint32_t mtu = 0;
    if (!t->get_mtu(&mtu)) o.Set("mtu", Napi::Number::New(env, mtu));
    bool up = false;
    if (!t->get_link(&up)) o.Set("linkUp", Napi::Boolean::New(env, up));
  } else {
    o.Set("backend", Napi::String::New(env, "wire"));
  }
  return o;
}

Napi::Value DeviceWrap::Close(const Napi::CallbackInfo& info) {
  // close(true, ms): transmit what was posted (bounded); close(false): abandon it (destroy).
  const bool drain = info.Length() > 0 && info[0].ToBoolean().Value();
  const uint32_t ms = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 1000;
  Shutdown(drain, ms);
  return info.Env().Undefined();
}

Napi::Value DeviceWrap::Ref(const Napi::CallbackInfo& info) {
  if (tsfn_ != nullptr) napi_ref_threadsafe_function(info.Env(), tsfn_);
  return info.Env().Undefined();
}

Napi::Value DeviceWrap::Unref(const Napi::CallbackInfo& info) {
  if (tsfn_ != nullptr) napi_unref_threadsafe_function(info.Env(), tsfn_);
  return info.Env().Undefined();
}

// Test-only (lib/native.ts): breaks the I/O thread's epoll for real, to exercise its failure path.
Napi::Value DeviceWrap::TestBreakEpoll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CONDIS_REQUIRE_OPEN(env);
  Error e = dev_->break_epoll_for_test();
  if (e) to_js(env, e).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value DeviceWrap::TestHoldTx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CONDIS_REQUIRE_OPEN(env);
  if (info.Length() < 1 || !info[0].IsBoolean()) {
    Napi::TypeError::New(env, "testHoldTx(hold: boolean)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  dev_->hold_tx_for_test(info[0].As<Napi::Boolean>().Value());
  return env.Undefined();
}

// ---- module-level functions -------------------------------------------------------------------

namespace {

// An optional array of CPU numbers (lib/device/options.ts has checked it; this only refuses
// what would not convert).
bool read_cpus(Napi::Env env, const Napi::Value& v, std::vector<uint32_t>* out) {
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsArray()) {
    to_js(env, Error::condis(codes::kInvalidArg, "cpus must be an array of CPU numbers")).ThrowAsJavaScriptException();
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value c = a.Get(i);
    if (!c.IsNumber()) {
      to_js(env, Error::condis(codes::kInvalidArg, "cpus must be an array of CPU numbers")).ThrowAsJavaScriptException();
      return false;
    }
    out->push_back(c.As<Napi::Number>().Uint32Value());
  }
  return true;
}

// An optional array of virtio-net feature names (lib/virtio/vnet-hdr.ts's VirtioNetF keys).
bool read_features(Napi::Env env, const Napi::Value& v, DeviceConfig* cfg) {
  if (v.IsUndefined() || v.IsNull()) return true;
  auto bad = [&](const std::string& why) {
    to_js(env, Error::condis(codes::kInvalidArg, why)).ThrowAsJavaScriptException();
    return false;
  };
  if (!v.IsArray()) return bad("features must be an array of virtio-net feature names");
  Napi::Array a = v.As<Napi::Array>();
  cfg->features_given = true;
  cfg->features = 0;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) return bad("features must be an array of virtio-net feature names");
    const std::string s = e.As<Napi::String>().Utf8Value();
    bool known = false;
    for (const FeatureName& fn : kFeatureNames) {
      if (s == fn.name) {
        cfg->features |= feat(fn.bit);
        known = true;
      }
    }
    if (!known) return bad("unknown virtio-net feature '" + s + "'");
  }
  return true;
}

bool read_device_config(Napi::Env env, const Napi::Object& o, DeviceConfig* cfg) {
  cfg->batch = get_u32(o, "batch", 64);
  cfg->use_uring = get_bool(o, "uring", true);
  cfg->spin_ns = get_u32(o, "pollUs", 0) * 1000u;
  cfg->tap.vnet_hdr = get_bool(o, "vnetHdr", false);
  cfg->tap.multi_queue = get_bool(o, "multiQueue", false);
  cfg->tap.persist = get_bool(o, "persist", false);
  cfg->tap.up = get_bool(o, "up", true);
  cfg->tap.mtu = get_u32(o, "mtu", 0);
  Napi::Value name = o.Get("name");
  if (name.IsString()) cfg->tap.name = name.As<Napi::String>().Utf8Value();
  if (!read_cpus(env, o.Get("cpus"), &cfg->cpus)) return false;
  if (!read_features(env, o.Get("features"), cfg)) return false;
  Napi::Value mac = o.Get("mac");
  if (mac.IsTypedArray()) {
    Napi::Uint8Array m = mac.As<Napi::Uint8Array>();
    if (m.ElementLength() != kEthAddrLen) {
      to_js(env, Error::condis(codes::kInvalidArg, "mac must be 6 bytes")).ThrowAsJavaScriptException();
      return false;
    }
    cfg->tap.has_mac = true;
    std::memcpy(cfg->tap.mac, m.Data(), kEthAddrLen);
  }
  return true;
}

}  // namespace

// openTap(region: Uint8Array, options, onInterrupt) -> NativeDevice
Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data = nullptr;
  size_t len = 0;
  if (!region_of(info[0], &data, &len) || !info[1].IsObject() || !info[2].IsFunction()) {
    to_js(env, Error::condis(codes::kInvalidArg, "openTap(region: Uint8Array over a SharedArrayBuffer, options, onInterrupt)"))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  DeviceConfig cfg;
  cfg.backend = BackendKind::kTap;
  if (!read_device_config(env, info[1].As<Napi::Object>(), &cfg)) return env.Undefined();
  Error err;
  std::shared_ptr<Device> dev = Device::create(data, len, cfg, &err);
  if (!dev) {
    to_js(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string ifname = dev->tap()->name();
  Napi::Object obj = DeviceWrap::Wrap(env, dev, info[0], info[2].As<Napi::Function>(), ifname);
  DeviceWrap* w = Napi::ObjectWrap<DeviceWrap>::Unwrap(obj);
  err = w->Start("condis-" + ifname);
  if (err) {
    w->Shutdown(false, 0);
    to_js(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return obj;
}

// openWirePair(regionA, regionB, options, onInterruptA, onInterruptB) -> [NativeDevice, NativeDevice]
Napi::Value OpenWirePair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *da = nullptr, *db = nullptr;
  size_t la = 0, lb = 0;
  if (!region_of(info[0], &da, &la) || !region_of(info[1], &db, &lb) || !info[2].IsObject() ||
      !info[3].IsFunction() || !info[4].IsFunction()) {
    to_js(env, Error::condis(codes::kInvalidArg,
                             "openWirePair(regionA, regionB, options, onInterruptA, onInterruptB)"))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (da == db) {
    to_js(env, Error::condis(codes::kInvalidArg, "the two wire ends need two regions")).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  DeviceConfig cfg;
  cfg.backend = BackendKind::kWire;
  if (!read_device_config(env, info[2].As<Napi::Object>(), &cfg)) return env.Undefined();
  Error err;
  std::shared_ptr<Device> a = Device::create(da, la, cfg, &err);
  if (!a) {
    to_js(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Each end is its own NIC with its own driver: b may accept other virtio-net features.
  DeviceConfig cfg_b = cfg;
  if (!read_features(env, info[2].As<Napi::Object>().Get("peerFeatures"), &cfg_b)) {
    a->close(false, 0);
    return env.Undefined();
  }
  std::shared_ptr<Device> b = Device::create(db, lb, cfg_b, &err);
  if (!b) {
    a->close(false, 0);
    to_js(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  err = Device::join_wire(a, b);
  if (err) {
    a->close(false, 0);
    b->close(false, 0);
    to_js(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = "wire";
  Napi::Value nv = info[2].As<Napi::Object>().Get("name");
  if (nv.IsString()) name = nv.As<Napi::String>().Utf8Value();
  Napi::Object oa = DeviceWrap::Wrap(env, a, info[0], info[3].As<Napi::Function>(), name + "/a");
  Napi::Object ob = DeviceWrap::Wrap(env, b, info[1], info[4].As<Napi::Function>(), name + "/b");
  DeviceWrap* wa = Napi::ObjectWrap<DeviceWrap>::Unwrap(oa);
  DeviceWrap* wb = Napi::ObjectWrap<DeviceWrap>::Unwrap(ob);
  err = wa->Start("condis-wire-a");
  if (!err) err = wb->Start("condis-wire-b");
  if (err) {
    wa->Shutdown(false, 0);
    wb->Shutdown(false, 0);
    to_js(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, oa);
  out.Set(1u, ob);
  return out;
}

// layout(queueSize, numQueues) -> the offsets native/virtq.h computes, for the mirror test.
// setThreadCpus(cpus: number[]): restricts the calling JS thread to those CPUs ([] = any).
Napi::Value SetThreadCpus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<uint32_t> cpus;
  if (!read_cpus(env, info[0], &cpus)) return env.Undefined();
  Error e = set_thread_cpus(cpus);
  if (e) to_js(env, e).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t q = info[0].As<Napi::Number>().Uint32Value();
  const uint32_t nq = info[1].As<Napi::Number>().Uint32Value();
  const QueueLayout l = queue_layout(q);
  Napi::Object o = Napi::Object::New(env);
  auto n = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
  n("abiVersion", kAbiVersion);
  n("magic", kRegionMagic);
  n("headerBytes", kHeaderBytes);
  n("maxQueuePairs", kMaxQueuePairs);
  n("minQueueSize", kMinQueueSize);
  n("maxQueueSize", kMaxQueueSize);
  n("vnetHdrLen", kVnetHdrLen);
  n("descOff", l.desc_off);
  n("availOff", l.avail_off);
  n("usedOff", l.used_off);
  n("stride", l.stride);
  n("poolOffset", pool_offset_for(nq, q));
  n("queueStatusOff", kQueueStatusOff);
  n("irqPendingOff", offsetof(RegionHeader, irq_pending));
  n("configGenerationOff", offsetof(RegionHeader, config_generation));
  n("deviceStatusOff", offsetof(RegionHeader, device_status));
  n("deviceErrnoOff", offsetof(RegionHeader, device_errno));
  n("deviceFaultOff", offsetof(RegionHeader, device_fault));
  n("eventIdxBit", VIRTIO_RING_F_EVENT_IDX);
  n("maxChainSegments", kMaxChainSegments);
  return o;
}

}  // namespace condis
